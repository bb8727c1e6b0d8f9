// Decoding's compact-weight products (native/gemv.cc, and their TypeScript references) against a
// float64 product written here from the formats' definitions: f16/bf16 bit patterns, and q8_0 blocks
// (the gguf-py fixture's bytes: value = f16 scale · int8 code). Odd shapes exercise the masked tails,
// 1 to 6 rows the grouping of rows over one pass of W; linear() picks these kernels for ≤ 16 rows.
// Also the conversions into those formats (toHalf, quantizeQ8) and the NaN/Inf scan of model loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../src/kernels/native.js';
import { nativeKernels, refKernels, useBackend, type Kernels } from '../../src/core/kernels.js';
import { bf16ToF32, f16BitsToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/core/dtype.js';
import { q8Weight } from '../../src/core/q8.js';
import { linear, linears } from '../../src/core/ops.js';
import { Tensor } from '../../src/core/tensor.js';

loadNative();
const native = nativeKernels();
if (!native && process.env.HEED_REQUIRE_NATIVE === '1') throw new Error('kernels: HEED_REQUIRE_NATIVE=1 but the native addon did not load');
const backends: Array<[string, Kernels]> = [['ref', refKernels], ...(native ? [['native', native] as [string, Kernels]] : [])];

let seed = 99;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const randn = (n: number) => Float32Array.from({ length: n }, rand);

/**
 * The values a q8_0 product's input is rounded to, from llama.cpp's definition (quantize_row_q8_0):
 * per block of 32, d = max|x|/127 as an f16, code round(x·127/max|x|) with ties to even.
 */
function q8Input(x: Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const blk = Array.from(x.subarray(b * 32, b * 32 + 32)), amax = Math.max(...blk.map(Math.abs));
    const d = f16BitsToF32(f32ToF16(Float32Array.of(amax / 127))[0]!), id = amax > 0 ? Math.fround(127 / amax) : 0;
    blk.forEach((v, j) => {
      const t = Math.fround(v * id), fl = Math.floor(t), code = t - fl === 0.5 ? (fl % 2 === 0 ? fl : fl + 1) : Math.round(t);
      out[b * 32 + j] = d * code;
    });
  }
  return out;
}

/** x (rows×I) · Wᵀ in float64 for W given as values. */
function reference(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, O: number, I: number): Float64Array {
  const out = new Float64Array(rows * O);
  for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) {
    let s = 0;
    for (let i = 0; i < I; i++) s += x[r * I + i]! * w[o * I + i]!;
    out[r * O + o] = s;
  }
  return out;
}

function close(got: Float32Array, want: Float64Array, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * scale, `${what}: [${i}] ${got[i]} vs ${want[i]}`);
}

for (const [name, k] of backends) {
  test(`${name}: linearHalf on f16 and bf16 weights, 1-6 rows, rows not a multiple of 16`, () => {
    // 37×2051: rows past 4 KB take the eight-rows-at-once path of a one-row product (37 is not a multiple of 8, 2051 not of 16)
    for (const [O, I] of [[37, 40], [130, 96], [5, 7], [37, 2051]] as const) {
      const wf = randn(O * I);
      for (const bf16 of [false, true]) {
        const bits = bf16 ? f32ToBf16(wf) : f32ToF16(wf);
        const values = Float32Array.from(bits, (h) => (bf16 ? new Float32Array(new Uint32Array([h << 16]).buffer)[0]! : f16BitsToF32(h)));
        for (let rows = 1; rows <= 6; rows++) {
          const x = randn(rows * I), out = new Float32Array(rows * O);
          k.linearHalf(x, bits, bf16, out, rows, O, I);
          close(out, reference(x, values, rows, O, I), `${bf16 ? 'bf16' : 'f16'} ${O}x${I} rows ${rows}`);
        }
      }
    }
  });

  test(`${name}: linearMulti on f32 weights with long rows (the eight-rows-at-once path) and short ones, 1-3 rows`, () => {
    for (const [O, I] of [[37, 1029], [45, 33]] as const) {
      const w = randn(O * I);
      for (let rows = 1; rows <= 3; rows++) {
        const x = randn(rows * I), out = new Float32Array(rows * O);
        k.linearMulti(x, [w], 0, [out], rows, I);
        close(out, reference(x, w, rows, O, I), `f32 ${O}x${I} rows ${rows}`);
      }
    }
  });

  test(`${name}: linearQ8 and dequantQ8 on gguf-py's q8_0 blocks`, () => {
    const blocks = new Uint8Array(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'gguf', 'input.q8_0')));
    const O = 8, I = 64, dv = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
    const values = new Float64Array(O * I);
    for (let b = 0; b < (O * I) / 32; b++) for (let j = 0; j < 32; j++) values[b * 32 + j] = f16BitsToF32(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + j);
    const deq = new Float32Array(O * I);
    k.dequantQ8(blocks, deq, O * I);
    assert.deepEqual(Array.from(deq), Array.from(values, Math.fround));
    for (let rows = 1; rows <= 6; rows++) {
      const x = randn(rows * I), out = new Float32Array(rows * O);
      k.linearQ8(x, blocks, out, rows, O, I);
      close(out, reference(q8Input(x), values, rows, O, I), `q8_0 rows ${rows}`);
    }
  });

  test(`${name}: linearQ8 over rows of 2 KB or more (four rows at once), 1-2 rows of x`, () => {
    const O = 37, I = 2048, blocks = q8Weight(randn(O * I), [O, I]).blocks;
    const dv = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength), values = new Float32Array(O * I);
    for (let b = 0; b < (O * I) / 32; b++) for (let j = 0; j < 32; j++) values[b * 32 + j] = f16BitsToF32(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + j);
    for (let rows = 1; rows <= 2; rows++) {
      const x = randn(rows * I), out = new Float32Array(rows * O);
      k.linearQ8(x, blocks, out, rows, O, I);
      close(out, reference(q8Input(x), values, rows, O, I), `q8_0 ${O}x${I} rows ${rows}`);
    }
  });
}

