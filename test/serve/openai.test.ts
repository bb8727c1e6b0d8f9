// The official `openai` client, unmodified, against `heed serve` on a tiny model: models, plain and
// streamed chat, n, stop, seeds, usage, log-probs, adapters, completions, and the client's own
// error classes for a 404 and a 400. What the server answers is checked against the library
// generating the same prompt directly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { BadRequestError, NotFoundError, AuthenticationError } from 'openai';
import { startServer, tinyFolders } from './helpers.js';
import { loadModel } from '../../src/models/load.js';
import { Generator } from '../../src/models/generate.js';
import { scoredBatch, tokenLogprobs } from '../../src/models/logprobs.js';
import { renderPrompt, stopTokenIds } from '../../src/tokenizer/index.js';
import { isQ8 } from '../../src/core/q8.js';
import { storeWeights } from '../../src/models/stored.js';
import { ModelRegistry } from '../../src/serve/models.js';
import { listen } from '../../src/serve/app.js';
import { FeedbackStore } from '../../src/feedback/store.js';

const server = await startServer();
after(() => server.close());
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
const messages = [{ role: 'system' as const, content: 'Answer briefly.' }, { role: 'user' as const, content: 'Call me Ishmael.' }];

/** What the library generates for the same conversation, greedy (the server's reference). */
function direct(adapter: boolean, maxNew: number): { text: string; tokens: number[]; prompt: number[] } {
  const f = tinyFolders(), m = loadModel(f.model, adapter ? { adapter: f.adapter } : {});
  const prompt = renderPrompt(m.tok.tokenizer, m.tok.chatTemplate!, messages);
  const g = new Generator(m.model, { slots: 1, decoder: () => m.tok.tokenizer.streamDecoder({ skipSpecialTokens: true }) });
  const s = g.add(prompt, { maxNewTokens: maxNew, temperature: 0, stopTokens: stopTokenIds(m.tok) });
  while (!g.idle) g.step();
  return { text: s.text, tokens: s.tokens, prompt };
}

test('models: the model and the model:adapter pair are listed', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['tiny', 'tiny:lora']);
  assert.equal((await client.models.retrieve('tiny:lora')).id, 'tiny:lora');
});

test('chat: a plain reply equals the library\'s greedy generation, with usage and finish_reason', async () => {
  const want = direct(false, 12);
  const r = await client.chat.completions.create({ model: 'tiny', messages, temperature: 0, max_tokens: 12 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0]!.message.role, 'assistant');
  assert.equal(r.choices[0]!.message.content, want.text);
  assert.equal(r.choices[0]!.finish_reason, want.tokens.length === 12 ? 'length' : 'stop');
  assert.deepEqual(r.usage, { prompt_tokens: want.prompt.length, completion_tokens: want.tokens.length, total_tokens: want.prompt.length + want.tokens.length });
  // the adapter changes the weights, so its reply differs and matches the library with the adapter
  const lora = direct(true, 12), ra = await client.chat.completions.create({ model: 'tiny:lora', messages, temperature: 0, max_completion_tokens: 12 });
  assert.equal(ra.choices[0]!.message.content, lora.text);
  assert.notEqual(lora.text, want.text);
});

test('chat: streaming delivers the same text piece by piece, then usage when asked', async () => {
  const want = direct(false, 16);
  const stream = await client.chat.completions.create({ model: 'tiny', messages, temperature: 0, max_tokens: 16, stream: true, stream_options: { include_usage: true } });
  let text = '', pieces = 0, finish: string | null = null, usage = null, role = '';
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) { usage = chunk.usage; assert.equal(chunk.choices.length, 0); continue; }
    const c = chunk.choices[0]!;
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) { text += c.delta.content; pieces++; }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, want.text);
  assert.ok(pieces >= 3, `text came in ${pieces} pieces`);
  assert.equal(finish, 'length');
  assert.deepEqual(usage, { prompt_tokens: want.prompt.length, completion_tokens: 16, total_tokens: want.prompt.length + 16 });
});

