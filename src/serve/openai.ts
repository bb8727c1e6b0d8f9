// The OpenAI API: GET /v1/models, POST /v1/chat/completions and POST /v1/completions, plain and
// streamed (server-sent events), with n, stop, seed, log-probs and usage; and vLLM's tokenizer
// routes, GET /tokenizer_info, POST /tokenize and POST /detokenize. Request bodies are checked
// by zod schemas built from the generator's own sampling fields.
import { randomInt, randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { z } from 'zod';
import { samplingFields, type Sampling } from '../models/sampling.js';
import { logprobsOf, type Sequence, type TokenEvent, type TokenLogprob } from '../models/generate.js';
import { noGrad } from '../core/autograd.js';
import { renderPrompt, stopTokenIds, type ChatMessage } from '../tokenizer/index.js';
import { ApiError, badRequest, fromZod, sendError } from './errors.js';
import type { ModelRegistry, ServedModel } from './models.js';
import { CancelledError, QueueFullError, ShuttingDownError, type Scheduler } from './scheduler.js';

const FINGERPRINT = 'heed';
const nullish = <T extends z.ZodTypeAny>(t: T) => t.nullish();

/** Fields both endpoints take: OpenAI's names over the generator's rules (top_k and ignore_eos as vLLM has them). */
const common = {
  model: z.string(),
  temperature: nullish(samplingFields.temperature),
  top_p: nullish(samplingFields.topP),
  top_k: nullish(z.union([z.literal(-1), samplingFields.topK])),
  max_tokens: nullish(samplingFields.maxNewTokens),
  n: nullish(z.number().int().min(1).max(16)),
  seed: nullish(samplingFields.seed),
  stop: nullish(z.union([z.string().min(1), z.array(z.string().min(1)).max(4)])),
  stream: nullish(z.boolean()),
  stream_options: nullish(z.object({ include_usage: z.boolean().optional() }).strict()),
  ignore_eos: nullish(z.boolean()),
  // accepted and without effect here, as OpenAI's defaults
  user: nullish(z.string()),
  presence_penalty: nullish(z.literal(0)),
  frequency_penalty: nullish(z.literal(0)),
  metadata: nullish(z.record(z.string())),
  store: nullish(z.boolean()),
};

const Part = z.object({ type: z.literal('text'), text: z.string() });
const Message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(Part)]),
  name: z.string().optional(),
}).strict();

export const ChatRequest = z.object({
  ...common,
  messages: z.array(Message).min(1),
  max_completion_tokens: nullish(samplingFields.maxNewTokens),
  logprobs: nullish(z.boolean()),
  top_logprobs: nullish(samplingFields.logprobs),
}).strict();

export const CompletionRequest = z.object({
  ...common,
  // one prompt (text or token ids), or a batch of them: choice j of prompt i has index i·n + j
  prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int().min(0)).min(1), z.array(z.array(z.number().int().min(0))).min(1)]),
  // 0 only with echo: the prompt scored, nothing generated (lm-evaluation-harness's log-likelihoods)
  max_tokens: nullish(z.number().int('must be an integer').min(0, 'must be at least 1 (or 0 with echo: true)')),
  logprobs: nullish(samplingFields.logprobs.max(5)),
  echo: nullish(z.boolean()),
}).strict();

// vLLM's tokenizer routes (lm-evaluation-harness's remote tokenizer reads them); the model may be
// left out when one is served
const TokenizeRequest = z.object({ model: nullish(z.string()), prompt: z.string(), add_special_tokens: nullish(z.boolean()) }).strict();
const DetokenizeRequest = z.object({ model: nullish(z.string()), tokens: z.array(z.number().int().min(0)) }).strict();

type Chat = z.infer<typeof ChatRequest>;
type Completion = z.infer<typeof CompletionRequest>;

