// Every op's value and gradient on every backend, through one helper: on the TypeScript reference
// and on the native kernels, each analytic gradient must agree with a finite difference computed in
// float64 closely enough that a 1% error in any gradient rule fails (a test below proves it by
// breaking rules on purpose), and the native backend must match the reference in value and grad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { Tensor } from '../../src/core/tensor.js';
import { Rng } from '../../src/core/rng.js';
import { backward, noGrad } from '../../src/core/autograd.js';
import { gradRules } from '../../src/core/grad.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import * as op from '../../src/core/ops.js';
import { quantizeNF4 } from '../../src/core/quant.js';

if (!nativeKernels() && process.env.HEED_REQUIRE_NATIVE === '1') throw new Error('ops: HEED_REQUIRE_NATIVE=1 but the native kernels are not loaded');
const backends = ['ref', ...(nativeKernels() ? ['native'] as const : [])] as const;
type Backend = typeof backends[number];

interface Case {
  name: string;
  shapes: number[][];
  build: (xs: Tensor[]) => Tensor;
  /** input generator: 'pos' for inputs in [0.5, 1.5] */
  gen?: 'pos' | 'normal';
  /** points where the op is not differentiable (relu, abs, clamp): inputs are kept KINK_GAP away */
  kinks?: number[];
  /** two inputs kept KINK_GAP apart elementwise (minimum, maximum) */
  apart?: [number, number];
  /** inputs that are not differentiated (by index) */
  noGrad?: number[];
}

// Finite differences: the fourth-order central stencil
//   f'(x) ≈ (8·(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h
// with h a power of two, so every perturbed float32 input is exact; the loss Σ out·R is summed in
// float64 from the op's float32 outputs. Its truncation error is O(h⁴) ≈ 1e-9 of the gradient;
// its rounding noise is what is left: the check is
//   |fd − analytic| ≤ FD_TOL·(|fd| + 0.1·max|analytic|)
// (relative, with a floor at a tenth of the input's largest gradient for entries near zero). The
// worst correct rule uses 0.21 of FD_TOL = 2e-3 (cross-entropy on the reference backend, whose one
// float32 output carries all the rounding), so errors stay below 5e-4 relative; a 1% error in a
// rule moves its largest gradient entry, which is always checked, by 1e-2: 4.5 times the bound.
const H = 2 ** -7, FD_TOL = 2e-3, KINK_GAP = 4 * H;

function makeInputs(c: Case, seed: number): Tensor[] {
  const rng = new Rng(seed);
  const xs = c.shapes.map((s, i) => {
    const t = c.gen === 'pos' ? op.addScalar(Tensor.uniform(s, rng, 0, 1), 0.5) : Tensor.randn(s, rng);
    const leaf = t.detach();
    for (const k of c.kinks ?? []) {
      const d = leaf.f32;
      for (let j = 0; j < d.length; j++) if (Math.abs(d[j]! - k) < KINK_GAP) d[j] = k + (d[j]! < k ? -KINK_GAP : KINK_GAP);
    }
    if (!c.noGrad?.includes(i)) leaf.requiresGrad = true;
    return leaf;
  });
  if (c.apart) {
    const a = xs[c.apart[0]]!.f32, b = xs[c.apart[1]]!.f32;
    for (let j = 0; j < a.length; j++) if (Math.abs(a[j]! - b[j]!) < KINK_GAP) b[j] = a[j]! + (b[j]! < a[j]! ? -KINK_GAP : KINK_GAP);
  }
  return xs;
}

function run(c: Case, seed: number): { out: Float32Array; grads: Array<Float32Array | null>; xs: Tensor[]; R: Tensor } {
  const xs = makeInputs(c, seed);
  const out = c.build(xs);
  const R = Tensor.randn(out.shape, new Rng(seed + 1));
  if (out.requiresGrad) backward(out, R);
  return { out: out.f32.slice(), grads: xs.map((x) => (x.grad ? x.grad.f32.slice() : null)), xs, R };
}

/** Σ out·R in float64. */
function lossOf(c: Case, xs: Tensor[], R: Tensor): number {
  const out = noGrad(() => c.build(xs));
  let s = 0;
  for (let i = 0; i < out.size; i++) s += out.f32[i]! * R.f32[i]!;
  return s;
}

function close(a: Float32Array, b: Float32Array, rtol: number, atol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) { assert.equal(x, y, `${what}[${i}]`); continue; }
    assert.ok(Math.abs(x - y) <= atol + rtol * Math.max(Math.abs(x), Math.abs(y)), `${what}[${i}]: ${x} vs ${y}`);
  }
}