test('chat: n = 2 gives two sampled choices; the same seed gives the same text, another seed another', async () => {
  const ask = (seed: number) => client.chat.completions.create({ model: 'tiny', messages, temperature: 1, max_tokens: 20, n: 2, seed });
  const [a, b, c] = await Promise.all([ask(7), ask(7), ask(8)]);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((x) => x.index), [0, 1]);
  assert.notEqual(a.choices[0]!.message.content, a.choices[1]!.message.content);
  assert.deepEqual(b.choices.map((x) => x.message.content), a.choices.map((x) => x.message.content));
  assert.notEqual(c.choices[0]!.message.content, a.choices[0]!.message.content);
  assert.equal(a.usage!.completion_tokens, 40);
});

test('chat: stop cuts the reply before the stop string, finish_reason "stop"', async () => {
  const full = direct(false, 24).text;
  const at = [...full].findIndex((_, i) => i >= 6 && /\S/.test(full[i]!));
  const stop = full.slice(at, at + 2);
  for (const stream of [false, true]) {
    const r = await client.chat.completions.create({ model: 'tiny', messages, temperature: 0, max_tokens: 24, stop: [stop], stream });
    let text: string, finish: string | null = null;
    if (stream) {
      text = '';
      for await (const ch of r as AsyncIterable<OpenAI.ChatCompletionChunk>) { text += ch.choices[0]?.delta.content ?? ''; finish = ch.choices[0]?.finish_reason ?? finish; }
    } else {
      const c = (r as OpenAI.ChatCompletion).choices[0]!;
      text = c.message.content!; finish = c.finish_reason;
    }
    assert.equal(text, full.slice(0, full.indexOf(stop)), `stream: ${stream}`);
    assert.equal(finish, 'stop');
  }
});

test('chat: log-probs of each token with its top alternatives, best first', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages, temperature: 0, max_tokens: 6, logprobs: true, top_logprobs: 3 });
  const lp = r.choices[0]!.logprobs!.content!;
  assert.equal(lp.length, 6);
  for (const t of lp) {
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.logprob < 0);
    // greedy: the chosen token is the most likely one
    assert.equal(t.token, t.top_logprobs[0]!.token);
    assert.ok(Math.abs(t.logprob - t.top_logprobs[0]!.logprob) < 1e-9);
    assert.ok(t.top_logprobs[0]!.logprob >= t.top_logprobs[1]!.logprob && t.top_logprobs[1]!.logprob >= t.top_logprobs[2]!.logprob);
  }
  assert.equal(lp.map((t) => Buffer.from(t.bytes!).toString('latin1')).join('').length > 0, true);
});

test('completions: plain and streamed text continue a prompt', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'Call me', max_tokens: 8, temperature: 0, logprobs: 2 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0]!.logprobs!.tokens!.length, 8);
  assert.equal(r.choices[0]!.finish_reason, 'length');
  let text = '';
  for await (const ch of await client.completions.create({ model: 'tiny', prompt: 'Call me', max_tokens: 8, temperature: 0, stream: true })) text += ch.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0]!.text);
});

