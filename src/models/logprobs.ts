// Log-probabilities of chosen tokens under a model, batched, with or without gradients: the one
// path that PPO, DPO, GRPO, the judge and `heed logprobs` all use. Sequences are right-padded
// (causal attention never looks right, so padding changes nothing before it) and only the scored
// positions pay for the LM head.
import { noGrad } from '../core/autograd.js';
import type { Tensor } from '../core/tensor.js';
import * as op from '../core/ops.js';
import type { Transformer } from './transformer.js';

/**
 * B rows of T tokens, right-padded. Token t of row b is scored (its log-probability given the
 * tokens before it) where mask[b·T + t] = 1; mask at t = 0 must be 0 (nothing predicts it).
 */
export interface ScoredBatch { ids: Int32Array; B: number; T: number; mask: Uint8Array }

/** A prompt and the tokens that follow it; only the response is scored. */
export interface PromptResponse { prompt: readonly number[]; response: readonly number[] }

/** Rows of prompt + response, right-padded with `padId`, the response tokens masked in. */
export function scoredBatch(items: readonly PromptResponse[], padId = 0): ScoredBatch {
  if (items.length === 0) throw new Error('heed: scoredBatch needs at least one sequence');
  const B = items.length, T = Math.max(...items.map((it) => it.prompt.length + it.response.length));
  const ids = new Int32Array(B * T).fill(padId), mask = new Uint8Array(B * T);
  items.forEach((it, b) => {
    if (it.prompt.length === 0) throw new Error(`heed: sequence ${b} has an empty prompt (the first response token needs a token before it)`);
    ids.set(it.prompt, b * T);
    ids.set(it.response, b * T + it.prompt.length);
    mask.fill(1, b * T + it.prompt.length, b * T + it.prompt.length + it.response.length);
  });
  return { ids, B, T, mask };
}

export interface LogprobOptions {
  /** keep the graph for backward (default false: computed under noGrad) */
  grad?: boolean;
  /** false: the base model without its LoRA adapters (a LoRA policy's reference) */
  adapters?: boolean;
  /** training mode (LoRA dropout) */
  training?: boolean;
  /** also return each scored position's entropy of the full next-token distribution (no grad) */
  entropy?: boolean;
}

export interface TokenLogprobs {
  /** (n) log p of each scored token, in row-major order */
  logp: Tensor;
  /** its row b */
  row: Int32Array;
  /** its flat position b·T + t */
  at: Int32Array;
  /** (n) entropy in nats of the distribution the token was drawn from, when asked for */
  entropy?: Float32Array;
}

/** Log p of every scored token. */
export function tokenLogprobs(model: Transformer, b: ScoredBatch, o: LogprobOptions = {}): TokenLogprobs {
  const run = () => {
    const { ids, B, T, mask } = b;
    if (ids.length !== B * T || mask.length !== B * T) throw new Error(`heed: scored batch has ${ids.length} ids and ${mask.length} mask entries for B=${B}, T=${T}`);
    let n = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i]) { if (i % T === 0) throw new Error(`heed: row ${i / T} scores its first token, which nothing predicts`); n++; }
    // logits at t−1 predict the token at t
    const rows = new Int32Array(n), targets = new Int32Array(n), row = new Int32Array(n), at = new Int32Array(n);
    for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) { rows[j] = i - 1; targets[j] = ids[i]!; row[j] = Math.floor(i / T); at[j++] = i; }
    const { logits } = model.forward(ids, B, T, { rows, adapters: o.adapters ?? true, training: o.training ?? false });
    const logp = op.tokenLogprobs(logits, targets);
    return { logp, row, at, ...(o.entropy ? { entropy: entropies(logits) } : {}) };
  };
  return o.grad ? run() : noGrad(run);
}

/** Σ log p over each row's scored tokens: (B). Differentiable when `grad` is set. */
export function sequenceLogprobs(model: Transformer, b: ScoredBatch, o: LogprobOptions = {}): Tensor {
  const t = tokenLogprobs(model, b, o);
  return o.grad ? op.segmentSum(t.logp, t.row, b.B) : noGrad(() => op.segmentSum(t.logp, t.row, b.B));
}

/** Entropy −Σ p log p of each row of logits (rows, V), in nats. */
export function entropies(logits: Tensor): Float32Array {
  const V = logits.shape[logits.shape.length - 1]!, d = logits.f32, n = d.length / V, out = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let mx = -Infinity;
    for (let i = 0; i < V; i++) mx = Math.max(mx, d[r * V + i]!);
    let z = 0, s = 0;
    for (let i = 0; i < V; i++) { const x = d[r * V + i]! - mx, e = Math.exp(x); z += e; s += e * x; }
    out[r] = Math.log(z) - s / z;
  }
  return out;
}