async function body<T extends z.ZodTypeAny>(c: Context, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try { raw = JSON.parse(await c.req.text()); } catch (e) {
    throw badRequest(`We could not parse the JSON body of your request. (${(e as Error).message})`, null, 'invalid_json');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('The request body must be a JSON object.', null, 'invalid_json');
  const r = schema.safeParse(raw);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}

function served(reg: ModelRegistry, id: string): ServedModel {
  const m = reg.get(id);
  if (!m) throw new ApiError(404, `The model '${id}' does not exist. Served: ${reg.all().map((x) => x.id).join(', ')}.`, 'invalid_request_error', 'model', 'model_not_found');
  return m;
}

/** The named model; with no name, any served model when they all share one tokenizer (a model and its adapters). */
function servedOrOnly(reg: ModelRegistry, id: string | null | undefined): ServedModel {
  if (id != null) return served(reg, id);
  const all = reg.all();
  if (all.some((x) => x.tok.tokenizer !== all[0]!.tok.tokenizer)) throw badRequest(`Name the model: this server serves ${all.map((x) => x.id).join(', ')}, with different tokenizers.`, 'model');
  return all[0]!;
}

/** The prompt must leave room for at least one token, and max_tokens must fit beside it. */
function budget(m: ServedModel, promptLen: number, asked: number | null | undefined, param: string): number {
  const ctx = m.contextLength;
  if (promptLen >= ctx) throw badRequest(`This model's maximum context length is ${ctx} tokens. However, your prompt has ${promptLen} tokens, which leaves no room for a completion.`, 'messages', 'context_length_exceeded');
  if (asked != null && promptLen + asked > ctx)
    throw badRequest(`${param} is too large: ${asked}. This model's maximum context length is ${ctx} tokens and your request has ${promptLen} input tokens (${asked} > ${ctx} - ${promptLen}).`, param, 'context_length_exceeded');
  return asked ?? ctx - promptLen;
}

/** One option set per choice: the request's settings, choice i seeded with seed + i. */
function samplings(r: Chat | Completion, maxNew: number, stopTokens: number[], logprobs: number | null): Sampling[] {
  const seed = r.seed ?? randomInt(2 ** 31), stop = r.stop == null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
  const base: Sampling = {
    maxNewTokens: maxNew, temperature: r.temperature ?? 1, topP: r.top_p ?? 1, topK: r.top_k == null || r.top_k === -1 ? 0 : r.top_k,
    stopTokens: r.ignore_eos ? [] : stopTokens, ...(stop.length ? { stopStrings: stop } : {}), ...(logprobs !== null ? { logprobs } : {}),
  };
  // the generator's RNG takes 32 bits of seed, so wrapping there keeps seed + i in range
  return Array.from({ length: r.n ?? 1 }, (_, i) => ({ ...base, seed: (seed % 2 ** 32) + i }));
}

function chatMessages(r: Chat): ChatMessage[] {
  return r.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
  }));
}