test('linear() reads q8_0 and half weights as stored for ≤ 16 rows and widens them for more; both agree with the f32 product', () => {
  const prev = native ? useBackend('native') : null;
  try {
    const O = 48, I = 96, wf = randn(O * I), q = q8Weight(wf, [O, I]), bias = new Tensor(randn(O), [O]);
    const deq = new Float32Array(O * I);
    refKernels.dequantQ8(q.blocks, deq, O * I);
    for (const rows of [1, 3, 16, 17, 40]) {
      const x = new Tensor(randn(rows * I), [rows, I]);
      // decoding's ≤ 16 rows quantize their input as llama.cpp does; more rows widen W and keep x
      const xs = rows <= 16 ? new Tensor(Float32Array.from(q8Input(x.f32)), [rows, I]) : x;
      const want = linear(xs, new Tensor(deq, [O, I]), bias).f32;
      const got = linear(x, q, bias).f32;
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `q8 rows ${rows} [${i}] ${v} vs ${want[i]}`));
      // and the input's rounding moves the product by well under 1% of its scale
      if (rows <= 16) {
        const exact = linear(x, new Tensor(deq, [O, I]), bias).f32;
        let worst = 0, scale = 0;
        exact.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - got[i]!)); scale = Math.max(scale, Math.abs(v)); });
        assert.ok(worst < 0.01 * scale, `q8 rows ${rows}: activation rounding moved the product by ${worst} (scale ${scale})`);
      }
      const h = new Tensor(f32ToF16(wf), [O, I], 'f16');
      const wantH = linear(x, new Tensor(Float32Array.from(h.data as Uint16Array, f16BitsToF32), [O, I]), bias).f32;
      linear(x, h, bias).f32.forEach((v, i) => assert.ok(Math.abs(v - wantH[i]!) < 1e-4, `f16 rows ${rows}`));
    }
    const x = new Tensor(randn(I), [1, I]);
    x.requiresGrad = true;
    assert.throws(() => linear(x, q), /q8_0 weights are for inference/);
  } finally { if (prev) useBackend(prev as 'ref' | 'native'); }
});

test('linears() runs q/k/v-like weights in one call, equal to one linear() each, for every storage kind and 1-16 rows', () => {
  const prev = native ? useBackend('native') : null;
  try {
    // three weights of unequal height (q and two smaller k/v), I a multiple of 32 for q8_0
    const I = 96, Os = [48, 16, 16], wf = Os.map((O) => randn(O * I)), biases = Os.map((O, i) => (i === 1 ? null : new Tensor(randn(O), [O])));
    const kinds: Record<string, Array<Tensor | ReturnType<typeof q8Weight>>> = {
      f32: wf.map((w, i) => new Tensor(w, [Os[i]!, I])),
      f16: wf.map((w, i) => new Tensor(f32ToF16(w), [Os[i]!, I], 'f16')),
      bf16: wf.map((w, i) => new Tensor(f32ToBf16(w), [Os[i]!, I], 'bf16')),
      q8_0: wf.map((w, i) => q8Weight(w, [Os[i]!, I])),
    };
    for (const [kind, ws] of Object.entries(kinds)) {
      for (const rows of [1, 2, 5, 16, 17]) {
        const x = new Tensor(randn(rows * I), [rows, I]);
        const fused = linears(x, ws, biases);
        ws.forEach((w, i) => {
          const want = linear(x, w, biases[i]).f32, got = fused[i]!;
          assert.deepEqual(got.shape, [rows, Os[i]]);
          got.f32.forEach((v, j) => assert.ok(Math.abs(v - want[j]!) <= 1e-5 * (1 + Math.abs(want[j]!)), `${kind} rows ${rows} weight ${i} [${j}] ${v} vs ${want[j]}`));
        });
      }
    }
    // many rows of output split between threads: a weight taller than one thread's share
    const big = [randn(1000 * I), randn(24 * I)].map((w, i) => new Tensor(w, [i ? 24 : 1000, I])), x = new Tensor(randn(I), [1, I]);
    const [a, b] = linears(x, big, [null, null]);
    [a!, b!].forEach((t, i) => { const want = linear(x, big[i]!).f32; t.f32.forEach((v, j) => assert.ok(Math.abs(v - want[j]!) <= 1e-5 * (1 + Math.abs(want[j]!)))); });
  } finally { if (prev) useBackend(prev as 'ref' | 'native'); }
});

