// Fused-kernel timings at training shapes: one JSON line per kernel × shape with the median ms per
// call of the native kernel and of the TypeScript reference (the reference only where one call takes
// under a few seconds). `npm run bench -- kernels [filter]` runs the kernels whose name contains filter.
import { loadNative } from '../src/kernels/native.js';
import { addonSimd } from './common.js';
import { nativeKernels, refKernels, type Kernels } from '../src/core/kernels.js';

const addon = loadNative();
const native = nativeKernels();
if (!addon || !native) {
  console.error('bench kernels: the native addon is required (npm install)');
  process.exit(1);
}
const threads = addon.threads();
const simd = addonSimd(addon);
const filter = process.argv[2] ?? '';
const REF_LIMIT_MS = 3000;

function randn(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}
function randInt(n: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(Math.random() * hi);
  return a;
}

/**
 * [median, min] ms per call: each sample repeats the call until it lasts ~20 ms (at least once). The
 * min is reported too because the cores are shared and the median picks up other jobs' load.
 */
function timeit(call: () => void, samples: number, budgetMs: number): [number, number] {
  const t0 = performance.now();
  call();
  const first = performance.now() - t0;
  const reps = Math.max(1, Math.ceil(20 / Math.max(first, 0.001)));
  const ms: number[] = [];
  const start = performance.now();
  while (ms.length < samples && (ms.length === 0 || performance.now() - start < budgetMs)) {
    const s0 = performance.now();
    for (let r = 0; r < reps; r++) call();
    ms.push((performance.now() - s0) / reps);
  }
  ms.sort((a, b) => a - b);
  return [ms[ms.length >> 1]!, ms[0]!];
}

type Case = { kernel: string; shape: Record<string, number>; run: (k: Kernels) => void };
const cases: Case[] = [];
const add = (kernel: string, shape: Record<string, number>, run: (k: Kernels) => void) => {
  if (kernel.toLowerCase().includes(filter.toLowerCase())) cases.push({ kernel, shape, run });
};

for (const [B, T, Tk, H, Hkv, D, qOffset] of [
  [8, 256, 256, 4, 4, 64, 0], [8, 256, 256, 12, 12, 64, 0], [8, 256, 256, 8, 2, 64, 0], [1, 1, 1024, 12, 12, 64, 1023],
]) {
  const shape = { B: B!, T: T!, Tk: Tk!, H: H!, Hkv: Hkv!, D: D!, qOffset: qOffset! }, scale = 1 / Math.sqrt(D!);
  const q = randn(B! * T! * H! * D!), k = randn(B! * Tk! * Hkv! * D!), v = randn(k.length);
  const out = new Float32Array(q.length), lse = new Float32Array(B! * H! * T!), dout = randn(q.length);
  const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(k.length);
  const fwd = (K: Kernels) => K.attentionFwd(q, k, v, out, lse, B!, T!, Tk!, H!, Hkv!, D!, qOffset!, scale, null);
  const bwd = (K: Kernels) => K.attentionBwd(q, k, v, out, lse, dout, dq, dk, dv, B!, T!, Tk!, H!, Hkv!, D!, qOffset!, scale, null);
  add('attentionFwd', shape, fwd);
  if (T! > 1) {
    add('attentionBwd', shape, (K) => bwd(K));
    add('attentionFwd+Bwd', shape, (K) => { fwd(K); bwd(K); });
  }
}

for (const V of [4096, 50257]) {
  const rows = 2048, logits = randn(rows * V, 4), targets = randInt(rows, V);
  for (let r = 0; r < rows; r += 10) targets[r] = -1;
  const loss = new Float32Array(rows), lse = new Float32Array(rows), g = new Float32Array(rows).fill(1 / rows);
  add('crossEntropyFwd', { rows, V }, (K) => { K.crossEntropyFwd(logits, targets, loss, lse, rows, V); });
  const dl = new Float32Array(rows * V);
  add('crossEntropyBwd', { rows, V }, (K) => K.crossEntropyBwd(logits, targets, lse, g, dl, rows, V));
}

