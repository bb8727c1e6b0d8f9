// Generation with a KV cache: a generator that a server drives step by step (sequences join and
// leave the running batch between decode steps, each with its own sampling settings, stop rules,
// seed and log-probs; cache slots are reused), and `generate`, the batch-at-once wrapper over it.
import { noGrad } from '../core/autograd.js';
import { K } from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { KVCache, type Transformer } from './transformer.js';
import { checkSampling, type Sampling } from './sampling.js';

export type FinishReason = 'stop' | 'length';

/** Incremental text for a sequence: a token in, the newly complete text out (the tokenizer's StreamDecoder fits). */
export interface TextStream { push(id: number): string; flush(): string }

/** What one sequence asks for (see sampling.ts for the rules each field is checked against). */
export type SequenceOptions = Sampling;

export interface TokenLogprob { token: number; logprob: number }

/** One new token of one sequence, from one step. */
export interface TokenEvent {
  seq: Sequence;
  /** the sampled id (a stop token too, which is not part of the output) */
  token: number;
  /** newly complete output text (needs a decoder; text that might begin a stop string is held back) */
  text: string;
  /** set on the sequence's last event */
  finish: FinishReason | null;
  /** log-probability of `token` under the model (before temperature), when logprobs was asked */
  logprob?: number;
  /** the most likely tokens and their log-probabilities, when logprobs > 0 */
  top?: TokenLogprob[];
}

/** A sequence in the generator: its prompt, its output so far and how it ended. */
export class Sequence {
  /** output tokens (a stop token excluded) */
  readonly tokens: number[] = [];
  /** output text when the generator has a decoder (a stop string and what follows excluded) */
  text = '';
  finish: FinishReason | null = null;
  /** cache slot while running, −1 while queued or done */
  slot = -1;
  /** the next-token distribution (V) once a forward has produced it */
  logits: Float32Array | null = null;
  readonly rng: Rng;
  readonly maxNew: number;
  readonly stops: Set<number>;
  readonly stream: TextStream | null;
  /** text decoded but not yet handed out (it could be the start of a stop string) */
  pending = '';
  /** characters held back while running: the longest stop string less one */
  readonly holdBack: number;
  /** ended by a stop string */
  cut = false;

  constructor(readonly id: number, readonly prompt: number[], readonly opts: SequenceOptions, maxNew: number, stream: TextStream | null) {
    this.rng = new Rng(opts.seed ?? 0);
    this.maxNew = maxNew;
    this.stops = new Set(opts.stopTokens ?? []);
    this.stream = stream;
    this.holdBack = Math.max(0, ...(opts.stopStrings ?? []).map((x) => x.length - 1));
  }

  get done(): boolean { return this.finish !== null; }
}

export interface GeneratorOptions {
  /** sequences that may run at once (KV-cache slots) */
  slots: number;
  /** positions per sequence, prompt included (default and at most the model's maxPositions) */
  maxLength?: number;
  /** a fresh text stream per sequence; needed for stop strings and text output */
  decoder?: () => TextStream;
  /** false runs the model without its LoRA adapters */
  adapters?: boolean;
  /**
   * sample only ids below this: a tokenizer smaller than the embedding (vocabularies padded to a
   * round size, or `heed init` shapes) has no text for the ids beyond it
   */
  vocabLimit?: number;
}

/**
 * Continuous batching. `add` queues a sequence; each `step` (synchronous, under noGrad) runs one
 * batched decode forward for every running sequence, prefills queued ones into free cache slots
 * (joiners of equal prompt length together), then samples one token for each and returns the
 * events. A caller yields to its event loop between steps, so nothing global crosses an await.
 */
export class Generator {
  readonly cache: KVCache;
  readonly maxLength: number;
  private readonly queue: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly free: number[];
  private nextId = 0;

  constructor(readonly model: Transformer, readonly o: GeneratorOptions) {
    if (!Number.isInteger(o.slots) || o.slots < 1) throw new Error(`heed: a generator needs at least one slot, got ${o.slots}`);
    this.maxLength = Math.min(o.maxLength ?? model.cfg.maxPositions, model.cfg.maxPositions);
    this.cache = new KVCache(model.cfg, o.slots, this.maxLength);
    this.free = Array.from({ length: o.slots }, (_, i) => o.slots - 1 - i);
  }

