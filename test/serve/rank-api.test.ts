// The rank page's JSON API: hostile bodies get their error and status, two raters never get or
// overwrite each other's work, and a 200 means the ranking is in the store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FeedbackStore } from '../../src/feedback/store.js';
import { RANK_BODY_LIMIT, rankRoutes, shownOrder } from '../../src/serve/rank.js';

interface ApiError { error: { message: string; type: string; param: string | null; code: null } }
interface NextAnswer { done: boolean; prompt: { id: number; messages: unknown[] }; responses: Array<{ id: number; text: string }>; progress: { ranked: number; total: number }; lease_expires: string }

function setup(opts: { now?: () => number } = {}) {
  const store = FeedbackStore.open(':memory:', opts);
  const prompts: Array<{ id: number; ids: number[] }> = [];
  for (let p = 0; p < 3; p++) {
    const id = store.addPrompt({ messages: [{ role: 'user', content: `Question ${p}?` }] });
    prompts.push({ id, ids: store.addResponses(id, [0, 1, 2, 3].map((k) => ({ text: `answer ${p}.${k}` }))) });
  }
  const app = rankRoutes(store);
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, json: await res.json() as unknown };
  };
  return { store, app, prompts, post };
}

describe('rank API: hostile requests', () => {
  const { store, app, prompts, post } = setup();
  const [p0] = prompts as [{ id: number; ids: number[] }];
  const ok = { rater: 'alice', prompt_id: p0.id, ranking: p0.ids.map((i) => [i]) };
  const cases: Array<[string, string, unknown, number, RegExp, string | null]> = [
    ['malformed JSON', '/api/rank/submit', '{"rater": "alice", ', 400, /not valid JSON/, null],
    ['a JSON array', '/api/rank/next', '[1, 2]', 400, /expected object/i, null],
    ['no rater', '/api/rank/next', {}, 400, /^rater: Required/, 'rater'],
    ['an empty rater', '/api/rank/next', { rater: '   ' }, 400, /rater: rater must not be empty/, 'rater'],
    ['a rater with a newline', '/api/rank/next', { rater: 'a\nb' }, 400, /control characters/, 'rater'],
    ['a 65-character rater', '/api/rank/next', { rater: 'x'.repeat(65) }, 400, /at most 64/, 'rater'],
    ['an unknown field', '/api/rank/next', { rater: 'alice', admin: true }, 400, /Unrecognized key.*admin/, null],
    ['a string prompt id', '/api/rank/submit', { ...ok, prompt_id: '1' }, 400, /prompt_id: Expected number, received string/, 'prompt_id'],
    ['a fractional prompt id', '/api/rank/submit', { ...ok, prompt_id: 1.5 }, 400, /prompt_id: Expected integer/, 'prompt_id'],
    ['a ranking of numbers, not groups', '/api/rank/submit', { ...ok, ranking: p0.ids }, 400, /ranking\.0: Expected array/, 'ranking.0'],
    ['an empty tie group', '/api/rank/submit', { ...ok, ranking: [[p0.ids[0]], [], p0.ids.slice(1)] }, 400, /ranking\.1: Array must contain at least 1/, 'ranking.1'],
    ['a negative time', '/api/rank/submit', { ...ok, time_ms: -5 }, 400, /time_ms/, 'time_ms'],
    ['an unknown prompt', '/api/rank/submit', { ...ok, prompt_id: 999 }, 404, /no prompt 999/, 'prompt_id'],
    ['a response of another prompt', '/api/rank/submit', { ...ok, ranking: [[prompts[1]?.ids[0]], ...p0.ids.slice(1).map((i) => [i])] }, 400, /not a response to this prompt/, 'ranking'],
    ['a response twice', '/api/rank/submit', { ...ok, ranking: [[p0.ids[0]], [p0.ids[0]], ...p0.ids.slice(1).map((i) => [i])] }, 400, /twice/, 'ranking'],
    ['K of 1', '/api/rank/submit', { ...ok, ranking: [[p0.ids[0]]] }, 400, /at least 2 responses \(K = 1\)/, 'ranking'],
    ['a response left out', '/api/rank/submit', { ...ok, ranking: p0.ids.slice(1).map((i) => [i]) }, 400, /leaves out response \d+/, 'ranking'],
    ['a shown order that is not the responses', '/api/rank/submit', { ...ok, shown: [p0.ids[0]] }, 400, /shown must list each response/, 'shown'],
    ['a skip without a reason', '/api/rank/skip', { rater: 'alice', prompt_id: p0.id, reason: ' ' }, 400, /reason: a skip needs a reason/, 'reason'],
  ];
  for (const [name, path, body, status, re, param] of cases) {
    it(`answers ${name} with ${status}`, async () => {
      const r = await post(path, body);
      assert.equal(r.status, status, JSON.stringify(r.json));
      const e = (r.json as ApiError).error;
      assert.match(e.message, re);
      assert.equal(e.param, param);
      assert.equal(e.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
    });
  }

  it('refuses a body over the limit with 413, a GET with 405 and an unknown endpoint with a JSON 404', async () => {
    const big = await post('/api/rank/skip', { rater: 'alice', prompt_id: p0.id, reason: 'x'.repeat(RANK_BODY_LIMIT + 10) });
    assert.equal(big.status, 413);
    assert.equal((big.json as ApiError).error.type, 'request_too_large');
    const get = await app.request('/api/rank/submit');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const none = await app.request('/api/rank/nope', { method: 'POST', body: '{}' });
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as ApiError).error.type, 'not_found_error');
  });

  it('stored nothing for any of them', () => {
    assert.deepEqual(store.rankings(), []);
  });

  it('serves the page as one file that loads nothing from elsewhere', async () => {
    const res = await app.request('/rank');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    assert.match(html, /<title>heed · rank<\/title>/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  });
});

