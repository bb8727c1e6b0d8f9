// Decode-time weight storage, as a GGUF file that llama.cpp runs holds them: the block linears and
// the LM head kept in f32, or frozen in f16 / bf16 / q8_0, which decoding's kernels read as stored
// (half or a quarter of the bytes per token, and a decode step is bound by them). A tied head gets
// its own copy in that type (the embedding lookup reads one row per token and stays f32), as
// llama.cpp reads its output matrix from token_embd's type. For inference only: no gradient flows
// through f16/bf16/q8_0 weights, and adapters need the f32 base.
import { toHalfBits } from '../core/kernels.js';
import { q8Weight, Q8_0_BLOCK } from '../core/q8.js';
import { Tensor } from '../core/tensor.js';
import { Transformer } from './transformer.js';

export const DECODE_WEIGHTS = ['f32', 'f16', 'bf16', 'q8_0'] as const;
export type DecodeWeights = (typeof DECODE_WEIGHTS)[number];
/** What --weights does, for the commands' help. */
export const WEIGHTS_HELP = 'f16/bf16 half the bytes a decoded token reads, q8_0 about a quarter: faster decoding and less memory; f16, bf16 and q8_0 round the weights, so outputs can differ slightly from f32\'s';

const STORED = /\.(q|k|v|o|gate|up|down)_proj\.weight$|^lm_head\.weight$/;

/**
 * The model with its linears (and head) stored as `w`; f32 returns it unchanged. q8_0 needs an input
 * width that is a multiple of 32: a linear without one is held as f16 instead (as llama.cpp's
 * quantizer falls back), and named to `onFallback`.
 */
export function storeWeights(model: Transformer, w: DecodeWeights, onFallback?: (name: string, width: number) => void): Transformer {
  if (w === 'f32') return model;
  if (model.lora.size || model.frozenNF4.size) throw new Error(`heed: weights ${w} are for a plain model; this one has ${model.lora.size ? 'LoRA adapters' : 'an NF4 base'}`);
  const params = new Map(model.params);
  if (model.cfg.tiedEmbeddings) params.set('lm_head.weight', params.get('model.embed_tokens.weight')!);
  for (const [name, t] of params) {
    if (!STORED.test(name)) continue;
    let kind: DecodeWeights = w;
    if (w === 'q8_0' && t.shape[1]! % Q8_0_BLOCK !== 0) { kind = 'f16'; onFallback?.(name, t.shape[1]!); }
    // a q8_0 weight is not a Tensor; linear() and decodeLayer tell the two apart
    const stored = kind === 'q8_0' ? (q8Weight(t.f32, t.shape) as unknown as Tensor) : new Tensor(toHalfBits(t.f32, kind === 'bf16'), t.shape, kind as 'f16' | 'bf16');
    params.set(name, stored);
  }
  return new Transformer({ ...model.cfg, tiedEmbeddings: false }, params);
}

/** Adapters add to f32 weights: refused (before anything loads) when the weights are to be held otherwise. */
export function checkAdaptersFit(w: DecodeWeights, adapters: number): void {
  if (w !== 'f32' && adapters > 0) throw new Error(`--weights ${w}: adapters need the f32 base weights (use --weights f32, or merge them first: heed export --to hf)`);
}

/** storeWeights for a command: says on stderr which linears q8_0 had to hold as f16. */
export function storeWeightsSaying(model: Transformer, w: DecodeWeights, what: string): Transformer {
  const fell: string[] = [];
  const out = storeWeights(model, w, (name, width) => fell.push(`${name} (${width})`));
  if (fell.length) process.stderr.write(`heed: ${what}: q8_0 needs input widths that are multiples of ${Q8_0_BLOCK}; ${fell.length} linear${fell.length > 1 ? 's' : ''} held as f16 instead: ${fell.slice(0, 3).join(', ')}${fell.length > 3 ? ', …' : ''}\n`);
  return out;
}
