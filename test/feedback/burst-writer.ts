// Child process for the kill -9 test: writes rankings into a store as fast as it can and prints
// "i id" on stdout only after each submitRanking has returned, until it is killed.
import { writeSync } from 'node:fs';
import { FeedbackStore } from '../../src/feedback/store.js';

const [file, limit] = process.argv.slice(2);
if (!file) throw new Error('usage: burst-writer.ts DB [LIMIT]');
const store = FeedbackStore.open(file, { create: false });
const prompts = store.prompts().map((p) => ({ id: p.id, responses: store.responses(p.id).map((r) => r.id) }));
writeSync(1, 'ready\n');
for (let i = 0; i < Number(limit ?? Infinity); i++) {
  const p = prompts[i % prompts.length] as { id: number; responses: number[] };
  // A different order each time: rotate the responses, and tie the last two every third ranking.
  const order = p.responses.map((_, j) => p.responses[(i + j) % p.responses.length] as number);
  const groups = i % 3 === 0 ? [...order.slice(0, -2).map((r) => [r]), order.slice(-2)] : order.map((r) => [r]);
  const { id } = store.submitRanking({ rater: `burst-${i}`, promptId: p.id, groups, timeMs: i });
  writeSync(1, `${i} ${id}\n`);
}
store.close();
