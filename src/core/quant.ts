// Frozen weights in compact storage: bf16/f16 tensors, and NF4 (4-bit NormalFloat, QLoRA) block quantization of frozen weights: each block of 64 values keeps
// one f32 absmax and 16-level codes from the normal-quantile table bitsandbytes uses, two per byte
// in bitsandbytes' layout (test/nn/nf4.test.ts checks codes and values against it bit for bit).

import type { Tensor } from './tensor.js';
import { K, fromHalfBits } from './kernels.js';

/**
 * The 16 NF4 levels: quantiles of N(0,1) scaled to [−1, 1], with an exact 0. Copied from
 * bitsandbytes (bitsandbytes-foundation/bitsandbytes, bitsandbytes/functional.py get_4bit_type("nf4"),
 * the same values as nf4_dequantization_lut in csrc/kernels.cu).
 */
export const NF4_LEVELS = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

const MIDPOINTS = Float32Array.from({ length: 15 }, (_, k) => (NF4_LEVELS[k]! + NF4_LEVELS[k + 1]!) / 2);
const MIN_ABSMAX = Math.fround(1e-38), ZERO_CODE = 7;

export interface NF4Weight {
  shape: number[];
  blockSize: number;
  /** two 4-bit codes per byte, the first element in the high nibble (bitsandbytes' packing) */
  codes: Uint8Array;
  absmax: Float32Array;
}

/**
 * Block-wise absmax quantization as bitsandbytes' quantize_4bit does it: each value is scaled by
 * the float32 reciprocal of its block's absmax (clamped to 1e-38, so a zero block codes to 0.0),
 * rounded to float32, and coded as the nearest level (a tie at a midpoint goes to the lower one).
 */
export function quantizeNF4(src: Float32Array, shape: number[], blockSize = 64): NF4Weight {
  const n = src.length, codes = new Uint8Array((n + 1) >> 1), nb = Math.ceil(n / blockSize), absmax = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const lo = b * blockSize, hi = Math.min(n, lo + blockSize);
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(src[i]!));
    absmax[b] = m;
    const inv = Math.fround(1 / Math.max(m, MIN_ABSMAX));
    for (let i = lo; i < hi; i++) {
      const x = Math.fround(src[i]! * inv);
      // nearest level: binary search over the midpoints between the sorted levels
      let best = 0;
      for (let step = 8; step > 0; step >>= 1) if (best + step < 16 && x > MIDPOINTS[best + step - 1]!) best += step;
      codes[i >> 1] = (i & 1) ? (codes[i >> 1]! | best) : best << 4;
    }
  }
  if (n & 1) codes[n >> 1] = codes[n >> 1]! | ZERO_CODE; // bitsandbytes pads an odd count with a 0.0
  return { shape: [...shape], blockSize, codes, absmax };
}

export function dequantizeNF4(q: NF4Weight, out: Float32Array): Float32Array {
  K().nf4Dequant(q.codes, q.absmax, NF4_LEVELS, q.blockSize, out, out.length);
  return out;
}

/** Bytes held by a quantized weight. */
export function nf4Bytes(q: NF4Weight): number { return q.codes.byteLength + q.absmax.byteLength; }

let scratch = new Float32Array(0);

/** True for an NF4-quantized weight (as opposed to a Tensor). */
export function isNF4(w: Tensor | NF4Weight): w is NF4Weight { return (w as NF4Weight).codes !== undefined; }

/**
 * The f32 values of a weight for a matmul: an f32 tensor's own storage; a frozen bf16/f16 tensor
 * widened, or an NF4 weight dequantized, into one scratch buffer (ops run one at a time, so the
 * result is only valid until the next call; copy it to keep it).
 */
export function denseWeight(w: Tensor | NF4Weight): Float32Array {
  if (!isNF4(w) && w.dtype === 'f32') return w.f32;
  if (!isNF4(w) && w.requiresGrad) throw new Error(`heed: a ${w.dtype} weight cannot be trained (only frozen weights may be stored in half precision)`);
  const n = w.shape[0]! * w.shape[1]!;
  if (scratch.length < n) scratch = new Float32Array(n);
  const out = scratch.subarray(0, n);
  if (isNF4(w)) return dequantizeNF4(w, out);
  return fromHalfBits(w.data as Uint16Array, w.dtype === 'bf16', out);
}
