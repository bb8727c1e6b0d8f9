// A client for any OpenAI-compatible endpoint (vLLM, TGI, llama.cpp's server, `heed serve`), for the
// generation-heavy stages (Self-Instruct, Constitutional AI, the model judge): a concurrency limit,
// retries with backoff on 429/5xx honouring Retry-After, timeouts, fan-out over several base URLs,
// and a resumable on-disk cache keyed by the request, so an interrupted run continues where it
// stopped and a finished one costs nothing to repeat.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string[];
  seed?: number;
  n?: number;
  logprobs?: boolean;
  top_logprobs?: number;
}

export interface TopLogprob { token: string; logprob: number }
export interface ChatChoice {
  text: string;
  finish: 'stop' | 'length' | string;
  /** per generated token: the token, its log-prob and the most likely alternatives (when asked for) */
  logprobs?: Array<{ token: string; logprob: number; top: TopLogprob[] }>;
}
export interface ChatResult { choices: ChatChoice[]; usage?: { prompt_tokens: number; completion_tokens: number }; endpoint: string; cached: boolean }

export interface ClientOptions {
  /** base URLs, e.g. http://127.0.0.1:8080/v1; requests are spread over them */
  endpoints: readonly string[];
  apiKey?: string;
  /** requests in flight at once, over all endpoints (default 4 per endpoint) */
  concurrency?: number;
  /** tries after the first on 429, 5xx and network errors (default 4) */
  retries?: number;
  timeoutMs?: number;
  /** folder of cached responses; a request seen before is answered from it */
  cacheDir?: string;
  /** milliseconds before the first retry (doubles each time, unless Retry-After says otherwise) */
  backoffMs?: number;
}

/** An error from an endpoint after retries, with its HTTP status when there was one. */
export class EndpointError extends Error {
  constructor(message: string, readonly status: number | null, readonly code: string | null = null) { super(message); this.name = 'EndpointError'; }
  /** The endpoint refused the request because the prompt plus max_tokens do not fit the model's context. */
  get contextLength(): boolean {
    return this.status === 400 && (this.code === 'context_length_exceeded' || /maximum context length|context length|context window/i.test(this.message));
  }
}

/**
 * From an OpenAI-style context-length message ("maximum context length is 512 tokens … your request
 * has 480 input tokens", vLLM's "… you requested 600 tokens (480 in the messages, 120 in the
 * completion)"), the most max_tokens that fits; null when the message does not say.
 */
