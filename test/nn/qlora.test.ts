// QLoRA end to end on a model folder read from disk with its block linears stored as NF4: a few
// AdamW steps on the LoRA adapters make the loss fall, while the NF4 codes and absmax of every
// frozen weight, and every other base tensor, stay bit-identical and never receive a gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE } from '../../src/tokenizer/index.js';
import { backward } from '../../src/core/autograd.js';
import { crossEntropy, reshape } from '../../src/core/ops.js';
import { AdamW, clipGradNorm } from '../../src/nn/optim.js';

test('QLoRA: loss falls and the NF4 base stays bit-identical', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-qlora-'));
  try {
    const tok = trainBPE(['the cat sat on the mat; the dog sat on the log. '.repeat(20)], { vocabSize: 300 });
    const cfg = { ...PRESETS['llama-tiny'], vocabSize: 300, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 128, maxPositions: 64 };
    saveModel(dir, Transformer.init(cfg, 7), tok);

    const { model } = loadModel(dir, { nf4: true });
    assert.equal(model.frozenNF4.size, 7 * cfg.nLayer, 'every block linear is stored as NF4');
    const codes = new Map([...model.frozenNF4].map(([n, q]) => [n, { codes: q.codes.slice(), absmax: q.absmax.slice() }]));
    const others = new Map([...model.params].map(([n, t]) => [n, t.f32.slice()]));
    model.addLora({ r: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rslora: false });

    const B = 2, T = 24, ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    const text = tok.encode('the dog sat on the mat; the cat sat on the log. '.repeat(8));
    for (let i = 0; i < ids.length; i++) ids[i] = text[i + (i >= T ? 5 : 0)]!;
    for (let i = 0; i < ids.length; i++) targets[i] = (i + 1) % T === 0 ? -100 : ids[i + 1]!;
    const params = model.trainable(), opt = new AdamW(params, { lr: 1e-2 }), losses: number[] = [];
    for (let s = 0; s < 12; s++) {
      opt.zeroGrad();
      const { logits } = model.forward(ids, B, T, { training: true });
      const loss = crossEntropy(reshape(logits, [B * T, -1]), targets);
      backward(loss);
      clipGradNorm(params.map(([, t]) => t), 1);
      opt.update();
      losses.push(loss.item());
    }
    assert.ok(losses.every(Number.isFinite));
    // from ln(300) ≈ 5.70 (a fresh model's logits are near zero), 12 steps fitting one batch bring
    // the loss down by about 0.6 (through LoRA alone, from adapters whose B starts at zero)
    assert.ok(Math.abs(losses[0]! - Math.log(cfg.vocabSize)) < 0.1, `first loss ${losses[0]}`);
    assert.ok(losses[11]! < losses[0]! - 0.3, `loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`);

    for (const [n, q] of model.frozenNF4) {
      assert.deepEqual(q.codes, codes.get(n)!.codes, `${n}: NF4 codes changed`);
      assert.deepEqual(q.absmax, codes.get(n)!.absmax, `${n}: NF4 absmax changed`);
    }
    for (const [n, t] of model.params) {
      assert.deepEqual(t.f32, others.get(n), `${n} changed`);
      assert.equal(t.grad, null, `${n} received a gradient`);
    }
    for (const [n, l] of model.lora) assert.ok(l.B.f32.some((v) => v !== 0), `${n}: lora_B never moved`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