test('completions: a batch of prompts (text or token ids) gives n choices per prompt, index i·n + j, each what the prompt gets alone', async () => {
  const prompts = ['Call me', 'The whale', 'Ishmael said'], seed = 7;
  const alone = await Promise.all(prompts.map((prompt) => client.completions.create({ model: 'tiny', prompt, max_tokens: 6, temperature: 1, n: 2, seed })));
  const r = await client.completions.create({ model: 'tiny', prompt: prompts, max_tokens: 6, temperature: 1, n: 2, seed });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(r.choices.map((c) => c.text), alone.flatMap((a) => a.choices.map((c) => c.text)));
  assert.notEqual(r.choices[0]!.text, r.choices[2]!.text);
  assert.deepEqual(r.usage, {
    prompt_tokens: alone.reduce((s, a) => s + a.usage!.prompt_tokens, 0),
    completion_tokens: alone.reduce((s, a) => s + a.usage!.completion_tokens, 0),
    total_tokens: alone.reduce((s, a) => s + a.usage!.total_tokens, 0),
  });
  // streamed: the pieces of each choice, by index, make the same texts
  const texts: string[] = [];
  for await (const ch of await client.completions.create({ model: 'tiny', prompt: prompts, max_tokens: 6, temperature: 1, n: 2, seed, stream: true }))
    for (const c of ch.choices) texts[c.index] = (texts[c.index] ?? '') + c.text;
  assert.deepEqual(texts, r.choices.map((c) => c.text));
  // token-id prompts, one list per prompt
  const f = tinyFolders(), tok = loadModel(f.model).tok.tokenizer;
  const ids = await client.completions.create({ model: 'tiny', prompt: prompts.map((p) => tok.encode(p)) as unknown as number[], max_tokens: 6, temperature: 1, n: 2, seed });
  assert.deepEqual(ids.choices.map((c) => c.text), r.choices.map((c) => c.text));
  // one bad prompt refuses the whole batch, naming it
  await assert.rejects(client.completions.create({ model: 'tiny', prompt: [[1, 2], []] as unknown as number[], max_tokens: 2 }), (e: unknown) => {
    assert.ok(e instanceof BadRequestError);
    assert.match(e.message, /The prompt is empty \(prompt 1\)/);
    return true;
  });
});

test('completions: echo scores the prompt (max_tokens 0), and prefixes a generation with it, as lm-evaluation-harness reads log-likelihoods', async () => {
  const f = tinyFolders(), lib = loadModel(f.model), tok = lib.tok.tokenizer;
  const prompt = 'Call me Ishmael. Some years ago', ids = tok.encode(prompt);
  // the library's log p of each prompt token after the first
  const want = tokenLogprobs(lib.model, scoredBatch([{ prompt: ids.slice(0, 1), response: ids.slice(1) }])).logp.f32;
  const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 0, echo: true, logprobs: 3 });
  const c = r.choices[0]!, lp = c.logprobs!;
  assert.equal(c.text, prompt);
  assert.equal(c.finish_reason, 'length');
  assert.deepEqual(lp.tokens, ids.map((t) => tok.decode([t])));
  assert.deepEqual(lp.text_offset, lp.tokens!.map((_, i) => lp.tokens!.slice(0, i).join('').length));
  assert.equal(lp.token_logprobs![0], null);
  assert.equal(lp.top_logprobs![0], null);
  for (let i = 1; i < ids.length; i++) {
    assert.ok(Math.abs(lp.token_logprobs![i]! - want[i - 1]!) < 1e-4, `token ${i}: ${lp.token_logprobs![i]} vs ${want[i - 1]}`);
    // the legacy format keys alternatives by text, so two tokens that decode alike share one key
    const top = Object.values(lp.top_logprobs![i]!);
    assert.ok(top.length >= 1 && top.length <= 3);
    assert.ok(Math.max(...top) >= lp.token_logprobs![i]! - 1e-6);
  }
  assert.deepEqual(r.usage, { prompt_tokens: ids.length, completion_tokens: 0, total_tokens: ids.length });
  // echo before a generation: the prompt, then what the prompt gets without echo
  const plain = await client.completions.create({ model: 'tiny', prompt, max_tokens: 4, temperature: 0, logprobs: 1 });
  const both = await client.completions.create({ model: 'tiny', prompt, max_tokens: 4, temperature: 0, logprobs: 1, echo: true });
  assert.equal(both.choices[0]!.text, prompt + plain.choices[0]!.text);
  assert.deepEqual(both.choices[0]!.logprobs!.token_logprobs!.slice(ids.length), plain.choices[0]!.logprobs!.token_logprobs);
  // lm-evaluation-harness's request: token ids of context + continuation, batched, one token generated
  const ctx = tok.encode('Call me'), conts = [tok.encode(' Ishmael'), tok.encode(' the whale')];
  const lm = await client.completions.create({ model: 'tiny', prompt: conts.map((x) => [...ctx, ...x]) as unknown as number[], max_tokens: 1, temperature: 0, logprobs: 1, echo: true, seed: 1234 });
  conts.forEach((cont, k) => {
    const got = lm.choices[k]!.logprobs!.token_logprobs!.slice(ctx.length, -1) as number[];
    const ref = tokenLogprobs(lib.model, scoredBatch([{ prompt: ctx, response: cont }])).logp.f32;
    assert.equal(got.length, cont.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-4, `continuation ${k} token ${i}`));
  });
  // streamed: the echo comes first, whole
  let text = '';
  for await (const ch of await client.completions.create({ model: 'tiny', prompt, max_tokens: 0, echo: true, stream: true })) text += ch.choices[0]?.text ?? '';
  assert.equal(text, prompt);
  // max_tokens 0 without echo has nothing to do
  await assert.rejects(client.completions.create({ model: 'tiny', prompt, max_tokens: 0 }), (e: unknown) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.param, 'max_tokens');
    assert.match(e.message, /max_tokens 0 generates nothing; give echo: true/);
    return true;
  });
  await assert.rejects(client.completions.create({ model: 'tiny', prompt, max_tokens: -1, echo: true }), /max_tokens.*must be at least 1 \(or 0 with echo: true\)/);
});

