// AdamW, global-norm clipping, warmup + cosine and gradient accumulation against a PyTorch trace
// (torch.optim.AdamW with decay and no-decay groups, clip_grad_norm_, LambdaLR; written by
// test/fixtures/optim/make_optim.py), parameters compared after every step, on both backends.
// Each step's batch comes to heed as k micro-batches accumulated as trainLoop accumulates them (each
// loss summed over its targets, then optimizerStep divides the gradients once by the target count
// of the whole accumulated batch, clips and updates); torch takes it as one batch with the mean
// loss. A parameter left out of the loss gets no gradient and is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import '../../src/kernels/native.js';
import { Tensor } from '../../src/core/tensor.js';
import { backward } from '../../src/core/autograd.js';
import * as op from '../../src/core/ops.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import { AdamW, cosineLR } from '../../src/nn/optim.js';
import { optimizerStep } from '../../src/train/loop.js';

interface Step {
  x: number[][]; targets: number[][]; usesU: boolean; clip: number; lr: number; loss: number; gradNorm: number;
  grads: Record<string, number[] | null>; clipped: Record<string, number[] | null>; params: Record<string, number[]>;
}
interface Trace {
  hyper: { lr: number; betas: [number, number]; eps: number; weightDecay: number; steps: number; warmup: number; minRatio: number; in: number };
  init: Record<string, { shape: number[]; data: number[] }>;
  steps: Step[];
}
const trace = JSON.parse(readFileSync('test/fixtures/optim/adamw.json', 'utf8')) as Trace;

if (!nativeKernels() && process.env.HEED_REQUIRE_NATIVE === '1') throw new Error('optim: HEED_REQUIRE_NATIVE=1 but the native kernels are not loaded');
const backends = ['ref', ...(nativeKernels() ? ['native'] as const : [])] as const;

// Tolerances, against a float64 reference, each well above what float32 leaves (worst measured on
// both backends in brackets). Parameters: 1e-6 absolute on values of order 1 [1.2e-7, one ulp];
// a step moves a parameter by up to lr = 0.05, so a schedule one step off, a lost bias correction
// or decay applied to a vector shows as 1e-4 or more. Gradients: 5e-6 of the tensor's largest
// entry [4.3e-7]. Loss, grad norm and lr: 1e-6 relative [5e-8].
const PARAM_TOL = 1e-6, GRAD_TOL = 5e-6, SCALAR_TOL = 1e-6;

function near(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: heed ${got[i]} vs torch ${want[i]}`);
}

function relNear(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= SCALAR_TOL * Math.abs(want), `${what}: heed ${got} vs torch ${want}`);
}

/** The trace's model on one micro-batch: logits = tanh(x·W1ᵀ + b1)·W2ᵀ (+ x·uᵀ on steps that use u). */
function logitsOf(p: Map<string, Tensor>, x: Tensor, usesU: boolean): Tensor {
  const l = op.linear(op.tanh(op.linear(x, p.get('W1')!, p.get('b1')!)), p.get('W2')!);
  return usesU ? op.add(l, op.linear(x, p.get('u')!)) : l;
}

for (const be of backends) {
  test(`AdamW + clipping + warmup/cosine + accumulation follow torch step by step (${be})`, () => {
    const prev = useBackend(be);
    try {
      const h = trace.hyper;
      const params = new Map(Object.entries(trace.init).map(([k, v]) => [k, new Tensor(Float32Array.from(v.data), v.shape).param()]));
      const opt = new AdamW([...params], { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.weightDecay });
      let uSteps = 0;
      trace.steps.forEach((st, s) => {
        opt.lr = cosineLR(s, h.steps, h.lr, h.warmup, h.minRatio);
        relNear(opt.lr, st.lr, `step ${s} lr`);
        opt.zeroGrad();
        let lossSum = 0, count = 0;
        st.x.forEach((xs, i) => {
          const x = new Tensor(Float32Array.from(xs), [xs.length / h.in, h.in]), t = Int32Array.from(st.targets[i]!);
          const l = op.crossEntropy(logitsOf(params, x, st.usesU), t, 1); // summed, as lmLoss reports it
          backward(l);
          lossSum += l.item();
          count += t.filter((v) => v >= 0).length;
        });
        relNear(lossSum / count, st.loss, `step ${s} loss`);
        for (const [k, p] of params) {
          const want = st.grads[k] ?? null;
          if (want === null) { assert.equal(p.grad, null, `step ${s}: ${k} is out of the loss, so it has no gradient`); continue; }
          const peak = Math.max(...want.map(Math.abs));
          near(p.grad!.f32.map((g) => g / count), want, GRAD_TOL * peak, `step ${s} grad ${k}`);
        }
        const before = params.get('u')!.f32.slice();
        const norm = optimizerStep(opt, [...params.values()], count, st.clip, { label: 'trace', step: s + 1, loss: lossSum / count });
        relNear(norm, st.gradNorm, `step ${s} grad norm`);
        for (const [k, p] of params) {
          const want = st.clipped[k];
          if (want) near(p.grad!.f32, want, GRAD_TOL * Math.max(...want.map(Math.abs)), `step ${s} clipped grad ${k}`);
        }
        if (st.usesU) uSteps++;
        else assert.deepEqual(params.get('u')!.f32, before, `step ${s}: u had no gradient, so nothing (not even decay) moves it`);
        assert.equal(opt.state().steps.get('u'), uSteps, `step ${s}: u counts only its own updates for bias correction`);
        for (const [k, p] of params) near(p.f32, st.params[k]!, PARAM_TOL, `step ${s} param ${k}`);
      });
    } finally { useBackend(prev as 'ref' | 'native'); }
  });
}

test('the trace exercises what it claims: clipping on and off, a skipped parameter, warmup and decay', () => {
  const { steps, hyper } = trace;
  assert.ok(steps.some((s) => s.gradNorm > s.clip) && steps.some((s) => s.gradNorm <= s.clip));
  assert.ok(steps.some((s) => !s.usesU) && steps.some((s) => s.usesU));
  assert.ok(hyper.warmup >= 2 && hyper.steps > hyper.warmup + 2 && hyper.weightDecay > 0);
  const counts = steps.map((s) => s.targets.map((t) => t.filter((v) => v >= 0).length));
  assert.ok(counts.every((c) => new Set(c.map((n, i) => n / steps[0]!.targets[i]!.length)).size > 1), 'micro-batches hold uneven shares of targets');
  assert.ok(new Set(counts.map((c) => c.reduce((a, b) => a + b))).size > 1, 'the target count changes between steps');
});
