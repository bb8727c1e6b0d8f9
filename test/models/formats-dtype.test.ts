// f32 ↔ bf16 / f16 conversions, checked on hand-derived bit patterns, exhaustively over all 65536
// 16-bit codes, and against the encodings PyTorch produced for test/fixtures/models/dtypes.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bf16BitsToF32, bf16ToF32, f16BitsToF32, f16ToF32, f32ToBf16, f32ToBf16Bits, f32ToF16, f32ToF16Bits,
} from '../../src/core/dtype.js';

const fromBits = (u: number) => new Float32Array(new Uint32Array([u >>> 0]).buffer)[0]!;
const bitsOf = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));
const hex = (v: number) => '0x' + v.toString(16).padStart(4, '0');

test('f32 → bf16: rounding, ties to even, overflow, NaN, signed zero', () => {
  const cases: [number, number][] = [
    [0x00000000, 0x0000], [0x80000000, 0x8000], [0x3f800000, 0x3f80], [0xc0200000, 0xc020],
    [0x3f808000, 0x3f80], // exact tie, kept bit even → down
    [0x3f818000, 0x3f82], // exact tie, kept bit odd → up
    [0x3f808001, 0x3f81], // just above the tie → up
    [0x3f807fff, 0x3f80], // just below the tie → down
    [0x7f7fffff, 0x7f80], // largest finite f32 rounds to +inf in bf16
    [0x7f800000, 0x7f80], [0xff800000, 0xff80],
    [0x7fc00000, 0x7fc0], [0xffc00000, 0xffc0],
    [0x7f800001, 0x7fc0], // signalling NaN with payload only in dropped bits must stay NaN, not become inf
    [0x00000001, 0x0000], // f32 subnormal below bf16 resolution
    [0x00010000, 0x0001],
  ];
  const src = new Float32Array(cases.map(([u]) => fromBits(u)));
  const got = f32ToBf16(src);
  cases.forEach(([u, want], i) => {
    assert.equal(hex(got[i]!), hex(want), `f32 bits 0x${u.toString(16)}`);
    // the scalar path does not go through NaN canonicalisation-sensitive code except for NaN inputs
    if (!Number.isNaN(src[i]!)) assert.equal(hex(f32ToBf16Bits(src[i]!)), hex(want));
  });
});

test('bf16 → f32 is exact and every non-NaN code round-trips', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = bf16ToF32(all);
  const u = bitsOf(f);
  for (let h = 0; h < 65536; h++) assert.equal(u[h], (h << 16) >>> 0);
  const back = f32ToBf16(f);
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(f[h]!)) assert.ok((back[h]! & 0x7fff) > 0x7f80, `NaN code ${hex(h)} decoded and re-encoded as ${hex(back[h]!)}`);
    else assert.equal(back[h], h);
  }
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.ok(Object.is(bf16BitsToF32(0x8000), -0));
});

test('f32 → f16: normals, ties, overflow, subnormals, underflow, inf, NaN', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [65519.99, 0x7bff], // below the midpoint to 65536 → largest finite
    [65520, 0x7c00], // exact midpoint, largest finite has odd mantissa → rounds to inf
    [1e6, 0x7c00], [-1e6, 0xfc00],
    [1 + 2 ** -11, 0x3c00], // tie → even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal → even (0)
    [2 ** -25 * 1.5, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between subnormals 1 and 2 → even (2)
    [5 * 2 ** -25, 0x0002], // tie between 2 and 3 → even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // subnormal rounding carries into the smallest normal
    [2 ** -26, 0x0000], [-(2 ** -24), 0x8001], [1e-40, 0x0000],
    [Infinity, 0x7c00], [-Infinity, 0xfc00], [-0, 0x8000], [0, 0x0000],
  ];
  const src = new Float32Array(cases.map(([v]) => v));
  const got = f32ToF16(src);
  cases.forEach(([v, want], i) => {
    assert.equal(hex(got[i]!), hex(want), `f16(${v})`);
    assert.equal(hex(f32ToF16Bits(v)), hex(want), `scalar f16(${v})`);
  });
  const nan = f32ToF16(new Float32Array([NaN, fromBits(0x7f800001), fromBits(0xffc00000)]));
  for (const h of nan) assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, `NaN encoded as ${hex(h)}`);
  assert.equal(nan[2]! & 0x8000, 0x8000, 'NaN sign kept');
});