{
  const rows = 2048, C = 768, x = randn(rows * C), w = randn(C), b = randn(C), y = new Float32Array(x.length);
  const mean = new Float32Array(rows), rstd = new Float32Array(rows), dy = randn(x.length), dx = new Float32Array(x.length);
  const dw = new Float32Array(C), db = new Float32Array(C);
  add('layernormFwd', { rows, C }, (K) => K.layernormFwd(x, w, b, y, mean, rstd, rows, C, 1e-5));
  add('layernormBwd', { rows, C }, (K) => K.layernormBwd(dy, x, w, mean, rstd, dx, dw, db, rows, C));
  add('rmsnormFwd', { rows, C }, (K) => K.rmsnormFwd(x, w, y, rstd, rows, C, 1e-5));
  add('rmsnormBwd', { rows, C }, (K) => K.rmsnormBwd(dy, x, w, rstd, dx, dw, rows, C));
  const S = 4096, s = randn(rows * S, 4), sy = new Float32Array(s.length);
  add('softmax', { rows, C: S }, (K) => K.softmax(s, sy, rows, S));
  add('logSoftmax', { rows, C: S }, (K) => K.logSoftmax(s, sy, rows, S));
}

{
  const n = 2048 * 3072, x = randn(n, 3), u = randn(n), dy = randn(n), y = new Float32Array(n), d2 = new Float32Array(n);
  add('geluFwd', { n }, (K) => K.geluFwd(x, y, n));
  add('geluBwd', { n }, (K) => K.geluBwd(x, dy, y, n));
  add('swigluFwd', { n }, (K) => K.swigluFwd(x, u, y, n));
  add('swigluBwd', { n }, (K) => K.swigluBwd(x, u, dy, y, d2, n));
}

{
  const rows = 2048, H = 12, D = 64, maxPos = 1024, half = D / 2;
  const cos = randn(maxPos * half), sin = randn(maxPos * half), pos = randInt(rows, maxPos), x = randn(rows * H * D);
  add('rope', { rows, H, D }, (K) => K.rope(x, x, rows, H, D, pos, cos, sin, false));
}

{
  const n = 2048, C = 768, vocab = 50257, table = randn(vocab * C), ids = randInt(n, vocab);
  const out = new Float32Array(n * C), dtable = new Float32Array(vocab * C);
  add('embeddingFwd', { n, C }, (K) => K.embeddingFwd(table, ids, out, n, C));
  add('embeddingBwd', { n, C }, (K) => K.embeddingBwd(out, ids, dtable, n, C));
}

{
  const n = 4 * 1024 * 1024, p = randn(n), g = randn(n, 0.01), m = new Float32Array(n), v = new Float32Array(n);
  let step = 0;
  add('adamw', { n }, (K) => K.adamw(p, g, m, v, n, 1e-4, 0.9, 0.95, 1e-8, 0.1, ++step));
  add('sumSquares', { n }, (K) => { K.sumSquares(g, n); });
  add('axpy', { n }, (K) => K.axpy(1e-3, g, p, n));
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
for (const c of cases) {
  const [nativeMs, nativeMin] = timeit(() => c.run(native), 7, 2000);
  const t0 = performance.now();
  c.run(refKernels);
  const once = performance.now() - t0;
  const refMs = once > REF_LIMIT_MS ? null : timeit(() => c.run(refKernels), 3, REF_LIMIT_MS)[0];
  console.log(JSON.stringify({
    bench: 'kernels', kernel: c.kernel, ...c.shape, threads, simd,
    native_ms: r3(nativeMs), native_min_ms: r3(nativeMin), ref_ms: refMs === null ? null : r3(refMs),
    speedup: refMs === null ? null : Math.round((refMs / nativeMs) * 10) / 10,
  }));
}
