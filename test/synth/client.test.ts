// The OpenAI-compatible client and the model judge against `heed serve` itself on loopback (not a
// mock): retries on 429 honouring Retry-After, no retry on a client error, the on-disk cache, fan-out
// over two servers, and a model judge that ranks stored responses judging each pair in both orders.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../serve/helpers.js';
import { EndpointError, OpenAIClient, retryAfterMs } from '../../src/synth/client.js';
import { modelJudge, parseVerdict, softLabel, judgePrompt } from '../../src/synth/judge.js';
import { FeedbackStore } from '../../src/feedback/store.js';
import { judgeStore } from '../../src/feedback/align.js';
import { loadConstitution, PrincipleDraw } from '../../src/align/judges.js';
import type { RunningServer } from '../../src/serve/app.js';

const servers: RunningServer[] = [];
after(async () => { for (const s of servers) await s.close(); });
const serve = async (o: Parameters<typeof startServer>[0] = {}) => { const s = await startServer(o); servers.push(s); return `${s.url}/v1`; };
const ask = (content: string, seed = 0) => ({ model: 'tiny', messages: [{ role: 'user' as const, content }], max_tokens: 6, temperature: 0.8, seed });

test('Retry-After in seconds or as a date', () => {
  assert.equal(retryAfterMs('2'), 2000);
  assert.equal(retryAfterMs(new Date(10_000 + 3000).toUTCString(), 10_000), 3000);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs('soon'), null);
});

test('a full server answers 429; the client waits as told and every request succeeds', async () => {
  const url = await serve({ parallel: 1, queue: 0 });
  const c = new OpenAIClient({ endpoints: [url], concurrency: 6, backoffMs: 50, retries: 20 });
  const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => c.chat(ask('Call me', i))));
  assert.equal(rs.length, 6);
  assert.ok(rs.every((r) => r.choices.length === 1 && typeof r.choices[0]!.text === 'string'));
  assert.equal(c.served[0], 6);
});

test('a client error is not retried, and names the endpoint and status', async () => {
  const url = await serve();
  const c = new OpenAIClient({ endpoints: [url], retries: 5, backoffMs: 10_000 });
  const t0 = Date.now();
  await assert.rejects(c.chat({ ...ask('hi'), model: 'nope' }), (e: unknown) => e instanceof EndpointError && e.status === 404 && /HTTP 404/.test(e.message));
  assert.ok(Date.now() - t0 < 5000, 'no backoff wait before failing');
  assert.throws(() => new OpenAIClient({ endpoints: ['not a url'] }), /not a URL/);
  assert.throws(() => new OpenAIClient({ endpoints: [] }), /at least one endpoint/);
});

test('the cache answers a repeated request without asking the server; fan-out spreads requests over servers', async () => {
  const a = await serve(), b = await serve(), cacheDir = mkdtempSync(join(tmpdir(), 'heed-cache-'));
  const c = new OpenAIClient({ endpoints: [a, b], concurrency: 4, cacheDir });
  const first = await Promise.all(Array.from({ length: 8 }, (_, i) => c.chat(ask('The sea', i))));
  assert.ok(c.served[0]! > 0 && c.served[1]! > 0, `both servers served: ${c.served}`);
  const again = new OpenAIClient({ endpoints: [a, b], cacheDir });
  const second = await Promise.all(Array.from({ length: 8 }, (_, i) => again.chat(ask('The sea', i))));
  assert.equal(again.cacheHits, 8);
  assert.deepEqual(again.served, [0, 0]);
  assert.deepEqual(second.map((r) => r.choices[0]!.text), first.map((r) => r.choices[0]!.text));
});

test('soft labels and written verdicts', () => {
  assert.ok(Math.abs(softLabel([{ token: 'A', logprob: Math.log(0.6) }, { token: ' B', logprob: Math.log(0.2) }, { token: 'x', logprob: -1 }])! - 0.75) < 1e-12);
  assert.equal(softLabel([{ token: 'x', logprob: -1 }]), null);
  assert.equal(parseVerdict('B'), 'b');
  assert.equal(parseVerdict('Response A is better'), 'a');
  assert.equal(parseVerdict('neither'), 'tie');
  const p = judgePrompt({ messages: [{ role: 'user', content: 'What is 2 plus 2?' }] }, { text: '4', endedTurn: true }, { text: '', endedTurn: true }, { id: 'x', text: 'Which response is correct?' });
  assert.match(p, /user: What is 2 plus 2\?\n\nWhich response is correct\?\n\nResponse A: 4\nResponse B: \(empty\)/);
});

test('the model judge ranks stored responses through heed serve, each pair in both orders', async () => {
  const url = await serve(), store = FeedbackStore.open(':memory:');
  for (let i = 0; i < 2; i++) {
    const id = store.addPrompt({ messages: [{ role: 'user', content: `Name a sea creature (${i}).` }] });
    store.addResponses(id, [{ text: 'A whale.', finish: 'stop' }, { text: 'whale whale whale', finish: 'length' }, { text: 'Ishmael.', finish: 'stop' }]);
  }
  const c = loadConstitution(), judge = modelJudge(new OpenAIClient({ endpoints: [url] }), 'tiny');
  const r = await judgeStore(store, judge, new PrincipleDraw(judge.principles(c), 0), { bothOrders: true });
  assert.equal(r.rankings, 2);
  assert.equal(r.judgments, 2 * 3 * 2, 'C(3,2) pairs, each judged in both orders');
  assert.equal(r.orderAgreement!.n, 6);
  const js = store.judgments();
  assert.ok(js.every((j) => j.judge === 'model:tiny' && ['a', 'b', 'tie'].includes(j.verdict!) && (j.pA === null || (j.pA >= 0 && j.pA <= 1))));
  // every pair appears as (a, b) and as (b, a)
  const keys = new Set(js.map((j) => `${j.a}-${j.b}`));
  for (const j of js) assert.ok(keys.has(`${j.b}-${j.a}`));
  assert.equal(store.rankings({ rater: 'judge:model:tiny' }).length, 2);
  store.close();
});
