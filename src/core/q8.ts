// q8_0 weights, llama.cpp's 8-bit format: blocks of 32 values, each an f16 scale d = max|x|/127 then
// 32 int8 codes round(x/d). Frozen weights for decoding; the GGUF writer stores the same bytes.
import { K } from './kernels.js';

export const Q8_0_BLOCK = 32;
export const Q8_0_BYTES = 2 + Q8_0_BLOCK;

/** A (out, in) weight in q8_0 blocks, row by row (in a multiple of 32). Inference only. */
export interface Q8Weight { format: 'q8_0'; shape: number[]; blocks: Uint8Array }

export function isQ8(w: unknown): w is Q8Weight { return (w as Q8Weight | null)?.format === 'q8_0'; }

/**
 * ggml's quantize_row_q8_0_ref: per block of 32, d = max|x|/127 stored as f16, codes round(x / d)
 * with ties away from zero (C's roundf), computed in f32 as the C code does (the kernels' quantizeQ8;
 * native, or the TypeScript reference in kernels.ts).
 */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
  if (src.length % Q8_0_BLOCK !== 0) throw new Error(`q8_0: ${src.length} values are not a whole number of blocks of ${Q8_0_BLOCK}`);
  const out = new Uint8Array((src.length / Q8_0_BLOCK) * Q8_0_BYTES);
  K().quantizeQ8(src, out, src.length);
  return out;
}

/** An f32 (out, in) weight as q8_0; `in` must be a multiple of 32. */
export function q8Weight(src: Float32Array, shape: readonly number[]): Q8Weight {
  if (shape.length !== 2 || shape[1]! % Q8_0_BLOCK !== 0) throw new Error(`heed: q8_0 needs a 2-D weight with rows a multiple of ${Q8_0_BLOCK}, got [${shape}]`);
  return { format: 'q8_0', shape: [...shape], blocks: quantizeQ8_0(src) };
}

let scratch = new Float32Array(0);

/** The weight's values in one scratch buffer (valid until the next call; copy it to keep it). */
export function dequantQ8(w: Q8Weight): Float32Array {
  const n = w.shape[0]! * w.shape[1]!;
  if (scratch.length < n) scratch = new Float32Array(n);
  const out = scratch.subarray(0, n);
  K().dequantQ8(w.blocks, out, n);
  return out;
}