/** Largest error of a case's gradients against finite differences, in units of its tolerance. */
const worstFd = new Map<string, number>();

/**
 * Finite differences on the current backend, at up to 12 entries of each differentiable input
 * (always including its largest analytic gradient, which a scaled rule moves most).
 */
function fdCheck(c: Case, be: Backend): void {
  const seed = 1234, r = run(c, seed), rng = new Rng(99);
  r.xs.forEach((x, i) => {
    if (c.noGrad?.includes(i)) return;
    const g = r.grads[i];
    assert.ok(g, `${c.name}: input ${i} got no gradient`);
    let top = 0, gmax = 0;
    for (let j = 0; j < g.length; j++) if (Math.abs(g[j]!) > gmax) { gmax = Math.abs(g[j]!); top = j; }
    const n = x.size, picks = n <= 12 ? [...Array(n).keys()] : [top, ...Array.from({ length: 11 }, () => rng.int(n))];
    const d = x.f32;
    for (const j of picks) {
      const orig = d[j]!, at = (k: number) => { d[j] = orig + k * H; return lossOf(c, r.xs, r.R); };
      const fd = (8 * (at(1) - at(-1)) - (at(2) - at(-2))) / (12 * H);
      d[j] = orig;
      const an = g[j]!, tol = FD_TOL * (Math.abs(fd) + 0.1 * gmax), key = `${c.name} (${be})`;
      worstFd.set(key, Math.max(worstFd.get(key) ?? 0, Math.abs(fd - an) / tol));
      assert.ok(Math.abs(fd - an) <= tol, `${c.name} (${be}): d/dx${i}[${j}] analytic ${an} vs finite difference ${fd}`);
    }
  });
}

/** The helper: finite differences on every backend, and native values and grads against the reference. */
function checkOp(c: Case): void {
  const prev = useBackend('ref');
  try {
    for (const be of backends) { useBackend(be); fdCheck(c, be); }
    if (backends.length < 2) return;
    useBackend('ref');
    const ref = run(c, 1234);
    useBackend('native');
    const nat = run(c, 1234);
    close(nat.out, ref.out, 1e-4, 1e-5, `${c.name}: native value`);
    nat.grads.forEach((g, i) => {
      const r = ref.grads[i];
      if (!g || !r) { assert.equal(g, r, `${c.name}: grad ${i} presence`); return; }
      close(g, r, 1e-3, 1e-4, `${c.name}: native grad ${i}`);
    });
  } finally { useBackend(prev as Backend); }
}

const ids = (xs: number[], shape?: number[]) => Tensor.ints(xs, shape);
const W56 = Tensor.randn([5, 6], new Rng(77));

