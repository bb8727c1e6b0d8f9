// Hostile HTTP against `heed serve`: every malformed request gets its OpenAI-shaped error with the
// right status and the server keeps serving; a full queue is a 429 with Retry-After; a client that
// disconnects frees its slot at once; close() lets in-flight requests finish and refuses new ones.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startServer, tinyFolders } from './helpers.js';

const server = await startServer({ maxBody: 4096, parallel: 2, queue: 1 });
after(() => server.close());
const url = server.url;
const user = [{ role: 'user', content: 'Call me Ishmael.' }];

async function post(path: string, body: string | object, headers: Record<string, string> = {}) {
  const res = await fetch(url + path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: { error?: { message: string; type: string; param: string | null; code: string | null } } = {};
  try { json = JSON.parse(text); } catch { /* checked by the caller */ }
  return { status: res.status, json, headers: res.headers, text };
}

async function stillServes(): Promise<void> {
  const r = await post('/v1/chat/completions', { model: 'tiny', messages: user, max_tokens: 2, temperature: 0 });
  assert.equal(r.status, 200, r.text);
}

const cases: Array<[string, string, string | object, number, RegExp, string | null, string | null]> = [
  // name, path, body, status, message, param, code
  ['malformed JSON', '/v1/chat/completions', '{"model": "tiny", "messages": [', 400, /could not parse the JSON/, null, 'invalid_json'],
  ['a JSON array body', '/v1/chat/completions', '[1, 2]', 400, /must be a JSON object/, null, 'invalid_json'],
  ['a missing field', '/v1/chat/completions', { messages: user }, 400, /Missing required parameter: 'model'/, 'model', 'missing_required_parameter'],
  ['a mistyped field', '/v1/chat/completions', { model: 'tiny', messages: user, temperature: 'hot' }, 400, /expected number, but got string/, 'temperature', 'invalid_type'],
  ['a mistyped message', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 5 }] }, 400, /'messages\.0\.content': expected string or array, but got number/, 'messages.0.content', 'invalid_type'],
  ['an unknown role', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'wizard', content: 'hi' }] }, 400, /messages\.0\.role/, 'messages.0.role', 'invalid_value'],
  ['no messages', '/v1/chat/completions', { model: 'tiny', messages: [] }, 400, /Invalid value for 'messages'/, 'messages', 'invalid_value'],
  ['an unknown field', '/v1/chat/completions', { model: 'tiny', messages: user, temprature: 1 }, 400, /Unrecognized request argument supplied: temprature/, 'temprature', null],
  ['top_p out of range', '/v1/chat/completions', { model: 'tiny', messages: user, top_p: 2 }, 400, /in \(0, 1\]/, 'top_p', 'invalid_value'],
  ['max_tokens 0', '/v1/chat/completions', { model: 'tiny', messages: user, max_tokens: 0 }, 400, /at least 1/, 'max_tokens', 'invalid_value'],
  ['n too large', '/v1/chat/completions', { model: 'tiny', messages: user, n: 100 }, 400, /n/, 'n', 'invalid_value'],
  ['an unknown model', '/v1/chat/completions', { model: 'gpt-4o', messages: user }, 404, /The model 'gpt-4o' does not exist/, 'model', 'model_not_found'],
  ['a path as a model name', '/v1/chat/completions', { model: tinyFolders().model, messages: user }, 404, /does not exist/, 'model', 'model_not_found'],
  ['an unknown adapter', '/v1/chat/completions', { model: 'tiny:other', messages: user }, 404, /does not exist/, 'model', 'model_not_found'],
  ['a prompt longer than the context', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'whale '.repeat(600) }] }, 400, /maximum context length is 512 tokens/, 'messages', 'context_length_exceeded'],
  ['max_tokens beyond the context', '/v1/chat/completions', { model: 'tiny', messages: user, max_tokens: 600 }, 400, /max_tokens is too large: 600/, 'max_tokens', 'context_length_exceeded'],
  ['top_logprobs without logprobs', '/v1/chat/completions', { model: 'tiny', messages: user, top_logprobs: 2 }, 400, /needs logprobs/, 'top_logprobs', null],
  ['a completion of token ids beyond the vocabulary', '/v1/completions', { model: 'tiny', prompt: [1, 2, 99999] }, 400, /outside the model's vocabulary/, 'prompt', null],
  ['a completion prompt longer than the context', '/v1/completions', { model: 'tiny', prompt: Array.from({ length: 520 }, () => 5) }, 400, /maximum context length/, 'messages', 'context_length_exceeded'],
  ['an empty completion prompt', '/v1/completions', { model: 'tiny', prompt: '' }, 400, /empty/, 'prompt', null],
  ['a body over the size limit', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }, 413, /larger than the server's limit of 4096 bytes/, null, 'request_too_large'],
];

