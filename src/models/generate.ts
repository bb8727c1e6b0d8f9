// Generation: batched prompts of different lengths (left-padded, masked), a KV cache, greedy or
// temperature / top-k / top-p sampling from a seeded RNG, stop tokens, stop strings, a token limit.
import { noGrad } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { KVCache, type Transformer } from './transformer.js';

export interface GenerateOptions {
  maxNewTokens?: number;
  /** 0 = greedy */
  temperature?: number;
  /** keep the k most likely tokens (0 = off) */
  topK?: number;
  /** keep the smallest set with probability ≥ p (1 = off) */
  topP?: number;
  stopTokens?: number[];
  /** needs `decode`; generation ends once the new text contains one, which is cut off */
  stopStrings?: string[];
  decode?: (ids: number[]) => string;
  seed?: number;
  /** called after every step with the new token of each row (−1 for finished rows) */
  onStep?: (tokens: number[]) => void;
}

export type FinishReason = 'stop' | 'length';

export interface GenerateResult {
  /** new tokens per prompt (stop token excluded) */
  tokens: number[][];
  finish: FinishReason[];
  /** text per prompt when `decode` is given (stop string excluded) */
  texts?: string[];
}

/** Picks one token from a row of logits. Modifies `logits` in place. */
export function sampleToken(logits: Float32Array, o: GenerateOptions, rng: Rng): number {
  const V = logits.length, temp = o.temperature ?? 0;
  if (temp <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const topK = o.topK ?? 0, topP = o.topP ?? 1;
  if ((topK <= 0 || topK >= V) && topP >= 1) {
    // plain temperature sampling over the whole vocabulary, without index arrays
    let mx = -Infinity;
    for (let i = 0; i < V; i++) if (logits[i]! > mx) mx = logits[i]!;
    let total = 0;
    for (let i = 0; i < V; i++) { const e = Math.exp((logits[i]! - mx) / temp); logits[i] = e; total += e; }
    let r = rng.uniform() * total;
    for (let i = 0; i < V; i++) { r -= logits[i]!; if (r <= 0) return i; }
    return V - 1;
  }
  let idx = Array.from({ length: V }, (_, i) => i);
  if (topK > 0 && topK < V) idx = idx.sort((a, b) => logits[b]! - logits[a]!).slice(0, topK);
  else if (topP < 1) idx.sort((a, b) => logits[b]! - logits[a]!);
  let mx = -Infinity;
  for (const i of idx) mx = Math.max(mx, logits[i]!);
  const p = idx.map((i) => Math.exp((logits[i]! - mx) / temp));
  let total = p.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let acc = 0, keep = 0;
    while (keep < p.length) { acc += p[keep]! / total; keep++; if (acc >= topP) break; }
    idx = idx.slice(0, keep); p.length = keep;
    total = p.reduce((a, b) => a + b, 0);
  }
  let r = rng.uniform() * total;
  for (let i = 0; i < p.length; i++) { r -= p[i]!; if (r <= 0) return idx[i]!; }
  return idx[idx.length - 1]!;
}

export function generate(model: Transformer, prompts: number[][], o: GenerateOptions = {}): GenerateResult {
  return noGrad(() => {
    const B = prompts.length, maxNew = o.maxNewTokens ?? 64, rng = new Rng(o.seed ?? 0);
    const P = Math.max(...prompts.map((p) => p.length));
    if (B === 0) return { tokens: [], finish: [] };
    if (prompts.some((p) => p.length === 0)) throw new Error('heed: generate needs non-empty prompts');
    const Tmax = Math.min(P + maxNew, model.cfg.maxPositions);
    if (P >= Tmax) throw new Error(`heed: prompt of ${P} tokens leaves no room within ${model.cfg.maxPositions} positions`);
    const cache = new KVCache(model.cfg, B, Tmax), mask = new Uint8Array(B * Tmax);
    const ids = new Int32Array(B * P), positions = new Int32Array(B * P), next = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const p = prompts[b]!, pad = P - p.length;
      for (let t = 0; t < P; t++) {
        ids[b * P + t] = t < pad ? p[0]! : p[t - pad]!;
        positions[b * P + t] = Math.max(0, t - pad);
        mask[b * Tmax + t] = t < pad ? 0 : 1;
      }
      next[b] = p.length; // next position per row
    }
    const stops = new Set(o.stopTokens ?? []), out: number[][] = prompts.map(() => []);
    const finish: FinishReason[] = prompts.map(() => 'length'), done = new Array<boolean>(B).fill(false);
    const cut: Array<string | null> = prompts.map(() => null);
    let logits = model.forward(ids, B, P, { cache, keyMask: mask, positions, lastOnly: true }).logits;
    const V = model.cfg.vocabSize;
    for (let step = 0; step < Tmax - P; step++) {
      const tok = new Int32Array(B), shown: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) { tok[b] = 0; shown.push(-1); continue; }
        const t = sampleToken(logits.f32.slice(b * V, (b + 1) * V), o, rng);
        tok[b] = t; shown.push(t);
        if (stops.has(t)) { done[b] = true; finish[b] = 'stop'; continue; }
        out[b]!.push(t);
        if (o.decode && o.stopStrings?.length) {
          const text = o.decode!(out[b]!), hit = o.stopStrings.map((s) => text.indexOf(s)).filter((i) => i >= 0);
          if (hit.length) { done[b] = true; finish[b] = 'stop'; cut[b] = text.slice(0, Math.min(...hit)); }
        }
      }
      o.onStep?.(shown);
      if (done.every(Boolean) || step === Tmax - P - 1) break;
      const pos = new Int32Array(B);
      for (let b = 0; b < B; b++) { pos[b] = next[b]!; next[b] = next[b]! + 1; mask[b * Tmax + cache.len] = 1; }
      logits = model.forward(tok, B, 1, { cache, keyMask: mask, positions: pos }).logits;
    }
    if (!o.decode) return { tokens: out, finish };
    return { tokens: out, finish, texts: out.map((t, b) => cut[b] ?? o.decode!(t)) };
  });
}
