// `heed serve` as a library: the Hono app (OpenAI API, chat page, runs dashboard, the ranking page
// when given a feedback store) and a listening server that drains in-flight requests on close.
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Hono, type Context, type Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serve } from '@hono/node-server';
import { ApiError, sendError } from './errors.js';
import { openaiRoutes } from './openai.js';
import { runsRoutes } from './runs.js';
import { assetRoutes, pagePath } from './pages.js';
import { Scheduler, CancelledError } from './scheduler.js';
import type { ModelRegistry } from './models.js';
import { rankRoutes } from './rank.js';
import type { FeedbackStore } from '../feedback/store.js';

export interface ServeOptions {
  /** requests to /v1 and /api (OpenAI, ranking and runs APIs) need `Authorization: Bearer KEY` */
  apiKey?: string;
  /** sequences generating at once (default 16) */
  parallel?: number;
  /** sequences waiting beyond that before requests get 429 (default 64) */
  queue?: number;
  /** largest request body in bytes (default 1 MiB) */
  maxBody?: number;
  /** folder of run folders for the dashboard (default runs/) */
  runsRoot?: string;
  /** a feedback store: mounts the ranking page */
  store?: FeedbackStore;
}

function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!), b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createApp(reg: ModelRegistry, o: ServeOptions = {}): { app: Hono; scheduler: Scheduler } {
  const scheduler = new Scheduler({ parallel: o.parallel ?? 16, queue: o.queue ?? 64 });
  const app = new Hono();
  const maxBody = o.maxBody ?? 1024 * 1024;

  app.onError((err, c) => {
    if (err instanceof ApiError) return sendError(c, err);
    if (err instanceof CancelledError) return new Response(null, { status: 499 });
    return sendError(c, new ApiError(500, `Internal error: ${err.message}`, 'server_error'));
  });
  app.notFound((c) => sendError(c, new ApiError(404, `No route for ${c.req.method} ${c.req.path}.`, 'invalid_request_error', null, 'not_found')));

  // the key guards every data route: the OpenAI API, the ranking API (which writes to the store) and
  // the runs API; the pages themselves hold no data and ask for the key in a field
  const guard = async (c: Context, next: Next) => {
    if (o.apiKey !== undefined && !keyMatches(c.req.header('Authorization'), o.apiKey))
      return sendError(c, new ApiError(401, 'Incorrect API key provided. Send it as "Authorization: Bearer KEY".', 'invalid_request_error', null, 'invalid_api_key'));
    await next();
  };
  app.use('/v1/*', guard);
  app.use('/api/*', guard);
  for (const r of ['/tokenize', '/detokenize', '/tokenizer_info']) app.use(r, guard);
  const limit = bodyLimit({
    maxSize: maxBody,
    onError: (c) => sendError(c, new ApiError(413, `The request body is larger than the server's limit of ${maxBody} bytes.`, 'invalid_request_error', null, 'request_too_large')),
  });
  app.use('/v1/*', limit);
  app.use('/api/*', limit);
  for (const r of ['/tokenize', '/detokenize']) app.use(r, limit);
  app.route('/', openaiRoutes(reg, scheduler));

  app.get('/', (c) => c.html(readFileSync(pagePath('chat.html'), 'utf8')));
  app.route('/', assetRoutes());
  app.route('/', runsRoutes(o.runsRoot ?? 'runs'));
  if (o.store) app.route('/', rankRoutes(o.store));
  return { app, scheduler };
}

export interface RunningServer {
  url: string;
  server: Server;
  scheduler: Scheduler;
  /** Stops taking requests, lets in-flight ones finish, then closes every connection. */
  close(): Promise<void>;
}

export function listen(reg: ModelRegistry, o: ServeOptions & { port?: number; host?: string } = {}): Promise<RunningServer> {
  const { app, scheduler } = createApp(reg, o);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: o.port ?? 8080, hostname: o.host ?? '127.0.0.1' }) as Server;
    server.once('error', reject);
    server.once('listening', () => {
      const a = server.address() as AddressInfo, host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `http://${host}:${a.port}`, server, scheduler,
        async close() {
          const closed = new Promise<void>((r) => server.close(() => r()));
          await scheduler.drain();
          // responses still being written finish, then their keep-alive connections go idle and
          // are closed; a client that never reads its response is cut off after a while
          const idle = setInterval(() => server.closeIdleConnections(), 20);
          const force = setTimeout(() => server.closeAllConnections(), 5000);
          await closed;
          clearInterval(idle);
          clearTimeout(force);
        },
      });
    });
  });
}