const cases: Case[] = [
  { name: 'add same', shapes: [[3, 5], [3, 5]], build: ([a, b]) => op.add(a!, b!) },
  { name: 'add suffix broadcast', shapes: [[4, 3, 5], [5]], build: ([a, b]) => op.add(a!, b!) },
  { name: 'add general broadcast', shapes: [[3, 1, 5], [1, 4, 1]], build: ([a, b]) => op.add(a!, b!) },
  { name: 'add same tensor twice', shapes: [[2, 3]], build: ([a]) => op.add(a!, a!) },
  { name: 'sub scalar', shapes: [[2, 3], [1]], build: ([a, b]) => op.sub(a!, b!) },
  { name: 'mul broadcast', shapes: [[2, 3, 4], [3, 1]], build: ([a, b]) => op.mul(a!, b!) },
  { name: 'mul self', shapes: [[7]], build: ([a]) => op.mul(a!, a!) },
  { name: 'div', shapes: [[2, 5], [2, 5]], gen: 'pos', build: ([a, b]) => op.div(a!, b!) },
  { name: 'minimum/maximum', shapes: [[4, 4], [4, 4]], apart: [0, 1], build: ([a, b]) => op.add(op.minimum(a!, b!), op.scale(op.maximum(a!, b!), 0.5)) },
  { name: 'scale + addScalar', shapes: [[3, 3]], build: ([a]) => op.addScalar(op.scale(a!, -2.5), 1) },
  { name: 'clamp', shapes: [[40]], kinks: [-0.5, 0.7], build: ([a]) => op.clamp(a!, -0.5, 0.7) },
  { name: 'relu', shapes: [[5, 8]], kinks: [0], build: ([a]) => op.relu(a!) },
  { name: 'abs', shapes: [[5, 8]], kinks: [0], build: ([a]) => op.abs(a!) },
  ...(['exp', 'sigmoid', 'logsigmoid', 'tanh', 'silu', 'square'] as const).map((k) => ({ name: k, shapes: [[3, 7]], build: ([a]: Tensor[]) => op[k](a!) })),
  ...(['log', 'sqrt'] as const).map((k) => ({ name: k, shapes: [[3, 7]], gen: 'pos' as const, build: ([a]: Tensor[]) => op[k](a!) })),
  { name: 'sum all', shapes: [[3, 4]], build: ([a]) => op.sum(a!) },
  { name: 'sum dim keepdim', shapes: [[3, 4, 5]], build: ([a]) => op.sum(a!, 1, true) },
  { name: 'mean dim', shapes: [[3, 4, 5]], build: ([a]) => op.mean(a!, -1) },
  { name: 'reshape', shapes: [[2, 6]], build: ([a]) => op.mul(op.reshape(a!, [3, -1]), op.reshape(a!, [3, 4])) },
  { name: 'transpose', shapes: [[2, 3, 4]], build: ([a]) => op.transpose(a!, 0, 2) },
  { name: 'narrow inner', shapes: [[3, 6, 2]], build: ([a]) => op.narrow(a!, 1, 2, 3) },
  { name: 'narrow first', shapes: [[5, 3]], build: ([a]) => op.narrow(a!, 0, 1, 3) },
  { name: 'concat', shapes: [[2, 1, 3], [2, 4, 3], [2, 2, 3]], build: (xs) => op.concat(xs, 1) },
  { name: 'selectRows', shapes: [[5, 3]], build: ([a]) => op.selectRows(a!, [4, 0, 4, 2]) },
  ...[[false, false], [false, true], [true, false], [true, true]].flatMap(([tA, tB]) => [
    { name: `matmul 2d tA=${tA} tB=${tB}`, shapes: [tA ? [5, 3] : [3, 5], tB ? [4, 5] : [5, 4]], build: ([a, b]: Tensor[]) => op.matmul(a!, b!, tA, tB) },
    { name: `matmul batched tA=${tA} tB=${tB}`, shapes: [tA ? [2, 5, 3] : [2, 3, 5], tB ? [2, 4, 5] : [2, 5, 4]], build: ([a, b]: Tensor[]) => op.matmul(a!, b!, tA, tB) },
    { name: `matmul shared b tA=${tA} tB=${tB}`, shapes: [tA ? [2, 5, 3] : [2, 3, 5], tB ? [4, 5] : [5, 4]], build: ([a, b]: Tensor[]) => op.matmul(a!, b!, tA, tB) },
  ]),
  { name: 'matmul M=1 odd', shapes: [[1, 17], [17, 3]], build: ([a, b]) => op.matmul(a!, b!) },
  { name: 'linear bias', shapes: [[2, 3, 5], [4, 5], [4]], build: ([x, w, b]) => op.linear(x!, w!, b!) },
  { name: 'linear no bias M=1', shapes: [[1, 9], [7, 9]], build: ([x, w]) => op.linear(x!, w!) },
  { name: 'linear with a frozen NF4 weight', shapes: [[2, 3, 6], [5]], build: ([x, b]) => op.linear(x!, quantizeNF4(W56.f32, [5, 6]), b!) },
  { name: 'loraLinear (bias)', shapes: [[2, 3, 6], [2, 6], [5, 2], [5]], build: ([x, A, B, b]) => op.loraLinear(x!, W56, b!, A!, B!, 1.5) },
  { name: 'loraLinear (dropout, NF4 base)', shapes: [[4, 6], [3, 6], [5, 3]], build: ([x, A, B]) => op.loraLinear(x!, quantizeNF4(W56.f32, [5, 6]), null, A!, B!, 0.5, 0.3, new Rng(4), true) },
  { name: 'embedding repeated ids', shapes: [[6, 4]], build: ([t]) => op.embedding(t!, ids([1, 5, 1, 0, 1, 3], [2, 3])) },
  { name: 'layerNorm', shapes: [[3, 17], [17], [17]], build: ([x, w, b]) => op.layerNorm(x!, w!, b!) },
  { name: 'layerNorm no bias C=3', shapes: [[4, 3], [3]], build: ([x, w]) => op.layerNorm(x!, w!, null) },
  { name: 'rmsNorm', shapes: [[5, 17], [17]], build: ([x, w]) => op.rmsNorm(x!, w!) },
  { name: 'gelu', shapes: [[4, 9]], build: ([x]) => op.gelu(x!) },
  { name: 'swiglu', shapes: [[3, 11], [3, 11]], build: ([g, u]) => op.swiglu(g!, u!) },
  { name: 'rope', shapes: [[2, 3, 2, 8]], build: ([x]) => op.rope(x!, Int32Array.from([0, 1, 2, 5, 6, 7]), op.ropeCache(8, 16)) },
  { name: 'softmax', shapes: [[3, 7]], build: ([x]) => op.softmax(x!) },
  { name: 'logSoftmax', shapes: [[3, 7]], build: ([x]) => op.logSoftmax(x!) },
  { name: 'crossEntropy with ignored rows', shapes: [[5, 11]], build: ([x]) => op.crossEntropy(x!, Int32Array.from([3, -100, 10, 0, -100])) },
  { name: 'crossEntropy normalizer', shapes: [[3, 4]], build: ([x]) => op.crossEntropy(x!, Int32Array.from([1, 2, 3]), 7) },
  { name: 'tokenLogprobs', shapes: [[4, 6]], build: ([x]) => op.tokenLogprobs(x!, Int32Array.from([5, 0, -100, 2])) },
  { name: 'dropout seeded', shapes: [[6, 6]], build: ([x]) => op.dropout(x!, 0.3, new Rng(5)) },
  { name: 'attention MHA', shapes: [[2, 5, 2, 8], [2, 5, 2, 8], [2, 5, 2, 8]], build: ([q, k, v]) => op.attention(q!, k!, v!) },
  { name: 'attention GQA', shapes: [[2, 4, 4, 8], [2, 4, 2, 8], [2, 4, 2, 8]], build: ([q, k, v]) => op.attention(q!, k!, v!) },
  { name: 'attention query offset (KV cache)', shapes: [[1, 3, 2, 4], [1, 7, 1, 4], [1, 7, 1, 4]], build: ([q, k, v]) => op.attention(q!, k!, v!, { qOffset: 4 }) },
  { name: 'attention T=1 decode', shapes: [[2, 1, 2, 4], [2, 6, 2, 4], [2, 6, 2, 4]], build: ([q, k, v]) => op.attention(q!, k!, v!) },
  { name: 'attention packed sequences (keyStart)', shapes: [[2, 6, 2, 4], [2, 6, 1, 4], [2, 6, 1, 4]], build: ([q, k, v]) => op.attention(q!, k!, v!, { keyStart: Int32Array.from([0, 0, 2, 2, 2, 5, 0, 1, 1, 1, 1, 1]) }) },
  { name: 'attention key padding', shapes: [[2, 4, 2, 4], [2, 4, 2, 4], [2, 4, 2, 4]], build: ([q, k, v]) => op.attention(q!, k!, v!, { keyMask: Uint8Array.from([0, 0, 1, 1, 1, 1, 1, 1]) }) },
];

