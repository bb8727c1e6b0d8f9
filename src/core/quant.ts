// Frozen weights in compact storage: bf16/f16 tensors, and NF4 (4-bit NormalFloat, QLoRA) block quantization of frozen weights: each block of 64 values keeps
// one f32 absmax and 16-level codes from the normal-quantile table bitsandbytes uses, two per byte.

import type { Tensor } from './tensor.js';
import { K } from './kernels.js';
import { bf16ToF32, f16ToF32 } from './dtype.js';

/** The 16 NF4 levels (bitsandbytes' table): quantiles of N(0,1) scaled to [−1, 1], with an exact 0. */
export const NF4_LEVELS = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

const MIDPOINTS = Float32Array.from({ length: 15 }, (_, k) => (NF4_LEVELS[k]! + NF4_LEVELS[k + 1]!) / 2);

export interface NF4Weight {
  shape: number[];
  blockSize: number;
  /** two 4-bit codes per byte, low nibble first */
  codes: Uint8Array;
  absmax: Float32Array;
}

export function quantizeNF4(src: Float32Array, shape: number[], blockSize = 64): NF4Weight {
  const n = src.length, codes = new Uint8Array((n + 1) >> 1), nb = Math.ceil(n / blockSize), absmax = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const lo = b * blockSize, hi = Math.min(n, lo + blockSize);
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(src[i]!));
    absmax[b] = m;
    const inv = m > 0 ? 1 / m : 0;
    for (let i = lo; i < hi; i++) {
      const x = src[i]! * inv;
      // nearest level: binary search over the midpoints between the sorted levels
      let best = 0;
      for (let step = 8; step > 0; step >>= 1) if (best + step < 16 && x > MIDPOINTS[best + step - 1]!) best += step;
      codes[i >> 1] = (i & 1) ? (codes[i >> 1]! | (best << 4)) : best;
    }
  }
  return { shape: [...shape], blockSize, codes, absmax };
}

export function dequantizeNF4(q: NF4Weight, out: Float32Array): Float32Array {
  K().nf4Dequant(q.codes, q.absmax, NF4_LEVELS, q.blockSize, out, out.length);
  return out;
}

/** Bytes held by a quantized weight. */
export function nf4Bytes(q: NF4Weight): number { return q.codes.byteLength + q.absmax.byteLength; }

let nf4Scratch = new Float32Array(0);
/** Dequantizes into a scratch buffer shared by all NF4 linears (ops run one at a time). */
export function nf4Dense(q: NF4Weight): Float32Array {
  const n = q.shape[0]! * q.shape[1]!;
  if (nf4Scratch.length < n) nf4Scratch = new Float32Array(n);
  return dequantizeNF4(q, nf4Scratch.subarray(0, n));
}


let halfScratch = new Float32Array(0);
/**
 * The f32 values of a frozen bf16/f16 weight, widened into a scratch buffer shared by all such
 * linears (ops run one at a time; the result is only valid until the next call).
 */
export function halfDense(w: Tensor): Float32Array {
  if (w.dtype === 'f32') return w.f32;
  if (w.requiresGrad) throw new Error(`heed: a ${w.dtype} weight cannot be trained (only frozen weights may be stored in half precision)`);
  if (halfScratch.length < w.size) halfScratch = new Float32Array(w.size);
  const out = halfScratch.subarray(0, w.size), src = w.data as Uint16Array;
  return w.dtype === 'bf16' ? bf16ToF32(src, out) : f16ToF32(src, out);
}