test('toHalf (f16, bf16), fromHalf and quantizeQ8 of every backend equal the TypeScript conversions bit for bit: edge values, and enough values for the threaded path', () => {
  const edge = [0, -0, 1, -1, 65504, 65519.996, 65520, -65520, 1e6, 6.1035156e-5, 6.097555e-5, 5.9604645e-8, 2.9802322e-8, 2.9802326e-8, 1e-10,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 3 * 2 ** -8), 3.3895314e38, 3.4028235e38, Infinity, -Infinity, NaN, 0.5, 1.5, 2.5, -2.5, 126.5, 127, 1 / 3];
  const big = randn(5000 * 32).map((v, i) => v * 10 ** ((i % 13) - 6));
  const cases = [Float32Array.from(edge), big];
  const nan = new Float32Array(new Uint32Array([0x7f800001, 0xffc00123, 0x7fbfffff]).buffer);
  for (const [name, k] of backends) {
    for (const x of [...cases, nan]) {
      for (const bf16 of [false, true]) {
        const out = new Uint16Array(x.length);
        k.toHalf(x, out, x.length, bf16);
        assert.deepEqual(out, bf16 ? f32ToBf16(x) : f32ToF16(x), `${name} ${bf16 ? 'bf16' : 'f16'}`);
        // and back: every bit pattern widens exactly (NaN payloads included), as dtype.ts widens it
        const back = new Float32Array(x.length), want = bf16 ? bf16ToF32(out) : f16ToF32(out);
        k.fromHalf(out, back, x.length, bf16);
        assert.deepEqual(new Uint32Array(back.buffer), new Uint32Array(want.buffer), `${name} ${bf16 ? 'bf16' : 'f16'} → f32`);
      }
    }
    // a block whose largest value is 127 (scale 1) holds exact halves, which roundf takes away from zero
    const halves = Float32Array.from({ length: 64 }, (_, i) => (i === 31 ? 127 : i < 32 ? i - 16 + 0.5 : edge[i % edge.length]! % 1e4 || 0)).map((v) => (Number.isFinite(v) ? v : 3));
    for (const x of [halves, big]) {
      const out = new Uint8Array((x.length / 32) * 34), want = new Uint8Array(out.length);
      k.quantizeQ8(x, out, x.length);
      refKernels.quantizeQ8(x, want, x.length);
      assert.deepEqual(out, want, `${name} q8_0`);
    }
  }
});

test('nonFinite of every backend: the count and first index of NaN/±Inf among f32, bf16 and f16 bit patterns', () => {
  const n = 3_000_001, f = new Float32Array(n).map((_, i) => Math.sin(i));
  for (const [name, k] of backends) {
    const bits = new Uint32Array(f.buffer);
    assert.deepEqual(k.nonFinite(bits, 0x7f800000), [0, -1], name);
    f[2_999_999] = NaN; f[2_000_000] = -Infinity; f[1_500_001] = 3.4028235e38; // the largest finite f32 is not flagged
    assert.deepEqual(k.nonFinite(bits, 0x7f800000), [2, 2_000_000], name);
    const h = f32ToF16(f), b = f32ToBf16(f); // 3.4e38 is Inf in f16 (and rounds to Inf in bf16 as well)
    assert.deepEqual(k.nonFinite(h, 0x7c00), [3, 1_500_001], `${name} f16`);
    assert.deepEqual(k.nonFinite(b, 0x7f80), [3, 1_500_001], `${name} bf16`);
    f[2_999_999] = 0; f[2_000_000] = 0; f[1_500_001] = 0;
  }
});

test('fromHalf of every backend widens all 65,536 f16 and bf16 bit patterns as dtype.ts does', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  for (const [name, k] of backends) for (const bf16 of [false, true]) {
    const got = new Float32Array(all.length);
    k.fromHalf(all, got, all.length, bf16);
    const want = bf16 ? bf16ToF32(all) : f16ToF32(all);
    assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${name} ${bf16 ? 'bf16' : 'f16'}`);
  }
});
