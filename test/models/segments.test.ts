// Packed sequences: a forward pass over several sequences packed in one row (with segment ids)
// gives each sequence exactly the logits it gets alone, and training through it agrees too; logits
// computed at selected rows only (sparse SFT targets) match the full LM head in value and gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { loadNative } from '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { backward, noGrad } from '../../src/core/autograd.js';
import { crossEntropy, reshape } from '../../src/core/ops.js';
import type { Tensor } from '../../src/core/tensor.js';

loadNative();

for (const preset of ['llama-tiny', 'tiny'] as const) {
  test(`${preset}: a packed row's sequences get the logits they get alone`, () => {
    const cfg = { ...PRESETS[preset], vocabSize: 97, nLayer: 2, dModel: 64, nHead: 4, nKvHead: preset === 'tiny' ? 4 : 2, ffn: 96, maxPositions: 64 };
    const model = Transformer.init(cfg, 3);
    const lens = [7, 12, 1, 9], T = 32; // 29 real tokens, 3 padding
    const ids = new Int32Array(T), seg = new Int32Array(T);
    let at = 0;
    lens.forEach((n, s) => { for (let i = 0; i < n; i++) { ids[at] = (at * 31 + 7) % 97; seg[at++] = s + 1; } });
    const V = cfg.vocabSize;
    const packed = noGrad(() => model.forward(ids, 1, T, { segments: seg }).logits.f32);
    at = 0;
    for (const n of lens) {
      const alone = noGrad(() => model.forward(ids.slice(at, at + n), 1, n).logits.f32);
      for (let i = 0; i < n * V; i++) assert.ok(Math.abs(packed[at * V + i]! - alone[i]!) < 1e-4, `sequence at ${at}, logit ${i}: ${packed[at * V + i]} vs ${alone[i]}`);
      at += n;
    }
    // without segments the later sequences see the earlier ones, so their logits differ
    const open = noGrad(() => model.forward(ids, 1, T).logits.f32);
    let diff = 0;
    for (let i = 7 * V; i < 19 * V; i++) diff = Math.max(diff, Math.abs(open[i]! - packed[i]!));
    assert.ok(diff > 1e-3, 'segments must change what later sequences see');
  });
}

test('logits at selected rows only: the same logits, loss and gradients as the full LM head', () => {
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: 97, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 96, maxPositions: 64 };
  const model = Transformer.init(cfg, 5);
  model.trainAll();
  const B = 2, T = 24, V = cfg.vocabSize, ids = new Int32Array(B * T).map((_, i) => (i * 37 + 11) % V);
  const targets = new Int32Array(B * T).fill(-100);
  for (const i of [3, 4, 5, 17, 30, 31, 40, 47]) targets[i] = (i * 13) % V; // sparse, like SFT answers
  const rows = Int32Array.from([...targets.keys()].filter((i) => targets[i]! >= 0));
  const full = noGrad(() => model.forward(ids, B, T).logits.f32);
  const some = noGrad(() => model.forward(ids, B, T, { rows }).logits);
  assert.deepEqual(some.shape, [rows.length, V]);
  rows.forEach((r, j) => { for (let v = 0; v < V; v++) assert.ok(Math.abs(some.f32[j * V + v]! - full[r * V + v]!) < 1e-5); });
  const grads = (f: () => Tensor) => {
    for (const [, p] of model.trainable()) p.grad = null;
    const l = f();
    backward(l);
    return { loss: l.item(), g: new Map(model.trainable().map(([n, p]) => [n, p.grad!.f32.slice()])) };
  };
  const a = grads(() => crossEntropy(reshape(model.forward(ids, B, T).logits, [B * T, V]), targets, rows.length));
  const b = grads(() => crossEntropy(model.forward(ids, B, T, { rows }).logits, Int32Array.from(rows, (r) => targets[r]!), rows.length));
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `loss ${a.loss} vs ${b.loss}`);
  for (const [n, g] of a.g) {
    const h = b.g.get(n)!;
    let peak = 0, err = 0;
    for (let i = 0; i < g.length; i++) { peak = Math.max(peak, Math.abs(g[i]!)); err = Math.max(err, Math.abs(g[i]! - h[i]!)); }
    assert.ok(err <= 1e-5 * Math.max(1, peak), `${n}: gradient differs by ${err} (peak ${peak})`);
  }
  assert.throws(() => model.forward(ids, B, T, { rows, lastOnly: true }), /rows or lastOnly/);
});