for (const c of cases) test(`op ${c.name}`, () => checkOp(c));

// The checker itself: each rule below, scaled by 1.01, must fail it on every backend. The cases
// span elementwise, broadcasting, GEMM-backed and fused rules (norms, attention, cross-entropy,
// RoPE, LoRA), each rule through one case that uses it.
const BROKEN: Array<[rule: string, caseName: string]> = [
  ['mul', 'mul broadcast'], ['relu', 'relu'], ['sum', 'sum dim keepdim'], ['matmul', 'matmul batched tA=true tB=false'],
  ['layerNorm', 'layerNorm'], ['rmsNorm', 'rmsNorm'], ['attention', 'attention GQA'], ['crossEntropy', 'crossEntropy with ignored rows'],
  ['rope', 'rope'], ['loraLinear', 'loraLinear (bias)'], ['swiglu', 'swiglu'],
];
for (const [rule, caseName] of BROKEN) {
  test(`finite differences catch a 1% error in the ${rule} gradient rule`, () => {
    const c = cases.find((x) => x.name === caseName)!, good = gradRules[rule]!, prev = useBackend('ref');
    gradRules[rule] = (n, g, out) => good(n, g, out).map((d) => d && d.map((v) => v * 1.01));
    try {
      for (const be of backends) {
        useBackend(be);
        assert.throws(() => fdCheck(c, be), /analytic .* vs finite difference/, `${rule} off by 1% passed on ${be}`);
      }
    } finally { gradRules[rule] = good; useBackend(prev as Backend); }
    fdCheck(c, 'ref'); // and restored, it passes again
  });
}