describe('rank API: raters', () => {
  it('shows each rater the responses in an order of their own that a reload repeats', async () => {
    const { post } = setup();
    const a1 = (await post('/api/rank/next', { rater: 'alice' })).json as NextAnswer;
    const a2 = (await post('/api/rank/next', { rater: 'alice' })).json as NextAnswer;
    assert.equal(a1.prompt.id, a2.prompt.id);
    assert.deepEqual(a1.responses, a2.responses);
    const sorted = [...a1.responses].sort((x, y) => x.id - y.id);
    assert.deepEqual(a1.responses, shownOrder('alice', a1.prompt.id, sorted));
    // Over a few raters the order changes: it is not the stored order for everyone.
    const orders = new Set(['a', 'b', 'c', 'd', 'e'].map((r) => shownOrder(r, a1.prompt.id, sorted).map((x) => x.id).join()));
    assert.ok(orders.size > 1);
  });

  it('keeps two raters apart: different prompts, 409 for a prompt leased to the other, no overwrite', async () => {
    let now = Date.parse('2025-03-01T12:00:00Z');
    const { store, post } = setup({ now: () => now });
    const [alice, bob] = await Promise.all([post('/api/rank/next', { rater: 'alice' }), post('/api/rank/next', { rater: 'bob' })]);
    const a = alice.json as NextAnswer;
    const b = bob.json as NextAnswer;
    assert.notEqual(a.prompt.id, b.prompt.id);
    assert.equal(a.lease_expires, '2025-03-01T12:10:00.000Z');
    const rankingOf = (n: NextAnswer) => n.responses.map((r) => [r.id]);
    // Bob tries to rank alice's prompt: refused while her lease holds.
    const steal = await post('/api/rank/submit', { rater: 'bob', prompt_id: a.prompt.id, ranking: rankingOf(a) });
    assert.equal(steal.status, 409);
    assert.equal((steal.json as ApiError).error.type, 'conflict_error');
    // Both submit at once; each lands under its own rater.
    const [sa, sb] = await Promise.all([
      post('/api/rank/submit', { rater: 'alice', prompt_id: a.prompt.id, ranking: rankingOf(a), time_ms: 1200, shown: a.responses.map((r) => r.id) }),
      post('/api/rank/submit', { rater: 'bob', prompt_id: b.prompt.id, ranking: [rankingOf(b).flat()], time_ms: 900 }),
    ]);
    assert.equal(sa.status, 200);
    assert.equal(sb.status, 200);
    assert.deepEqual(sa.json, { saved: true, id: (sa.json as { id: number }).id, duplicate: false, progress: { ranked: 1, total: 3 } });
    const stored = store.rankings();
    assert.deepEqual(stored.map((k) => [k.rater, k.promptId]).sort(), [['alice', a.prompt.id], ['bob', b.prompt.id]].sort());
    assert.deepEqual(stored.find((k) => k.rater === 'alice')?.shown, a.responses.map((r) => r.id));
    // A retry of the same ranking is answered with the stored one; a different one is refused.
    const retry = await post('/api/rank/submit', { rater: 'alice', prompt_id: a.prompt.id, ranking: rankingOf(a) });
    assert.equal(retry.status, 200);
    assert.equal((retry.json as { duplicate: boolean }).duplicate, true);
    const change = await post('/api/rank/submit', { rater: 'alice', prompt_id: a.prompt.id, ranking: rankingOf(a).reverse() });
    assert.equal(change.status, 409);
    assert.match((change.json as ApiError).error.message, /never overwritten/);
    // Bob's ranking of alice's prompt is his own, and leaves hers as it was.
    const bobNext = (await post('/api/rank/next', { rater: 'bob' })).json as NextAnswer;
    assert.notEqual(bobNext.prompt.id, b.prompt.id);
    now += 11 * 60_000;
    const late = await post('/api/rank/skip', { rater: 'alice', prompt_id: bobNext.prompt.id, reason: 'too late for bob' });
    assert.equal(late.status, 200, JSON.stringify(late.json));
    const bobLate = await post('/api/rank/submit', { rater: 'bob', prompt_id: bobNext.prompt.id, ranking: rankingOf(bobNext) });
    assert.equal(bobLate.status, 200, 'with the lease gone bob may still rank it as his own');
    assert.equal(store.rankings({ rater: 'alice' }).length, 2);
    assert.equal(store.rankings({ rater: 'bob' }).length, 2);
  });

  it('says when a rater is done', async () => {
    const { post } = setup();
    for (let i = 0; i < 3; i++) {
      const n = (await post('/api/rank/next', { rater: 'carol' })).json as NextAnswer;
      assert.equal((await post('/api/rank/skip', { rater: 'carol', prompt_id: n.prompt.id, reason: 'no time' })).status, 200);
    }
    assert.deepEqual((await post('/api/rank/next', { rater: 'carol' })).json, { done: true, progress: { ranked: 3, total: 3 } });
  });
});
