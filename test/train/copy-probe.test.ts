// The pretraining probes: the copy probe tells a model that copies from its context from one that
// does not; the capitals probe tells a model that has stored the almanac's facts from one that has not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNative } from '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { Rng } from '../../src/core/rng.js';
import { RunDir } from '../../src/train/checkpoint.js';
import { lmLoss, trainLoop, type Batch } from '../../src/train/loop.js';
import { capitalsProbe, copyProbe } from '../../src/eval/probes.js';
import { loadCountries } from '../../src/data/sources.js';
import { trainBPE, WORDS_PATTERN } from '../../src/tokenizer/index.js';

loadNative();

test('copyProbe: same loss at both readings untrained, far lower second reading once the model copies', () => {
  const V = 48, L = 64, cfg = { ...PRESETS['llama-tiny'], vocabSize: V, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 128, maxPositions: 2 * L };
  const model = Transformer.init(cfg, 0);
  const rng = new Rng(5), val = Int32Array.from({ length: 40 * L }, () => rng.int(V));
  const before = copyProbe(model, val);
  assert.ok(Math.abs(before.firstReading - before.secondReading) < 0.2, JSON.stringify(before));
  // train on passages read twice (random tokens: only copying can predict the second reading)
  const B = 16, T = 2 * L;
  const next = (): Batch => {
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-100);
    for (let b = 0; b < B; b++) for (let i = 0; i < L; i++) {
      const t = rng.int(V); ids[b * T + i] = t; ids[b * T + L + i] = t;
      if (i > 0) targets[b * T + L + i - 1] = t;
    }
    return { ids, targets, B, T };
  };
  model.trainAll();
  trainLoop({ run: new RunDir(mkdtempSync(join(tmpdir(), 'heed-copy-'))), params: model.trainable(), lossOf: (b: Batch) => lmLoss(model, b), data: { next, state: () => 0, load: () => {} }, steps: 150, lr: 3e-3, quiet: true });
  const after = copyProbe(model, val);
  assert.ok(after.secondReading < after.firstReading - 1.5, JSON.stringify(after));
});

test('capitalsProbe: none recalled untrained, most once the model has read the almanac sentences', () => {
  const n = 12, cs = loadCountries().filter((c) => c.capital !== '').slice(0, n);
  const lines = cs.map((c) => `The capital of ${c.name} is ${c.capital}.`);
  const tok = trainBPE(lines, { vocabSize: 400, pattern: WORDS_PATTERN });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: tok.vocabSize, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 128, maxPositions: 128 };
  const model = Transformer.init(cfg, 0);
  assert.equal(capitalsProbe(model, tok, n).correct, 0);
  const eos = tok.tokenToId('<|endoftext|>')!, rows = lines.map((l) => [...tok.encode(l), eos]);
  const T = Math.max(...rows.map((r) => r.length)) - 1, B = rows.length;
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-100);
  rows.forEach((r, b) => { for (let t = 0; t + 1 < r.length; t++) { ids[b * T + t] = r[t]!; targets[b * T + t] = r[t + 1]!; } });
  model.trainAll();
  trainLoop({ run: new RunDir(mkdtempSync(join(tmpdir(), 'heed-facts-'))), params: model.trainable(), lossOf: (b: Batch) => lmLoss(model, b), data: { next: () => ({ ids, targets, B, T }), state: () => 0, load: () => {} }, steps: 200, lr: 3e-3, quiet: true });
  const after = capitalsProbe(model, tok, n);
  assert.equal(after.n, n);
  assert.ok(after.correct >= n - 2, JSON.stringify(after));
});
