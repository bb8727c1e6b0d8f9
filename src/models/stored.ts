// Decode-time weight storage, as a GGUF file that llama.cpp runs holds them: the block linears and
// the LM head kept in f32, or frozen in f16 / bf16 / q8_0, which decoding's kernels read as stored
// (half or a quarter of the bytes per token, and a decode step is bound by them). A tied head gets
// its own copy in that type (the embedding lookup reads one row per token and stays f32), as
// llama.cpp reads its output matrix from token_embd's type. For inference only: no gradient flows
// through f16/bf16/q8_0 weights, and adapters need the f32 base.
import { f32ToBf16, f32ToF16 } from '../core/dtype.js';
import { q8Weight, Q8_0_BLOCK } from '../core/q8.js';
import { Tensor } from '../core/tensor.js';
import { Transformer } from './transformer.js';

export const DECODE_WEIGHTS = ['f32', 'f16', 'bf16', 'q8_0'] as const;
export type DecodeWeights = (typeof DECODE_WEIGHTS)[number];

const STORED = /\.(q|k|v|o|gate|up|down)_proj\.weight$|^lm_head\.weight$/;

/** The model with its linears (and head) stored as `w`; f32 returns it unchanged. */
export function storeWeights(model: Transformer, w: DecodeWeights): Transformer {
  if (w === 'f32') return model;
  if (model.lora.size || model.frozenNF4.size) throw new Error(`heed: weights ${w} are for a plain model; this one has ${model.lora.size ? 'LoRA adapters' : 'an NF4 base'}`);
  const params = new Map(model.params);
  if (model.cfg.tiedEmbeddings) params.set('lm_head.weight', params.get('model.embed_tokens.weight')!);
  for (const [name, t] of params) {
    if (!STORED.test(name)) continue;
    if (w === 'q8_0' && t.shape[1]! % Q8_0_BLOCK !== 0) throw new Error(`heed: weights q8_0 need every linear's input width to be a multiple of ${Q8_0_BLOCK}; ${name} has ${t.shape[1]}`);
    // a q8_0 weight is not a Tensor; linear() and decodeLayer tell the two apart
    const stored = w === 'q8_0' ? (q8Weight(t.f32, t.shape) as unknown as Tensor) : new Tensor(w === 'f16' ? f32ToF16(t.f32) : f32ToBf16(t.f32), t.shape, w);
    params.set(name, stored);
  }
  return new Transformer({ ...model.cfg, tiedEmbeddings: false }, params);
}
