// Packed sequences: a forward pass over several sequences packed in one row (with segment ids)
// gives each sequence exactly the logits it gets alone, and training through it agrees too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { loadNative } from '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { noGrad } from '../../src/core/autograd.js';

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
