// Bit-exact conversions between float32 and the two 16-bit float formats heed stores weights in:
// bfloat16 (truncated f32, round-to-nearest-even) and IEEE 754 binary16 (with subnormals, inf, NaN).

/** Element dtypes a heed buffer can hold. f16/bf16 live as raw bit patterns in a Uint16Array. */
export type FloatDType = 'f32' | 'f16' | 'bf16';

// One shared scratch word for the scalar helpers; the bulk paths use views of the caller's buffers.
const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

// ---------------------------------------------------------------------------------------------
// bfloat16

/** f32 bits → bf16 bits. NaN stays NaN (quiet bit forced so truncation cannot make it an infinity). */
function bf16FromBits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; carries overflow into
  // the exponent, so the largest finite values correctly round up to infinity.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16Bits(v: number): number {
  scratchF[0] = v;
  return bf16FromBits(scratchU[0]!);
}

export function bf16BitsToF32(h: number): number {
  scratchU[0] = (h & 0xffff) << 16;
  return scratchF[0]!;
}

/** Float32Array → bf16 bit patterns. `out` may be given to avoid an allocation. */
export function f32ToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`f32ToBf16: output holds ${out.length} < ${src.length}`);
  const u = u32View(src);
  for (let i = 0; i < u.length; i++) out[i] = bf16FromBits(u[i]!);
  return out;
}

/** bf16 bit patterns → Float32Array (exact). */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`bf16ToF32: output holds ${out.length} < ${src.length}`);
  const u = u32View(out);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  return out;
}

// ---------------------------------------------------------------------------------------------
// IEEE binary16

/** f32 bits → f16 bits, round-to-nearest-even, overflow → ±inf, underflow through subnormals to ±0. */
function f16FromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  const m = x & 0x7fffff;
  if (e === 0xff) return m === 0 ? sign | 0x7c00 : sign | 0x7e00 | (m >>> 13); // keep NaN payload, quiet
  if (e >= 143) return sign | 0x7c00; // |x| ≥ 65536: past the largest half even before rounding
  if (e >= 113) {
    // normal half: rebias exponent 127 → 15, keep the top 10 mantissa bits, round on the other 13
    let h = ((e - 112) << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is the right answer
    return sign | h;
  }
  if (e < 102) return sign; // below half the smallest subnormal (2^-25): rounds to zero
  // subnormal half: value = M·2^(e-150) with M the 24-bit significand; the unit is 2^-24
  const M = m | 0x800000;
  const shift = 126 - e; // 14..24
  let h = M >>> shift;
  const rem = M & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1))) h++; // may carry into the smallest normal: correct
  return sign | h;
}

let f16Table: Uint32Array | null = null;

// 256 KiB of f32 bit patterns, built once: a lookup beats the bit arithmetic on the weight-loading
// path, and copying bits (not JS numbers) keeps NaN payloads intact.
function f16ToF32Table(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToF32BitsCompute(h);
  f16Table = t;
  return t;
}

function f16ToF32BitsCompute(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // subnormal: normalise so the leading 1 becomes the implicit bit
  let ee = 113;
  while ((m & 0x400) === 0) { m <<= 1; ee--; }
  return (sign | (ee << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

export function f32ToF16Bits(v: number): number {
  scratchF[0] = v;
  return f16FromBits(scratchU[0]!);
}

export function f16BitsToF32(h: number): number {
  scratchU[0] = f16ToF32Table()[h & 0xffff]!;
  return scratchF[0]!;
}

/** Float32Array → IEEE half bit patterns. */
export function f32ToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`f32ToF16: output holds ${out.length} < ${src.length}`);
  const u = u32View(src);
  for (let i = 0; i < u.length; i++) out[i] = f16FromBits(u[i]!);
  return out;
}

/** IEEE half bit patterns → Float32Array (exact). */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`f16ToF32: output holds ${out.length} < ${src.length}`);
  const t = f16ToF32Table();
  const u = u32View(out);
  for (let i = 0; i < src.length; i++) u[i] = t[src[i]!]!;
  return out;
}