test('f16 → f32 is exact and every non-NaN code round-trips', () => {
  const known: [number, number][] = [
    [0x0001, 2 ** -24], [0x03ff, 2 ** -14 - 2 ** -24], [0x0400, 2 ** -14], [0x3c00, 1], [0x3555, 0.333251953125],
    [0x7bff, 65504], [0x7c00, Infinity], [0xfc00, -Infinity], [0xc000, -2],
  ];
  for (const [h, v] of known) assert.equal(f16BitsToF32(h), v, hex(h));
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = f16ToF32(all);
  const back = f32ToF16(f);
  for (let h = 0; h < 65536; h++) {
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    assert.equal(Number.isNaN(f[h]!), isNaN16, hex(h));
    if (isNaN16) assert.equal(back[h]! & 0x7c00, 0x7c00);
    else assert.equal(back[h], h, `${hex(h)} → ${f[h]} → ${hex(back[h]!)}`);
  }
});

test('f32 → f16 agrees with a slow reference on random f32 bit patterns', () => {
  // Reference: nearest representable half by exhaustive search over neighbours in double precision.
  const halves = f16ToF32(new Uint16Array(0x7c01).map((_, i) => i)); // 0 .. +inf, ascending
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0));
  const src = new Float32Array(20000);
  const u = new Uint32Array(src.buffer);
  for (let i = 0; i < u.length; i++) {
    // concentrate on the half range: exponents 90..150
    const e = 90 + (rnd() % 61);
    u[i] = ((rnd() & 1) << 31) | (e << 23) | (rnd() & 0x7fffff);
  }
  const got = f32ToF16(src);
  for (let i = 0; i < src.length; i++) {
    const x = Math.abs(src[i]!);
    let lo = 0, hi = 0x7c00;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (halves[mid]! <= x) lo = mid; else hi = mid; }
    // x lies in [halves[lo], halves[hi]); the largest finite half rounds up to inf past 65520
    const a = halves[lo]!, b = hi === 0x7c00 ? 65536 : halves[hi]!;
    const want = x - a < b - x ? lo : x - a > b - x ? hi : (lo & 1 ? hi : lo);
    assert.equal(hex(got[i]! & 0x7fff), hex(want), `f16(${src[i]})`);
  }
});

test('conversions agree bit for bit with PyTorch (fixture)', () => {
  const fx = JSON.parse(readFileSync('test/fixtures/models/dtypes.json', 'utf8')) as { f32_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
  const src = new Float32Array(new Uint32Array(fx.f32_bits).buffer);
  const f16 = f32ToF16(src);
  const bf16 = f32ToBf16(src);
  fx.f32_bits.forEach((b, i) => {
    const isNaN32 = Number.isNaN(src[i]!);
    // torch canonicalises NaN to 0x7e00 / 0x7fc0; heed keeps payload bits, so compare NaN-ness only
    if (isNaN32) {
      assert.equal(f16[i]! & 0x7c00, 0x7c00);
      assert.ok((bf16[i]! & 0x7fff) > 0x7f80);
      return;
    }
    assert.equal(hex(f16[i]!), hex(fx.f16_bits[i]!), `f16 of f32 bits 0x${b.toString(16)}`);
    assert.equal(hex(bf16[i]!), hex(fx.bf16_bits[i]!), `bf16 of f32 bits 0x${b.toString(16)}`);
  });
});

test('outputs can be supplied and subarray views convert in place', () => {
  const big = new Float32Array([9, 1, 2, 9]);
  const out = new Uint16Array(2);
  assert.equal(f32ToF16(big.subarray(1, 3), out), out);
  assert.deepEqual(Array.from(out), [0x3c00, 0x4000]);
  assert.throws(() => f32ToBf16(big, new Uint16Array(1)), RangeError);
  const back = new Float32Array(4);
  bf16ToF32(new Uint16Array([0x3f80, 0x4000]), back.subarray(2));
  assert.deepEqual(Array.from(back), [0, 0, 1, 2]);
});