const usage = (prompt: number, seqs: readonly Sequence[]) => {
  const completion = seqs.reduce((a, s) => a + s.tokens.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
};

/** Token text and bytes as OpenAI reports them in log-probs. */
function tokenInfo(m: ServedModel, id: number): { token: string; bytes: number[] } {
  const t = m.tok.tokenizer;
  return { token: t.decode([id]), bytes: Array.from(t.tokenBytes(id)) };
}

function chatLogprob(m: ServedModel, e: TokenEvent) {
  return { ...tokenInfo(m, e.token), logprob: e.logprob!, top_logprobs: (e.top ?? []).map((t) => ({ ...tokenInfo(m, t.token), logprob: t.logprob })) };
}

/** A token with its log-probability and its top alternatives (null for a prompt's first token, which nothing predicts). */
interface Scored { token: number; logprob: number | null; top: TokenLogprob[] | null }

const scoredOf = (e: TokenEvent): Scored => ({ token: e.token, logprob: e.logprob!, top: e.top ?? [] });

/** Each prompt token's log-probability given the ones before it, with its top k alternatives (echo). */
function promptLogprobs(m: ServedModel, prompt: readonly number[], k: number): Scored[] {
  const T = prompt.length, out: Scored[] = [{ token: prompt[0]!, logprob: null, top: null }];
  if (T < 2) return out;
  const logits = noGrad(() => m.model.forward(Int32Array.from(prompt), 1, T, { rows: Int32Array.from({ length: T - 1 }, (_, i) => i) }).logits).f32;
  const V = m.model.cfg.vocabSize, limit = Math.min(V, m.tok.tokenizer.vocabSize);
  for (let i = 0; i + 1 < T; i++) {
    const lp = logprobsOf(logits.subarray(i * V, i * V + limit), k), t = prompt[i + 1]!;
    out.push({ token: t, logprob: logits[i * V + t]! - lp.lse, top: lp.top });
  }
  return out;
}

/** Events of one request, kept per choice (for the log-probs of a plain response). */
type Collected = TokenEvent[][];

/**
 * Starts a request's sequences. A refusal throws at once as an HTTP error (429 with Retry-After,
 * 503 while draining); a failure later rejects the promise. A client that goes away, or `signal`
 * (a batch's other prompt failing), cancels.
 */
function start(c: Context, sched: Scheduler, m: ServedModel, prompt: number[], opts: Sampling[], onEvent: (i: number, e: TokenEvent) => void, signal: AbortSignal = c.req.raw.signal): Promise<Sequence[]> {
  let p: Promise<Sequence[]>;
  try { p = sched.generate(m, prompt, opts, onEvent, signal); } catch (e) {
    if (e instanceof QueueFullError) throw new ApiError(429, `The server is busy: ${e.message}. Retry shortly.`, 'rate_limit_error', null, 'rate_limit_exceeded', { 'Retry-After': '1' });
    if (e instanceof ShuttingDownError) throw new ApiError(503, 'The server is shutting down.', 'server_error', null, 'shutting_down');
    throw e;
  }
  return p.catch((e: Error) => { throw e instanceof CancelledError ? e : new ApiError(500, `Generation failed: ${e.message}`, 'server_error'); });
}

/**
 * start() for each prompt of a batch, all or nothing: a refusal or a failure of one cancels the
 * others. onEvent gets the prompt's index k and the choice's index i within it.
 */
function startAll(c: Context, sched: Scheduler, m: ServedModel, prompts: number[][], opts: (k: number) => Sampling[], onEvent: (k: number, i: number, e: TokenEvent) => void): Promise<Sequence[][]> {
  const ac = new AbortController(), client = c.req.raw.signal;
  if (client.aborted) ac.abort(); else client.addEventListener('abort', () => ac.abort(), { once: true });
  const all: Promise<Sequence[]>[] = [];
  try {
    prompts.forEach((p, k) => all.push(start(c, sched, m, p, opts(k), (i, e) => onEvent(k, i, e), ac.signal)));
  } catch (e) {
    ac.abort();
    for (const p of all) p.catch(() => {});
    throw e;
  }
  return Promise.all(all).catch((e: unknown) => { ac.abort(); throw e; });
}

/** Output tokens of a finished sequence with their events (the stop token's event dropped). */
const outputEvents = (evs: TokenEvent[], s: Sequence) => evs.slice(0, s.tokens.length);

export function openaiRoutes(reg: ModelRegistry, sched: Scheduler): Hono {
  const app = new Hono();

  app.get('/v1/models', (c) => c.json({ object: 'list', data: reg.all().map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: 'heed' })) }));
  app.get('/v1/models/:id', (c) => {
    const m = served(reg, c.req.param('id'));
    return c.json({ id: m.id, object: 'model', created: m.created, owned_by: 'heed' });
  });

  app.get('/tokenizer_info', (c) => {
    const m = servedOrOnly(reg, c.req.query('model')), t = m.tok, name = (id: number | null) => (id === null ? null : t.tokenizer.idToToken(id) ?? null);
    return c.json({
      tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: m.contextLength, chat_template: t.chatTemplate?.source ?? null,
      eos_token: name(t.eosTokenId), bos_token: name(t.bosTokenId), pad_token: name(t.padTokenId),
    });
  });
  app.post('/tokenize', async (c) => {
    const r = await body(c, TokenizeRequest), m = servedOrOnly(reg, r.model), tokens = m.tok.tokenizer.encode(r.prompt);
    // heed's tokenizers add no special tokens of their own (no BOS), so add_special_tokens changes nothing
    return c.json({ count: tokens.length, max_model_len: m.contextLength, tokens });
  });
  app.post('/detokenize', async (c) => {
    const r = await body(c, DetokenizeRequest), m = servedOrOnly(reg, r.model), V = m.tok.tokenizer.vocabSize;
    const bad = r.tokens.find((t) => t >= V);
    if (bad !== undefined) throw badRequest(`Token id ${bad} is outside the tokenizer's vocabulary of ${V}.`, 'tokens');
    return c.json({ prompt: m.tok.tokenizer.decode(r.tokens) });
  });

  app.post('/v1/chat/completions', async (c) => {
    const r = await body(c, ChatRequest), m = served(reg, r.model);
    if (!m.tok.chatTemplate) throw badRequest(`The model '${m.id}' has no chat template; use /v1/completions.`, 'model');
    if (r.max_tokens != null && r.max_completion_tokens != null && r.max_tokens !== r.max_completion_tokens) throw badRequest('Give max_tokens or max_completion_tokens, not both with different values.', 'max_completion_tokens');
    if (r.top_logprobs != null && !r.logprobs) throw badRequest('top_logprobs needs logprobs: true.', 'top_logprobs');
    let prompt: number[];
    try { prompt = renderPrompt(m.tok.tokenizer, m.tok.chatTemplate, chatMessages(r)); } catch (e) { throw badRequest((e as Error).message, 'messages'); }
    const asked = r.max_completion_tokens ?? r.max_tokens;
    const maxNew = budget(m, prompt.length, asked, r.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens');
    const opts = samplings(r, maxNew, stopTokenIds(m.tok), r.logprobs ? r.top_logprobs ?? 0 : null);
    const id = `chatcmpl-${randomUUID()}`, created = Math.floor(Date.now() / 1000), head = { id, created, model: m.id, system_fingerprint: FINGERPRINT };
    if (r.stream) {
      const withUsage = r.stream_options?.include_usage === true, out = new EventStream();
      const chunk = (choices: unknown[]) => out.send({ ...head, object: 'chat.completion.chunk', choices, ...(withUsage ? { usage: null } : {}) });
      opts.forEach((_, i) => chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
      const done = start(c, sched, m, prompt, opts, (i, e) => {
        const lp = r.logprobs && e.logprob !== undefined && !e.seq.stops.has(e.token) ? { content: [chatLogprob(m, e)], refusal: null } : null;
        if (e.text || lp) chunk([{ index: i, delta: { content: e.text }, logprobs: lp, finish_reason: null }]);
        if (e.finish) chunk([{ index: i, delta: {}, logprobs: null, finish_reason: e.finish }]);
      });
      return out.respond(c, done, (seqs) => { if (withUsage) out.send({ ...head, object: 'chat.completion.chunk', choices: [], usage: usage(prompt.length, seqs) }); });
    }
    const got: Collected = opts.map(() => []);
    const seqs = await start(c, sched, m, prompt, opts, (i, e) => got[i]!.push(e));
    return c.json({
      ...head, object: 'chat.completion',
      choices: seqs.map((s, i) => ({
        index: i, message: { role: 'assistant', content: s.text, refusal: null },
        logprobs: r.logprobs ? { content: outputEvents(got[i]!, s).map((e) => chatLogprob(m, e)), refusal: null } : null,
        finish_reason: s.finish,
      })),
      usage: usage(prompt.length, seqs),
    });
  });

  app.post('/v1/completions', async (c) => {
    const r = await body(c, CompletionRequest), m = served(reg, r.model);
    const p = r.prompt, V = m.model.cfg.vocabSize, tok = m.tok.tokenizer, echo = r.echo === true;
    if (r.max_tokens === 0 && !echo) throw badRequest('max_tokens 0 generates nothing; give echo: true to score the prompt.', 'max_tokens');
    const texts = typeof p === 'string' ? [p] : typeof p[0] === 'string' ? (p as string[]) : null;
    const prompts = texts ? texts.map((x) => tok.encode(x)) : Array.isArray(p[0]) ? (p as number[][]) : [p as number[]];
    const n = r.n ?? 1, batch = prompts.length > 1, at = (k: number) => (batch ? ` (prompt ${k})` : '');
    const maxNew = prompts.map((prompt, k) => {
      if (prompt.length === 0) throw badRequest(`The prompt is empty${at(k)}.`, 'prompt');
      const bad = prompt.find((t) => t >= V);
      if (bad !== undefined) throw badRequest(`Token id ${bad} is outside the model's vocabulary of ${V}${at(k)}.`, 'prompt');
      return budget(m, prompt.length, r.max_tokens ?? Math.min(16, m.contextLength - prompt.length), 'max_tokens');
    });
    // echo: each choice starts with its prompt, and its log-probs with the prompt's
    const echoed = echo ? prompts.map((prompt, k) => ({ text: texts ? texts[k]! : tok.decode(prompt), scored: r.logprobs != null ? promptLogprobs(m, prompt, r.logprobs) : [] })) : null;
    // every prompt draws its choices with the same seeds, as it would alone
    const seed = r.seed ?? randomInt(2 ** 31), opts = (k: number) => samplings({ ...r, seed }, maxNew[k]!, m.tok.eosTokenIds, r.logprobs ?? null);
    const promptTokens = prompts.reduce((a, x) => a + x.length, 0);
    const id = `cmpl-${randomUUID()}`, created = Math.floor(Date.now() / 1000), head = { id, object: 'text_completion', created, model: m.id, system_fingerprint: FINGERPRINT };
    const legacy = (xs: readonly Scored[]) => {
      const tokens = xs.map((x) => tokenInfo(m, x.token).token), text_offset: number[] = [];
      for (let i = 0, at = 0; i < tokens.length; at += tokens[i++]!.length) text_offset.push(at);
      return {
        tokens, token_logprobs: xs.map((x) => x.logprob), text_offset,
        top_logprobs: xs.map((x) => (x.top === null ? null : Object.fromEntries(x.top.map((t) => [tokenInfo(m, t.token).token, t.logprob])))),
      };
    };
    const generate = r.max_tokens !== 0;
    if (r.stream) {
      const withUsage = r.stream_options?.include_usage === true, out = new EventStream();
      const send = (index: number, text: string, lp: ReturnType<typeof legacy> | null, finish: string | null) => out.send({ ...head, choices: [{ index, text, logprobs: lp, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) });
      echoed?.forEach((e, k) => { for (let i = 0; i < n; i++) send(k * n + i, e.text, r.logprobs != null ? legacy(e.scored) : null, generate ? null : 'length'); });
      const done = generate ? startAll(c, sched, m, prompts, opts, (k, i, e) => {
        const lp = r.logprobs != null && !e.seq.stops.has(e.token) ? legacy([scoredOf(e)]) : null;
        if (e.text || lp || e.finish) send(k * n + i, e.text, lp, e.finish);
      }).then((x) => x.flat()) : Promise.resolve([]);
      return out.respond(c, done, (seqs) => { if (withUsage) out.send({ ...head, choices: [], usage: usage(promptTokens, seqs) }); });
    }
    const got: TokenEvent[][][] = prompts.map(() => Array.from({ length: n }, () => []));
    const seqs = generate ? await startAll(c, sched, m, prompts, opts, (k, i, e) => got[k]![i]!.push(e)) : null;
    const choice = (k: number, i: number) => {
      const s = seqs?.[k]![i], e = echoed?.[k];
      const scored = [...(e?.scored ?? []), ...(s ? outputEvents(got[k]![i]!, s).map(scoredOf) : [])];
      return { index: k * n + i, text: (e?.text ?? '') + (s?.text ?? ''), logprobs: r.logprobs != null ? legacy(scored) : null, finish_reason: s?.finish ?? 'length' };
    };
    return c.json({
      ...head,
      choices: prompts.flatMap((_, k) => Array.from({ length: n }, (__, i) => choice(k, i))),
      usage: usage(promptTokens, seqs?.flat() ?? []),
    });
  });

  return app;
}

/**
 * Server-sent events for one response. Events queue in order from the moment the request starts
 * (the generator loop never waits on a client); the stream ends with `data: [DONE]`, or with an
 * error in OpenAI's shape, which the client raises, when generation fails after the headers went out.
 */
class EventStream {
  private attach!: (s: SSEStreamingApi) => void;
  private chain: Promise<unknown>;
  private readonly ready = new Promise<SSEStreamingApi>((r) => { this.attach = r; });

  constructor() { this.chain = this.ready; }

  send(o: unknown): void {
    const data = typeof o === 'string' ? o : JSON.stringify(o);
    // a failed write means the client is gone; its abort signal cancels the generation
    this.chain = this.chain.then(() => this.ready).then((s) => s.writeSSE({ data })).catch(() => {});
  }

  respond(c: Context, done: Promise<Sequence[]>, after: (seqs: Sequence[]) => void): Response {
    return streamSSE(c, async (stream) => {
      this.attach(stream);
      try {
        after(await done);
        this.send('[DONE]');
      } catch (e) {
        if (e instanceof CancelledError) return;
        this.send((e instanceof ApiError ? e : new ApiError(500, (e as Error).message, 'server_error')).body());
      }
      await this.chain;
    });
  }
}