  /** Sequences waiting for a slot. */
  get queued(): number { return this.queue.length; }
  /** Sequences holding a slot. */
  get active(): number { return this.running.length; }
  get idle(): boolean { return this.queue.length === 0 && this.running.length === 0; }

  /** Queues a prompt; it joins the batch at the next step with a free slot. */
  add(prompt: readonly number[], opts: SequenceOptions = {}): Sequence {
    const o = checkSampling(opts);
    if (prompt.length === 0) throw new Error('heed: generate needs non-empty prompts');
    const V = this.model.cfg.vocabSize;
    for (const t of prompt) if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`heed: prompt token ${t} is outside the vocabulary of ${V}`);
    if (prompt.length >= this.maxLength) throw new Error(`heed: prompt of ${prompt.length} tokens leaves no room within ${this.maxLength} positions`);
    if (o.stopStrings?.length && !this.o.decoder) throw new Error('heed: stop strings need a decoder');
    const maxNew = Math.min(o.maxNewTokens ?? Infinity, this.maxLength - prompt.length);
    const s = new Sequence(this.nextId++, [...prompt], o, maxNew, this.o.decoder ? this.o.decoder() : null);
    this.queue.push(s);
    return s;
  }

  /** Takes a sequence out (queued or running) without an event; its slot is free for the next step. */
  cancel(s: Sequence): void {
    const q = this.queue.indexOf(s);
    if (q >= 0) this.queue.splice(q, 1);
    const r = this.running.indexOf(s);
    if (r >= 0) { this.running.splice(r, 1); this.release(s); }
  }

  /** One step: decode the running batch, prefill joiners, sample a token for each. */
  step(): TokenEvent[] {
    return noGrad(() => {
      this.decode();
      this.admit();
      const events: TokenEvent[] = [];
      for (const s of [...this.running]) if (s.logits) events.push(this.sample(s));
      return events;
    });
  }

  private forward(ids: Int32Array, B: number, T: number, slots: Int32Array): Float32Array {
    return this.model.forward(ids, B, T, { cache: this.cache, slots, lastOnly: true, adapters: this.o.adapters ?? true }).logits.f32;
  }

  /** Feeds each running sequence its last sampled token, all rows as one batch. */
  private decode(): void {
    const rows = this.running.filter((s) => !s.logits);
    if (rows.length === 0) return;
    const ids = Int32Array.from(rows, (s) => s.tokens[s.tokens.length - 1]!), slots = Int32Array.from(rows, (s) => s.slot);
    this.scatter(rows, this.forward(ids, rows.length, 1, slots));
  }

  /** Moves queued sequences into free slots and prefills them, equal prompt lengths in one forward. */
  private admit(): void {
    const joining: Sequence[] = [];
    while (this.queue.length && this.free.length) {
      const s = this.queue.shift()!;
      s.slot = this.free.pop()!;
      this.cache.reset(s.slot);
      joining.push(s);
      this.running.push(s);
    }
    const byLength = new Map<number, Sequence[]>();
    for (const s of joining) byLength.set(s.prompt.length, [...(byLength.get(s.prompt.length) ?? []), s]);
    for (const [T, group] of byLength) {
      const ids = new Int32Array(group.length * T);
      group.forEach((s, b) => ids.set(s.prompt, b * T));
      this.scatter(group, this.forward(ids, group.length, T, Int32Array.from(group, (s) => s.slot)));
    }
  }

  private scatter(rows: Sequence[], logits: Float32Array): void {
    const V = this.model.cfg.vocabSize;
    rows.forEach((s, b) => { s.logits = logits.subarray(b * V, (b + 1) * V); });
  }

  private release(s: Sequence): void {
    this.free.push(s.slot);
    s.slot = -1;
    s.logits = null;
  }

  /** Samples the next token of a sequence and applies its stop rules. */
  private sample(s: Sequence): TokenEvent {
    const o = s.opts, limit = this.o.vocabLimit ?? Infinity;
    const raw = limit < s.logits!.length ? s.logits!.subarray(0, limit) : s.logits!;
    const lp = o.logprobs !== undefined ? logprobsOf(raw, o.logprobs) : null;
    const token = sampleToken(lp ? raw.slice() : raw, o, s.rng);   // it overwrites the row, which is read again only for logprobs
    const ev: TokenEvent = { seq: s, token, text: '', finish: null };
    if (lp) { ev.logprob = raw[token]! - lp.lse; if (o.logprobs! > 0) ev.top = lp.top; }
    s.logits = null;
    if (s.stops.has(token)) s.finish = 'stop';
    else {
      s.tokens.push(token);
      if (s.stream) pushText(s, s.stream.push(token));
      if (!s.done && s.tokens.length >= s.maxNew) s.finish = 'length';
    }
    if (s.done) {
      if (s.stream && !s.cut) pushText(s, s.stream.flush());
      this.running.splice(this.running.indexOf(s), 1);
      this.release(s);
    }
    ev.text = handOut(s);
    ev.finish = s.finish;
    return ev;
  }
}