export function fittingMaxTokens(message: string): number | null {
  const ctx = /maximum context length is (\d+)/i.exec(message)?.[1];
  const input = /(\d+) input tokens|prompt has (\d+) tokens|\((\d+) in the messages/i.exec(message);
  if (!ctx || !input) return null;
  return Number(ctx) - Number(input[1] ?? input[2] ?? input[3]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After in seconds or as an HTTP date, in milliseconds (null when absent or unreadable). */
export function retryAfterMs(v: string | null, now = Date.now()): number | null {
  if (!v) return null;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

export class OpenAIClient {
  private readonly endpoints: string[];
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly busy: number[];
  /** requests answered, by endpoint (for the fan-out figures) */
  readonly served: number[];
  cacheHits = 0;
  /** chatWithin() requests answered with fewer max_tokens than asked, and those whose prompt alone did not fit */
  shrunk = 0;
  tooLong = 0;

  constructor(private readonly o: ClientOptions) {
    if (!o.endpoints.length) throw new Error('give at least one endpoint (--endpoint URL)');
    this.endpoints = o.endpoints.map((e) => {
      let u: URL;
      try { u = new URL(e); } catch { throw new Error(`--endpoint: '${e}' is not a URL (e.g. http://127.0.0.1:8080/v1)`); }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--endpoint: '${e}' is not an http(s) URL`);
      return e.replace(/\/+$/, '');
    });
    this.limit = o.concurrency ?? 4 * this.endpoints.length;
    if (!(this.limit >= 1)) throw new Error(`concurrency must be at least 1, got ${this.limit}`);
    this.busy = this.endpoints.map(() => 0);
    this.served = this.endpoints.map(() => 0);
  }

  private async slot(): Promise<void> {
    if (this.active < this.limit) { this.active++; return; }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); else this.active--;
  }

  private cachePath(req: ChatRequest): string | null {
    if (!this.o.cacheDir) return null;
    const key = createHash('sha256').update(JSON.stringify(req)).digest('hex');
    return join(this.o.cacheDir, key.slice(0, 2), `${key}.json`);
  }

  /** POST /chat/completions, with the cache, the concurrency limit, fan-out and retries. */
  async chat(req: ChatRequest): Promise<ChatResult> {
    const cp = this.cachePath(req);
    if (cp && existsSync(cp)) {
      try {
        const hit = JSON.parse(readFileSync(cp, 'utf8')) as ChatResult;
        this.cacheHits++;
        return { ...hit, cached: true };
      } catch { /* a damaged entry is fetched again */ }
    }
    await this.slot();
    try {
      const res = await this.post(req);
      if (cp) writeFileAtomic(cp, JSON.stringify({ ...res, cached: false }));
      return res;
    } finally { this.release(); }
  }

  /**
   * chat(), but a request whose max_tokens does not fit beside its prompt is asked again with the
   * max_tokens the endpoint's error names (or half, when it names none), down to `minTokens`.
   * Answers null when even that does not fit (the prompt alone is too long), so the caller can skip it.
   */
  async chatWithin(req: ChatRequest, minTokens = 1): Promise<{ result: ChatResult; maxTokens: number | undefined; shrunk: boolean } | null> {
    let r = req, shrunk = false;
    for (;;) {
      try {
        const result = await this.chat(r);
        if (shrunk) this.shrunk++;
        return { result, maxTokens: r.max_tokens, shrunk };
      } catch (err) {
        if (!(err instanceof EndpointError && err.contextLength)) throw err;
        const asked = r.max_tokens;
        if (asked === undefined || asked <= minTokens) { this.tooLong++; return null; }
        const fit = fittingMaxTokens(err.message);
        const next = fit !== null && fit < asked ? fit : Math.floor(asked / 2);
        if (next < minTokens) { this.tooLong++; return null; }
        r = { ...r, max_tokens: next }; shrunk = true;
      }
    }
  }

  private async post(req: ChatRequest): Promise<ChatResult> {
    const retries = this.o.retries ?? 4;
    let wait = this.o.backoffMs ?? 500, last: EndpointError | null = null;
    for (let attempt = 0; attempt <= retries; attempt++) {
      // the least busy endpoint, lowest index first
      const e = this.busy.indexOf(Math.min(...this.busy));
      this.busy[e]!++;
      const ctl = new AbortController(), timer = setTimeout(() => ctl.abort(), this.o.timeoutMs ?? 120_000);
      try {
        const r = await fetch(`${this.endpoints[e]}/chat/completions`, {
          method: 'POST', signal: ctl.signal,
          headers: { 'content-type': 'application/json', ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}) },
          body: JSON.stringify(req),
        });
        const text = await r.text();
        if (r.ok) {
          this.served[e]!++;
          return parseChat(text, this.endpoints[e]!);
        }
        const { msg, code } = errorMessage(text);
        last = new EndpointError(`${this.endpoints[e]}: HTTP ${r.status}${msg ? `: ${msg}` : ''}`, r.status, code);
        if (r.status !== 429 && r.status < 500) throw last; // a bad request does not get better by asking again
        const after = retryAfterMs(r.headers.get('retry-after'));
        if (attempt < retries) await sleep(after ?? wait);
      } catch (err) {
        if (err instanceof EndpointError && err.status !== null && err.status !== 429 && err.status < 500) throw err;
        if (!(err instanceof EndpointError)) last = new EndpointError(`${this.endpoints[e]}: ${(err as Error).name === 'AbortError' ? `no answer within ${this.o.timeoutMs ?? 120_000} ms` : (err as Error).message}`, null);
        if (attempt < retries && !(err instanceof EndpointError && err.status === 429)) await sleep(wait);
      } finally {
        clearTimeout(timer);
        this.busy[e]!--;
      }
      wait *= 2;
    }
    throw new EndpointError(`${last?.message ?? 'request failed'} (after ${retries + 1} tries)`, last?.status ?? null);
  }
}

function errorMessage(text: string): { msg: string; code: string | null } {
  try {
    const e = (JSON.parse(text) as { error?: { message?: string; code?: unknown } }).error;
    return { msg: String(e?.message ?? '').slice(0, 300), code: typeof e?.code === 'string' ? e.code : null };
  } catch { return { msg: text.slice(0, 200), code: null }; }
}

function parseChat(text: string, endpoint: string): ChatResult {
  let j: { choices?: Array<{ message?: { content?: string }; finish_reason?: string; logprobs?: { content?: Array<{ token: string; logprob: number; top_logprobs?: TopLogprob[] }> } }>; usage?: ChatResult['usage'] };
  try { j = JSON.parse(text); } catch { throw new EndpointError(`${endpoint}: the answer is not JSON`, null); }
  if (!Array.isArray(j.choices)) throw new EndpointError(`${endpoint}: the answer has no choices`, null);
  return {
    endpoint, cached: false, ...(j.usage ? { usage: j.usage } : {}),
    choices: j.choices.map((c) => ({
      text: c.message?.content ?? '', finish: c.finish_reason ?? 'stop',
      ...(c.logprobs?.content ? { logprobs: c.logprobs.content.map((t) => ({ token: t.token, logprob: t.logprob, top: t.top_logprobs ?? [] })) } : {}),
    })),
  };
}
