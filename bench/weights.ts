// Decode-time weight storage for the generation benchmark, as the GGUF file llama.cpp runs holds
// them: the block linears and the LM head kept in f32, or frozen in f16 / bf16 / q8_0, which heed's
// linear reads as stored. A tied head gets its own copy in that type (the embedding lookup reads
// one row per token and stays f32), as llama.cpp reads its output matrix from token_embd's type.
import { f32ToBf16, f32ToF16 } from '../src/core/dtype.js';
import { q8Weight } from '../src/core/q8.js';
import { Tensor } from '../src/core/tensor.js';
import { Transformer } from '../src/models/transformer.js';

export const DECODE_WEIGHTS = ['f32', 'f16', 'bf16', 'q8_0'] as const;
export type DecodeWeights = (typeof DECODE_WEIGHTS)[number];

const STORED = /\.(q|k|v|o|gate|up|down)_proj\.weight$|^lm_head\.weight$/;

/** The model with its linears (and head) stored as `w`; f32 returns it unchanged. */
export function storeWeights(model: Transformer, w: DecodeWeights): Transformer {
  if (w === 'f32') return model;
  const params = new Map(model.params);
  if (model.cfg.tiedEmbeddings) params.set('lm_head.weight', params.get('model.embed_tokens.weight')!);
  for (const [name, t] of params) {
    if (!STORED.test(name)) continue;
    // a q8_0 weight is not a Tensor; linear() tells the two apart
    const stored = w === 'q8_0' ? (q8Weight(t.f32, t.shape) as unknown as Tensor) : new Tensor(w === 'f16' ? f32ToF16(t.f32) : f32ToBf16(t.f32), t.shape, w);
    params.set(name, stored);
  }
  return new Transformer({ ...model.cfg, tiedEmbeddings: false }, params);
}