/** Adds decoded text to a sequence and ends it at the first stop string, which is cut off. */
function pushText(s: Sequence, delta: string): void {
  if (!delta) return;
  const before = s.text.length + s.pending.length;
  s.pending += delta;
  const stops = s.opts.stopStrings;
  if (!stops?.length) return;
  // a stop string can only end in the new text, so the search starts where it could begin
  const full = s.text + s.pending, from = Math.max(0, before - s.holdBack);
  let cut = -1;
  for (const x of stops) { const i = full.indexOf(x, from); if (i >= 0 && (cut < 0 || i < cut)) cut = i; }
  if (cut < 0) return;
  // text handed out never reaches within holdBack of the end, so the cut is never before it
  s.pending = full.slice(s.text.length, cut);
  s.cut = true;
  s.finish = 'stop';
}

/** The text a sequence can hand out now: all of it once done, else all but what could start a stop string. */
function handOut(s: Sequence): string {
  const n = s.done ? s.pending.length : Math.max(0, s.pending.length - s.holdBack);
  const out = s.pending.slice(0, n);
  s.text += out;
  s.pending = s.pending.slice(n);
  return out;
}

/** log Σ exp over a row, and its k most likely tokens with their log-probabilities. */
export function logprobsOf(logits: Float32Array, k: number): { lse: number; top: TokenLogprob[] } {
  let mx = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > mx) mx = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - mx);
  const lse = mx + Math.log(sum), best: number[] = [];
  // k ≤ 20: an insertion into a short sorted list beats sorting the vocabulary
  for (let i = 0; i < logits.length && k > 0; i++) {
    if (best.length === k && logits[i]! <= logits[best[k - 1]!]!) continue;
    let j = best.length < k ? best.length : k - 1;
    while (j > 0 && logits[best[j - 1]!]! < logits[i]!) { if (j < k) best[j] = best[j - 1]!; j--; }
    best[j] = i;
  }
  return { lse, top: best.map((t) => ({ token: t, logprob: logits[t]! - lse })) };
}

