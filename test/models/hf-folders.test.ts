// Hugging Face model folders written by PyTorch (GPT-2 with Conv1D weights in the hub layout, a
// sharded untied Llama, a BF16 Qwen2 with q/k/v biases) load through readModelFolder and give
// the reference logits; and a heed model saved and reloaded gives identical logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { readModelFolder, writeModelFolder } from '../../src/models/folder.js';
import { Transformer } from '../../src/models/transformer.js';
import { noGrad } from '../../src/core/autograd.js';

for (const name of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2']) {
  test(`${name}: PyTorch-written folder loads and reproduces its logits`, () => {
    const dir = join('test/fixtures/models', name);
    const f = readModelFolder(dir), model = Transformer.fromTensors(f.config, f.tensors);
    const ref = JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')) as { ids: number[]; logits: number[][] };
    const out = noGrad(() => model.forward(Int32Array.from(ref.ids), 1, ref.ids.length).logits.f32);
    const V = f.config.vocabSize;
    let worst = 0;
    ref.logits.forEach((row, t) => row.forEach((v, j) => { worst = Math.max(worst, Math.abs(out[t * V + j]! - v)); }));
    assert.ok(worst < 1e-4, `max |Δlogit| ${worst}`);
    // write back (BF16 stays BF16-exact; F32 exact) and reload: same logits
    const again = join(mkdtempSync(join(tmpdir(), 'heed-hf-')), name);
    writeModelFolder(again, f.config, model.toTensors());
    const m2 = Transformer.fromTensors(f.config, readModelFolder(again).tensors);
    const out2 = noGrad(() => m2.forward(Int32Array.from(ref.ids), 1, ref.ids.length).logits.f32);
    assert.deepEqual(Array.from(out2), Array.from(out));
  });
}
