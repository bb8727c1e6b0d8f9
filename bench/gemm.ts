// SGEMM throughput through the addon's N-API `gemm` (the export the engine calls, so call overhead
// counts): one JSON line per op × shape, median GFLOP/s over timed samples after warm-up.
import { loadNative } from '../src/kernels/native.js';
import { addonSimd } from './common.js';
import type { Kernels } from '../src/core/kernels.js';

const addon = loadNative();
if (!addon || typeof addon.gemm !== 'function') {
  console.error('bench gemm: the native addon with a gemm export is required (npm install)');
  process.exit(1);
}
const gemm = addon.gemm as Kernels['gemm'];
const threads = addon.threads();
const simd = addonSimd(addon);

// Optional arguments MxKxN pick shapes (e.g. `npm run bench -- gemm 8x768x768`).
const picked = process.argv.slice(2).map((s) => s.split('x').map(Number) as [number, number, number]);
const shapes: [number, number, number][] = picked.length ? picked : [
  [2048, 768, 768], [2048, 768, 3072], [2048, 3072, 768],
  [1, 768, 768], [8, 768, 768], [64, 768, 768],
];
const ops = [['NN', false, false], ['NT', false, true], ['TN', true, false]] as const;
const SAMPLES = 7;

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

// Half a second of large products first, so the cores have reached their sustained clock and the
// thread pool is spun up before anything is timed.
{
  const A = rand(1024 * 768), B = rand(768 * 768), C = new Float32Array(1024 * 768);
  const t0 = performance.now();
  while (performance.now() - t0 < 500) gemm(false, false, 1024, 768, 768, A, 0, B, 0, C, 0, 0, 1, 0, 0, 0);
}

for (const [m, k, n] of shapes) {
  const A = rand(m * k), B = rand(k * n), C = new Float32Array(m * n);
  for (const [op, tA, tB] of ops) {
    const call = () => gemm(tA, tB, m, n, k, A, 0, B, 0, C, 0, 0, 1, 0, 0, 0);
    // Each sample repeats the call until it lasts ~20 ms, so tiny shapes are not timer noise.
    let reps = 1;
    for (;;) {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) call();
      const dt = performance.now() - t0;
      if (dt >= 20) break;
      reps = Math.ceil(reps * Math.min(100, 25 / Math.max(dt, 0.01)));
    }
    const gflops: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) call();
      const sec = (performance.now() - t0) / 1e3 / reps;
      gflops.push((2 * m * n * k) / sec / 1e9);
    }
    gflops.sort((a, b) => a - b);
    const r1 = (x: number) => Math.round(x * 10) / 10;
    console.log(JSON.stringify({
      bench: 'gemm', op, m, k, n, threads, simd,
      gflops: r1(gflops[SAMPLES >> 1]!), min: r1(gflops[0]!), max: r1(gflops[SAMPLES - 1]!),
    }));
  }
}
