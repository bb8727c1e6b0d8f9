// Sequence log-probs: batched right-padded rows give each sequence's own values, adapters off
// gives the base model, and gradients flow into the parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { scoredBatch, sequenceLogprobs, tokenLogprobs } from '../../src/models/logprobs.js';
import { backward, noGrad } from '../../src/core/autograd.js';
import * as op from '../../src/core/ops.js';

const cfg = { ...PRESETS['llama-tiny'], vocabSize: 50, nLayer: 2, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 64 };

/** log p(ids[t] | ids[<t]) from one full forward and an explicit log-softmax, summed over t ≥ from. */
function direct(model: Transformer, ids: number[], from: number): number {
  return noGrad(() => {
    const { logits } = model.forward(Int32Array.from(ids), 1, ids.length);
    const lp = op.logSoftmax(logits).f32, V = cfg.vocabSize;
    let s = 0;
    for (let t = from; t < ids.length; t++) s += lp[(t - 1) * V + ids[t]!]!;
    return s;
  });
}

test('sequenceLogprobs: each right-padded row equals its sequence scored alone', () => {
  const model = Transformer.init(cfg, 1);
  const items = [{ prompt: [1, 2, 3], response: [4, 5] }, { prompt: [7], response: [8, 9, 10, 11, 12] }, { prompt: [3, 3, 3, 3], response: [1] }];
  const got = Array.from(sequenceLogprobs(model, scoredBatch(items, 0)).f32);
  items.forEach((it, b) => {
    const want = direct(model, [...it.prompt, ...it.response], it.prompt.length);
    assert.ok(Math.abs(got[b]! - want) < 1e-4 * Math.max(1, Math.abs(want)), `row ${b}: ${got[b]} vs ${want}`);
  });
  const t = tokenLogprobs(model, scoredBatch(items, 0), { entropy: true });
  assert.deepEqual(Array.from(t.row), [0, 0, 1, 1, 1, 1, 1, 2]);
  // entropy of a distribution over 50 tokens lies in (0, ln 50]
  for (const e of t.entropy!) assert.ok(e > 0 && e <= Math.log(50) + 1e-5);
});

test('adapters: false scores the base model; LoRA with B ≠ 0 changes the scores', () => {
  const base = Transformer.init(cfg, 2), items = [{ prompt: [5, 6], response: [7, 8, 9] }];
  const before = sequenceLogprobs(base, scoredBatch(items)).f32[0]!;
  base.addLora({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'], rslora: false }, 3);
  for (const l of base.lora.values()) l.B.f32.fill(0.05);
  const on = sequenceLogprobs(base, scoredBatch(items)).f32[0]!, off = sequenceLogprobs(base, scoredBatch(items), { adapters: false }).f32[0]!;
  assert.equal(off, before);
  assert.notEqual(on, before);
});

test('with grad: d/dθ Σ log p flows into every trainable tensor and matches a finite difference', () => {
  const model = Transformer.init(cfg, 4);
  model.trainAll();
  const items = [{ prompt: [1, 2], response: [3, 4, 5] }, { prompt: [6, 7, 8], response: [9] }];
  const b = scoredBatch(items);
  const s = sequenceLogprobs(model, b, { grad: true });
  backward(op.sum(s));
  for (const [name, t] of model.trainable()) assert.ok(t.grad && t.grad.f32.some((v) => v !== 0), `${name} got no gradient`);
  const w = model.params.get('model.layers.1.mlp.down_proj.weight')!, j = 17, eps = 1e-2, orig = w.f32[j]!;
  const f = () => Array.from(sequenceLogprobs(model, b).f32).reduce((a, v) => a + v, 0);
  w.f32[j] = orig + eps; const fp = f(); w.f32[j] = orig - eps; const fm = f(); w.f32[j] = orig;
  const fd = (fp - fm) / (2 * eps), an = w.grad!.f32[j]!;
  assert.ok(Math.abs(fd - an) < 2e-3 * Math.max(1, Math.abs(fd)), `analytic ${an} vs finite difference ${fd}`);
});

test('bad batches are clear errors', () => {
  const model = Transformer.init(cfg, 1);
  assert.throws(() => scoredBatch([]), /at least one sequence/);
  assert.throws(() => scoredBatch([{ prompt: [], response: [1] }]), /empty prompt/);
  assert.throws(() => tokenLogprobs(model, { ids: Int32Array.from([1, 2]), B: 1, T: 2, mask: Uint8Array.from([1, 1]) }), /first token/);
});
