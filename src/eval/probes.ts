// Probes of what a base model learned in pretraining: in-context copying (loss on a passage at its
// first and second reading) and stored facts (greedy completions of country capitals).
import { noGrad } from '../core/autograd.js';
import { crossEntropy, reshape } from '../core/ops.js';
import { loadCountries } from '../data/sources.js';
import { generate } from '../models/generate.js';
import type { Transformer } from '../models/transformer.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface CopyProbe { firstReading: number; secondReading: number }

/**
 * In-context copying: mean loss on validation passages (64 tokens) at their first reading and
 * when the same passage follows again at once. A model that uses its context to copy has a much
 * lower second-reading loss; one that does not, about the same.
 */
export function copyProbe(model: Transformer, val: Int32Array, passages = 16, L = 64): CopyProbe {
  const n = Math.min(passages, Math.floor(val.length / L));
  if (n === 0) return { firstReading: NaN, secondReading: NaN };
  const T = 2 * L, ids = new Int32Array(n * T), first = new Int32Array(n * T).fill(-100), second = new Int32Array(n * T).fill(-100);
  for (let b = 0; b < n; b++) {
    const p = val.subarray(b * L, b * L + L);
    ids.set(p, b * T); ids.set(p, b * T + L);
    for (let t = 0; t < L - 1; t++) { first[b * T + t] = p[t + 1]!; second[b * T + L + t] = p[t + 1]!; }
  }
  // one forward pass; both readings are scored from the same logits
  return noGrad(() => {
    const logits = reshape(model.forward(ids, n, T).logits, [n * T, -1]);
    return { firstReading: crossEntropy(logits, first).item(), secondReading: crossEntropy(logits, second).item() };
  });
}

export interface FactProbe { correct: number; n: number }

/**
 * Stored facts: greedy completions of "The capital of <country> is" over the countries-list
 * countries, counted right when they start with the capital. The almanac corpus source states
 * these facts; without it a small model gets almost none.
 */
export function capitalsProbe(model: Transformer, tok: Tokenizer, limit = Infinity): FactProbe {
  const cs = loadCountries().filter((c) => c.capital !== '').slice(0, limit);
  const eos = tok.tokenToId('<|endoftext|>');
  const r = generate(model, cs.map((c) => tok.encode(`The capital of ${c.name} is`)), { maxNewTokens: 16, temperature: 0, ...(eos !== undefined ? { stopTokens: [eos] } : {}) });
  const correct = r.tokens.filter((ids, i) => tok.decode(ids).trimStart().startsWith(cs[i]!.capital)).length;
  return { correct, n: cs.length };
}

/** Both probes, as pretraining reports them (result.json and its closing line). */
export function pretrainProbes(model: Transformer, tok: Tokenizer, val: Int32Array): { figures: { copy: CopyProbe; capitals: FactProbe }; line: string } {
  const copy = copyProbe(model, val), capitals = capitalsProbe(model, tok);
  return { figures: { copy, capitals }, line: `loss on a repeated passage ${copy.firstReading.toFixed(2)} → ${copy.secondReading.toFixed(2)} (in-context copying); capitals recalled ${capitals.correct}/${capitals.n}` };
}