for (const [name, path, body, status, message, param, code] of cases) {
  test(`hostile: ${name} → ${status}`, async () => {
    const r = await post(path, body);
    assert.equal(r.status, status, r.text);
    assert.ok(r.json.error, `OpenAI error shape: ${r.text}`);
    assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
    assert.match(r.json.error.message, message);
    assert.equal(r.json.error.param, param);
    assert.equal(r.json.error.code, code);
    assert.equal(r.json.error.type, 'invalid_request_error');
  });
}

test('hostile: a chunked body over the limit (no Content-Length) is refused too, and the server keeps serving', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const u = new URL(url + '/v1/chat/completions');
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
    req.end();
  });
  assert.equal(status, 413);
  await stillServes();
});

test('hostile: edge values that are valid are served: the largest seed with n = 2, top_k -1, developer role, text parts', async () => {
  const r = await post('/v1/chat/completions', {
    model: 'tiny', max_tokens: 3, n: 2, seed: Number.MAX_SAFE_INTEGER, top_k: -1,
    messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Call me' }, { type: 'text', text: ' Ishmael.' }] }],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((r.json as unknown as { choices: unknown[] }).choices.length, 2);
});

test('hostile: an unknown route and a wrong method get OpenAI-shaped 404s', async () => {
  for (const [method, path] of [['GET', '/v1/chat/completions'], ['POST', '/v1/engines'], ['GET', '/api/runs/run?name=..%2F..%2Fetc']]) {
    const res = await fetch(url + path, { method });
    assert.equal(res.status, 404, `${method} ${path}`);
    const j = (await res.json()) as { error: { message: string } };
    assert.ok(j.error.message);
  }
  await stillServes();
});

/** Opens a streaming chat request and resolves once its first content chunk arrived. */
async function openStream(maxTokens: number, signal: AbortSignal): Promise<Response> {
  const res = await fetch(url + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, signal,
    body: JSON.stringify({ model: 'tiny', messages: user, max_tokens: maxTokens, stream: true, ignore_eos: true }),
  });
  assert.equal(res.status, 200);
  return res;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a full queue answers 429 with Retry-After; a disconnecting client frees its slot at once', async () => {
  const ctl = [new AbortController(), new AbortController(), new AbortController()];
  // parallel 2 + queue 1: three long generations fill everything
  const open = await Promise.all(ctl.map((c) => openStream(450, c.signal)));
  await until(() => server.scheduler.running === 2 && server.scheduler.queued === 1, 'two running and one waiting');
  const r = await post('/v1/chat/completions', { model: 'tiny', messages: user, max_tokens: 2 });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal(r.json.error!.code, 'rate_limit_exceeded');
  // the clients go away: their sequences are cancelled long before their 450 tokens
  const before = { ...server.scheduler.counts };
  for (const c of ctl) c.abort();
  await Promise.allSettled(open.map((res) => res.text()));
  await until(() => server.scheduler.running === 0 && server.scheduler.queued === 0, 'the cancelled sequences to leave', 3000);
  assert.deepEqual(server.scheduler.counts, { finished: before.finished, cancelled: before.cancelled + 3 });
  await stillServes();
});

test('a batch of prompts is all or nothing: one over the queue refuses the batch with 429 and cancels the prompts already queued', async () => {
  const before = { ...server.scheduler.counts };
  // parallel 2 + queue 1 hold three sequences; the fourth prompt does not fit
  const r = await post('/v1/completions', { model: 'tiny', prompt: ['a', 'b', 'c', 'd'], max_tokens: 400, ignore_eos: true });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.error!.code, 'rate_limit_exceeded');
  await until(() => server.scheduler.running === 0 && server.scheduler.queued === 0, 'nothing left running or queued', 3000);
  assert.deepEqual(server.scheduler.counts, { finished: before.finished, cancelled: before.cancelled + 3 });
  // three fit, and are served
  const ok = await post('/v1/completions', { model: 'tiny', prompt: ['a', 'b', 'c'], max_tokens: 2 });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((ok.json as { choices: unknown[] }).choices.length, 3);
  await stillServes();
});

test('a non-streaming client that disconnects cancels its generation', async () => {
  const c = new AbortController();
  const p = fetch(url + '/v1/chat/completions', { method: 'POST', signal: c.signal, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: user, max_tokens: 450, ignore_eos: true }) });
  await until(() => server.scheduler.running === 1, 'the generation to start');
  const before = { ...server.scheduler.counts };
  c.abort();
  await assert.rejects(p);
  await until(() => server.scheduler.running === 0, 'the generation to be cancelled', 3000);
  assert.deepEqual(server.scheduler.counts, { finished: before.finished, cancelled: before.cancelled + 1 });
  await stillServes();
});

test('close(): a request in flight finishes in full, new ones are refused, then the server is gone', async () => {
  const s = await startServer();
  const res = await fetch(s.url + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: user, max_tokens: 40, stream: true, ignore_eos: true }),
  });
  await until(() => s.scheduler.running === 1, 'the generation to start');
  const closing = s.close();
  const body = await res.text();
  assert.match(body, /"finish_reason":"length"/);
  assert.match(body, /data: \[DONE\]\s*$/);
  await closing;
  await assert.rejects(fetch(s.url + '/v1/models'));
});