test('shape errors name the op and both shapes', () => {
  const a = Tensor.zeros([2, 3]), b = Tensor.zeros([4, 5]);
  assert.throws(() => op.matmul(a, b), /matmul: shapes \[2, 3\] and \[4, 5\] do not match/);
  assert.throws(() => op.add(a, b), /add: shapes \[2, 3\] and \[4, 5\] cannot be broadcast/);
  assert.throws(() => op.linear(a, b), /linear: input \[2, 3\] does not match weight \[4, 5\]/);
  assert.throws(() => op.embedding(Tensor.zeros([4, 2]), Tensor.ints([4])), /embedding: id 4 .* vocabulary of 4/);
});

for (const be of backends) {
  test(`a fully padded query row gives zeros, and its gradients are the known values (${be})`, () => {
    const prev = useBackend(be);
    try {
      const rng = new Rng(3);
      const q = Tensor.randn([1, 2, 1, 4], rng).param(), k = Tensor.randn([1, 2, 1, 4], rng).param(), v = Tensor.randn([1, 2, 1, 4], rng).param();
      // query 0 sees only key 0, which is padding: no visible key; query 1 sees key 1 alone
      const out = op.attention(q, k, v, { keyMask: Uint8Array.from([0, 1]) });
      assert.deepEqual(Array.from(out.f32.subarray(0, 4)), [0, 0, 0, 0]);
      close(out.f32.subarray(4), v.f32.subarray(4), 0, 1e-6, 'one visible key: its value');
      backward(op.sum(out));
      // a softmax over one key is constant, so q and k get exactly no gradient (up to rounding);
      // the padded value gets none and the visible one gets dout = 1
      close(q.grad!.f32, new Float32Array(8), 0, 1e-6, 'dq');
      close(k.grad!.f32, new Float32Array(8), 0, 1e-6, 'dk');
      close(v.grad!.f32, Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1]), 0, 1e-6, 'dv');
    } finally { useBackend(prev as Backend); }
  });
}

test('gradients accumulate across backward calls, and a freed graph is an error', () => {
  const x = Tensor.from([1, 2, 3]).param();
  const y = op.sum(op.square(x));
  backward(y, undefined, { retainGraph: true });
  backward(y);
  assert.deepEqual(x.grad!.toArray(), [4, 8, 12]);
  assert.throws(() => backward(y), /already freed/);
  const z = noGrad(() => op.sum(op.square(x)));
  assert.equal(z.requiresGrad, false);
});

test('the seeded RNG is reproducible and restorable', () => {
  const a = new Rng(42), b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.normal());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.normal()));
  const st = a.getState(), n1 = [a.uniform(), a.normal(), a.u32()];
  a.setState(st);
  assert.deepEqual([a.uniform(), a.normal(), a.u32()], n1);
  assert.notDeepEqual(new Rng(1).u32(), new Rng(2).u32());
});

test('linear with a frozen bf16 or f16 weight equals linear with its f32 values', async () => {
  const { f32ToBf16, bf16ToF32, f32ToF16, f16ToF32 } = await import('../../src/core/dtype.js');
  const rng = new Rng(8), x = Tensor.randn([3, 6], rng).param(), w = Tensor.randn([4, 6], rng);
  for (const [dt, enc, dec] of [['bf16', f32ToBf16, bf16ToF32], ['f16', f32ToF16, f16ToF32]] as const) {
    const half = new Tensor(enc(w.f32), w.shape, dt), wide = new Tensor(dec(enc(w.f32)), w.shape);
    const xa = x.detach().param(), xb = x.detach().param();
    const ya = op.linear(xa, half), yb = op.linear(xb, wide);
    assert.deepEqual(ya.toArray(), yb.toArray());
    backward(op.sum(ya)); backward(op.sum(yb));
    assert.deepEqual(xa.grad!.toArray(), xb.grad!.toArray());
  }
  assert.throws(() => op.linear(x, new Tensor(f32ToBf16(w.f32), w.shape, 'bf16').param()), /cannot be trained/);
});

test('NF4 quantization picks the nearest level and dequantizes within half a level step', async () => {
  const { quantizeNF4, dequantizeNF4, NF4_LEVELS } = await import('../../src/core/quant.js');
  const rng = new Rng(5), x = Tensor.randn([8, 64], rng).f32, q = quantizeNF4(x, [8, 64]), y = dequantizeNF4(q, new Float32Array(x.length));
  for (let i = 0; i < x.length; i++) {
    const a = q.absmax[Math.floor(i / 64)]!, v = x[i]! / a;
    const nearest = NF4_LEVELS.reduce((b, l) => (Math.abs(l - v) < Math.abs(b - v) ? l : b), NF4_LEVELS[0]!);
    assert.ok(Math.abs(y[i]! - nearest * a) < 1e-6, `element ${i}`);
  }
});
