// Child process for the rank page's kill -9 test: opens a feedback store, serves rankRoutes on a free
// loopback port and prints {"port": N} once it listens.
import { serve } from '@hono/node-server';
import { FeedbackStore } from '../../src/feedback/store.js';
import { rankRoutes } from '../../src/serve/rank.js';

const file = process.argv[2];
if (!file) throw new Error('usage: rank-server.ts DB');
const store = FeedbackStore.open(file, { create: false });
serve({ fetch: rankRoutes(store).fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  process.stdout.write(JSON.stringify({ port: info.port }) + '\n');
});