test('vLLM\'s tokenizer routes: /tokenizer_info, /tokenize and /detokenize with the served tokenizer (the model may be left out: a model and its adapter share it)', async () => {
  const f = tinyFolders(), lib = loadModel(f.model).tok, text = 'Call me Ishmael. <|im_end|>';
  const get = async (path: string) => { const r = await fetch(server.url + path); return { status: r.status, json: (await r.json()) as Record<string, unknown> }; };
  const post = async (path: string, b: object) => { const r = await fetch(server.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) }); return { status: r.status, json: (await r.json()) as Record<string, unknown> }; };
  const info = await get('/tokenizer_info');
  assert.equal(info.status, 200);
  assert.equal(info.json.eos_token, lib.tokenizer.idToToken(lib.eosTokenId!));
  assert.equal(info.json.chat_template, lib.chatTemplate!.source);
  assert.equal(info.json.model_max_length, f.contextLength);
  const t = await post('/tokenize', { prompt: text, add_special_tokens: false });
  assert.deepEqual(t.json, { count: lib.tokenizer.encode(text).length, max_model_len: f.contextLength, tokens: lib.tokenizer.encode(text) });
  assert.deepEqual((await post('/tokenize', { model: 'tiny:lora', prompt: text })).json.tokens, t.json.tokens);
  assert.deepEqual((await post('/detokenize', { tokens: t.json.tokens })).json, { prompt: text });
  // bad bodies are 400s naming the field
  const noPrompt = await post('/tokenize', { text });
  assert.equal(noPrompt.status, 400);
  assert.equal((noPrompt.json.error as { param: string }).param, 'prompt');
  const outside = await post('/detokenize', { tokens: [1, 99999] });
  assert.equal(outside.status, 400);
  assert.match((outside.json.error as { message: string }).message, /Token id 99999 is outside the tokenizer's vocabulary/);
  assert.equal((await post('/tokenize', { model: 'nope', prompt: text })).status, 404);
});

test('errors surface as the client\'s own classes: 404 for an unknown model, 400 for bad fields', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages }), (e: unknown) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  // a name is only ever looked up among the served models, never used as a path
  await assert.rejects(client.chat.completions.create({ model: `../${'tiny'}`, messages }), NotFoundError);
  await assert.rejects(client.chat.completions.create({ model: 'tiny', messages, temperature: 3 }), (e: unknown) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.param, 'temperature');
    assert.match(e.message, /between 0 and 2/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10_000 }), (e: unknown) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.param, 'max_tokens');
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
});