/** Picks one token from a row of logits. Modifies `logits` in place. */
export function sampleToken(logits: Float32Array, o: Pick<Sampling, 'temperature' | 'topK' | 'topP'>, rng: Rng): number {
  const V = logits.length, temp = o.temperature ?? 0;
  if (temp <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const topK = o.topK ?? 0, topP = o.topP ?? 1;
  // probabilities in place, the row softmax as a kernel (a decode step's sampling was ~7% of its
  // time as a loop of Math.exp)
  if (temp !== 1) for (let i = 0; i < V; i++) logits[i] = logits[i]! / temp;
  K().softmax(logits, logits, 1, V);
  if ((topK <= 0 || topK >= V) && topP >= 1) {
    // plain temperature sampling over the whole vocabulary, without index arrays
    let total = 0;
    for (let i = 0; i < V; i++) total += logits[i]!;
    let r = rng.uniform() * total;
    for (let i = 0; i < V; i++) { r -= logits[i]!; if (r <= 0) return i; }
    return V - 1;
  }
  // top-k / top-p: only the tokens that can be in the kept set are sorted (a vocabulary-wide sort
  // cost more than a decode step on 50k vocabularies)
  const p = logits;
  let total = 0, top = 0;
  for (let i = 0; i < V; i++) { total += p[i]!; if (p[i]! > top) top = p[i]!; }
  const k = topK > 0 && topK < V ? topK : V, need = (topP < 1 ? topP : 1) * total;
  // a floor low enough that the tokens at or above it hold the top-p mass or number at least k: the
  // kept tokens are all at or above it, so sorting those alone gives the order a full sort would
  let floor = top;
  for (;;) {
    let mass = 0, count = 0;
    for (let i = 0; i < V; i++) if (p[i]! >= floor) { mass += p[i]!; count++; }
    if ((topP < 1 && mass >= Math.min(total, need * (1 + 1e-6))) || (k < V && count >= k) || floor === 0) break;
    floor = floor > 1e-30 ? floor / 16 : 0;
  }
  let idx: number[] = [];
  for (let i = 0; i < V; i++) if (p[i]! >= floor) idx.push(i);
  idx.sort((a, b) => p[b]! - p[a]! || a - b);
  if (idx.length > k) idx = idx.slice(0, k);
  if (topP < 1) {
    let acc = 0, keep = 0;
    while (keep < idx.length) { acc += p[idx[keep]!]! / total; keep++; if (acc >= topP) break; }
    idx = idx.slice(0, keep);
  }
  let kept = 0;
  for (const i of idx) kept += p[i]!;
  let r = rng.uniform() * kept;
  for (const i of idx) { r -= p[i]!; if (r <= 0) return i; }
  return idx[idx.length - 1]!;
}

// ---------------------------------------------------------------- the batch-at-once wrapper

export interface GenerateOptions extends Omit<Sampling, 'maxNewTokens' | 'logprobs'> {
  /** most new tokens (default 64); generation also ends at the model's context */
  maxNewTokens?: number;
  /** needed for stop strings; the result then has texts */
  decode?: (ids: number[]) => string;
  /** called after every step with the new token of each row (−1 for finished rows) */
  onStep?: (tokens: number[]) => void;
}

export interface GenerateResult {
  /** new tokens per prompt (stop token excluded) */
  tokens: number[][];
  finish: FinishReason[];
  /** text per prompt when `decode` is given (stop string excluded) */
  texts?: string[];
}

/** A TextStream over a whole-sequence decode function; a trailing U+FFFD (an unfinished character) waits. */
function decodeStream(decode: (ids: number[]) => string): TextStream {
  const ids: number[] = [];
  let shown = 0;
  return {
    push(id) {
      ids.push(id);
      const t = decode(ids);
      let end = t.length;
      while (end > shown && t.charCodeAt(end - 1) === 0xfffd) end--;
      const d = t.slice(shown, end);
      shown = end;
      return d;
    },
    flush() { const t = decode(ids), d = t.slice(shown); shown = t.length; return d; },
  };
}

/**
 * Generates for a batch of prompts with one set of options, all at once. Row b samples with seed
 * seed + b, so row 0 of a batch draws what the same prompt draws alone.
 */
export function generate(model: Transformer, prompts: number[][], o: GenerateOptions = {}): GenerateResult {
  const B = prompts.length;
  if (B === 0) return { tokens: [], finish: [] };
  const { decode, onStep, maxNewTokens, seed, ...rest } = o;
  const g = new Generator(model, { slots: B, ...(decode && o.stopStrings?.length ? { decoder: () => decodeStream(decode) } : {}) });
  const seqs = prompts.map((p, b) => g.add(p, { ...rest, maxNewTokens: maxNewTokens ?? 64, seed: (seed ?? 0) + b }));
  const row = new Map(seqs.map((s, b) => [s, b]));
  while (!g.idle) {
    const events = g.step();
    if (!onStep) continue;
    const shown = new Array<number>(B).fill(-1);
    for (const e of events) shown[row.get(e.seq)!] = e.token;
    onStep(shown);
  }
  const tokens = seqs.map((s) => s.tokens), finish = seqs.map((s) => s.finish!);
  if (!decode) return { tokens, finish };
  return { tokens, finish, texts: seqs.map((s) => (s.stream ? s.text : decode(s.tokens))) };
}
