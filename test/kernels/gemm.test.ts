// Native SGEMM against the TypeScript reference: every transpose, odd and tiny sizes, the small-M
// (decode) paths, batches with strides and offsets, and beta = 1 accumulation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../../src/kernels/native.js';
import { refKernels, type Kernels } from '../../src/core/kernels.js';

const addon = loadNative();
const gemm = addon?.gemm as Kernels['gemm'] | undefined;
// Without the addon these tests skip, unless the addon is required: then its absence fails here.
if (!gemm && process.env.HEED_REQUIRE_NATIVE === '1') throw new Error('gemm: HEED_REQUIRE_NATIVE=1 but the native gemm did not load');

let seed = 12345;
function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; a[i] = (seed / 2 ** 32) * 2 - 1; }
  return a;
}

interface Case { tA: boolean; tB: boolean; M: number; N: number; K: number; beta?: number; batch?: number; pad?: number }

function check(c: Case): void {
  const { tA, tB, M, N, K } = c;
  const beta = c.beta ?? 0, batch = c.batch ?? 1, pad = c.pad ?? 0;
  // Strides larger than a matrix and nonzero offsets, so views and gaps are exercised.
  const sA = M * K + pad, sB = K * N + 2 * pad, sC = M * N + pad;
  const A = rand(pad + batch * sA), B = rand(3 * pad + batch * sB), C0 = rand(pad + batch * sC + 5);
  const cRef = C0.slice(), cNat = C0.slice();
  // beta = 0 must ignore whatever C held, NaN included.
  if (beta === 0) for (let b = 0; b < batch; b++) cNat.fill(Number.NaN, pad + b * sC, pad + b * sC + M * N);
  refKernels.gemm(tA, tB, M, N, K, A, pad, B, 3 * pad, cRef, pad, beta, batch, sA, sB, sC);
  gemm!(tA, tB, M, N, K, A, pad, B, 3 * pad, cNat, pad, beta, batch, sA, sB, sC);
  const what = `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} M=${M} N=${N} K=${K} beta=${beta} batch=${batch} pad=${pad}`;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < M * N; i++) {
      const idx = pad + b * sC + i, r = cRef[idx]!, x = cNat[idx]!;
      if (!(Math.abs(r - x) <= 1e-4 * (Math.abs(r) + Math.sqrt(K) + 1))) assert.fail(`${what}: C[${b}][${i}] = ${x}, expected ${r}`);
    }
  }
  // Nothing outside the C matrices may change.
  for (let b = 0; b <= batch; b++) {
    const lo = b === 0 ? 0 : pad + (b - 1) * sC + M * N, hi = b === batch ? C0.length : pad + b * sC;
    for (let i = lo; i < hi; i++) assert.equal(Object.is(cNat[i], C0[i]), true, `${what}: wrote outside C at ${i}`);
  }
}

const trans: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

test('native gemm is loaded', () => { assert.ok(gemm, 'the addon does not export gemm'); });

test('odd and tiny shapes, every transpose', { skip: !gemm }, () => {
  const sizes = [1, 3, 8, 17, 33];
  for (const [tA, tB] of trans)
    for (const M of sizes) for (const N of sizes) for (const K of sizes) check({ tA, tB, M, N, K, beta: (M + N + K) % 2 });
});

test('small M (decode paths) across widths', { skip: !gemm }, () => {
  for (const [tA, tB] of trans)
    for (const M of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16])
      for (const [N, K] of [[1, 64], [31, 5], [130, 77], [257, 129], [300, 1]] as const)
        for (const beta of [0, 1]) check({ tA, tB, M, N, K, beta });
});

// Every edge of both register tiles (AVX2 6×16, AVX-512 8×32) and of the small-M kernels: M up to
// 13 runs the small paths, M from 17 the packed one; K = 257 crosses the AVX2 KC.
test('shapes straddling the register tiles', { skip: !gemm }, () => {
  for (const [tA, tB] of trans) {
    for (let M = 1; M <= 13; M++) for (let N = 1; N <= 33; N++) check({ tA, tB, M, N, K: 9 + ((M * N) % 4), beta: (M + N) % 2 });
    for (const M of [17, 18, 23, 24, 25, 30])
      for (const N of [17, 23, 31, 32, 33, 47, 48, 49, 65]) check({ tA, tB, M, N, K: 257, beta: N % 2 });
  }
});

test('sizes crossing the block edges (KC, MC, NR)', { skip: !gemm }, () => {
  for (const [tA, tB] of trans) {
    check({ tA, tB, M: 257, N: 65, K: 385, beta: 1 });
    check({ tA, tB, M: 200, N: 97, K: 770 });
    check({ tA, tB, M: 64, N: 257, K: 96, beta: 1 });
    check({ tA, tB, M: 33, N: 3, K: 17 });
  }
});

test('small N with large M (written transposed)', { skip: !gemm }, () => {
  for (const [tA, tB] of trans)
    for (const N of [1, 2, 5, 8, 16]) for (const beta of [0, 1]) check({ tA, tB, M: 131, N, K: 70, beta });
});

test('K = 1 and beta = 1 accumulate', { skip: !gemm }, () => {
  for (const [tA, tB] of trans) for (const M of [1, 40]) check({ tA, tB, M, N: 70, K: 1, beta: 1 });
});

test('batches with strides and offsets', { skip: !gemm }, () => {
  for (const [tA, tB] of trans) {
    check({ tA, tB, M: 16, N: 24, K: 40, batch: 5, pad: 7 });
    check({ tA, tB, M: 1, N: 50, K: 33, batch: 3, pad: 3, beta: 1 });
    check({ tA, tB, M: 70, N: 90, K: 400, batch: 2, pad: 11, beta: 1 });  // large enough to split each product
  }
});

test('subarray views', { skip: !gemm }, () => {
  const A = rand(100), B = rand(100), buf = rand(64);
  const C = buf.subarray(10, 30), cRef = C.slice();
  const before = buf.slice();
  refKernels.gemm(false, true, 4, 5, 6, A.subarray(3), 1, B.subarray(7), 2, cRef, 0, 1, 1, 0, 0, 0);
  gemm!(false, true, 4, 5, 6, A.subarray(3), 1, B.subarray(7), 2, C, 0, 1, 1, 0, 0, 0);
  for (let i = 0; i < 20; i++) assert.ok(Math.abs(C[i]! - cRef[i]!) < 1e-5);
  assert.equal(buf[9], before[9]);
  assert.equal(buf[30], before[30]);
});

test('out-of-range offsets throw instead of writing past the array', { skip: !gemm }, () => {
  const A = rand(12), B = rand(12), C = new Float32Array(8);
  assert.throws(() => gemm!(false, false, 3, 3, 4, A, 0, B, 0, C, 0, 0, 1, 0, 0, 0), RangeError);
});