test('--api-key: no key or a wrong key is a 401 (AuthenticationError); the right one works', async () => {
  const s = await startServer({ apiKey: 'sekrit' });
  try {
    const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), AuthenticationError);
    const res = await fetch(`${s.url}/v1/models`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
    assert.equal((await good.models.list()).data.length, 2);
    // the tokenizer routes too
    const tokenize = (key?: string) => fetch(`${s.url}/tokenize`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify({ prompt: 'hi' }) });
    assert.equal((await tokenize()).status, 401);
    assert.equal((await tokenize('sekrit')).status, 200);
    assert.equal((await fetch(`${s.url}/tokenizer_info`)).status, 401);
  } finally { await s.close(); }
});

test('--api-key guards the ranking and runs APIs too (they write to the store and read run logs); the pages themselves load without it', async () => {
  const store = FeedbackStore.open(':memory:');
  const id = store.addPrompt({ messages: [{ role: 'user', content: 'Name a colour.' }] });
  store.addResponses(id, [{ text: 'blue' }, { text: 'red' }]);
  const s = await startServer({ apiKey: 'sekrit', store });
  try {
    const post = (path: string, key?: string) => fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify({ rater: 'alice' }) });
    for (const key of [undefined, 'wrong']) {
      const r = await post('/api/rank/next', key);
      assert.equal(r.status, 401, `rank API with ${key ?? 'no'} key`);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
      assert.equal((await fetch(`${s.url}/api/runs`, key ? { headers: { Authorization: `Bearer ${key}` } } : {})).status, 401, `runs API with ${key ?? 'no'} key`);
    }
    const r = await post('/api/rank/next', 'sekrit');
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { prompt: { id: number } }).prompt.id, id);
    assert.equal((await fetch(`${s.url}/api/runs`, { headers: { Authorization: 'Bearer sekrit' } })).status, 200);
    for (const page of ['/', '/rank', '/runs']) assert.equal((await fetch(`${s.url}${page}`)).status, 200, page);
  } finally { await s.close(); store.close(); }
});

test('--weights q8_0 and f16: the served linears are held as stored, and a reply equals the library\'s greedy generation on the stored model', async () => {
  const f = tinyFolders();
  for (const w of ['q8_0', 'f16'] as const) {
    const reg = ModelRegistry.load([{ name: 'tiny', dir: f.model }], [], w);
    const served = reg.get('tiny')!.model, q = served.params.get('model.layers.0.self_attn.q_proj.weight')!;
    assert.ok(w === 'q8_0' ? isQ8(q) : q.dtype === 'f16', `${w}: q_proj is held as ${isQ8(q) ? 'q8_0' : q.dtype}`);
    assert.ok(w === 'q8_0' ? isQ8(served.params.get('lm_head.weight')) : served.params.get('lm_head.weight')!.dtype === 'f16', `${w}: the LM head too`);
    const s = await listen(reg, { port: 0 });
    try {
      const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const r = await c.chat.completions.create({ model: 'tiny', messages, temperature: 0, max_tokens: 12 });
      const m = loadModel(f.model), model = storeWeights(m.model, w);
      const g = new Generator(model, { slots: 1, decoder: () => m.tok.tokenizer.streamDecoder({ skipSpecialTokens: true }) });
      const want = g.add(renderPrompt(m.tok.tokenizer, m.tok.chatTemplate!, messages), { maxNewTokens: 12, temperature: 0, stopTokens: stopTokenIds(m.tok) });
      while (!g.idle) g.step();
      assert.equal(r.choices[0]!.message.content, want.text, w);
    } finally { await s.close(); }
  }
  assert.throws(() => ModelRegistry.load([{ name: 'tiny', dir: f.model }], [{ name: 'lora', dir: f.adapter }], 'q8_0'), /--weights q8_0: adapters need the f32 base weights/);
});
