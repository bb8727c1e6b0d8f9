// The public API as a user meets it: a program in another folder that depends on the package
// imports 'heed' (package.json exports → dist/index.js, types from dist/index.d.ts), builds a model,
// trains a step and decodes, with nothing but what the entry point exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test("import 'heed' from another package: the stages' building blocks are there and work", () => {
  assert.ok(existsSync('dist/index.js') && existsSync('dist/index.d.ts'), 'the compiled entry point and its types');
  const app = mkdtempSync(join(tmpdir(), 'heed-user-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(process.cwd(), join(app, 'node_modules', 'heed'), 'dir');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'user', type: 'module', private: true }));
  writeFileSync(join(app, 'main.js'), `
import * as heed from 'heed';
const { Transformer, PRESETS, generate, backward, ops, AdamW, Tensor, sequenceLogprobs, scoredBatch, trainBPE } = heed;
const cfg = { ...PRESETS['llama-tiny'], vocabSize: 64, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 64 };
const model = Transformer.init(cfg, 1);
model.trainAll();
const ids = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const { logits } = model.forward(ids, 1, 8);
const loss = ops.crossEntropy(ops.reshape(logits, [8, -1]), Int32Array.from([2, 3, 4, 5, 6, 7, 8, 9]));
backward(loss);
const opt = new AdamW(model.trainable(), { lr: 1e-2 });
opt.update();
const after = ops.crossEntropy(ops.reshape(model.forward(ids, 1, 8).logits, [8, -1]), Int32Array.from([2, 3, 4, 5, 6, 7, 8, 9]));
const gen = generate(model, [[1, 2, 3]], { maxNewTokens: 4 });
const lp = sequenceLogprobs(model, scoredBatch([{ prompt: [1, 2], response: [3, 4] }]));
const names = ['loadModel', 'saveModel', 'pretrain', 'sft', 'trainRewardModel', 'trainDpo', 'trainRl', 'rollouts', 'FeedbackStore', 'listen', 'OpenAIClient', 'evaluateTasks', 'buildMixture', 'loadConstitution', 'rankResponses', 'loadRecipe'];
console.log(JSON.stringify({ before: loss.item(), after: after.item(), gen: gen.tokens[0], lp: lp.f32[0], missing: names.filter((n) => typeof heed[n] !== 'function'), tok: typeof trainBPE, tensor: new Tensor(new Float32Array(2), [2]).shape }));
`);
  const r = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(out.missing, []);
  assert.ok(out.after < out.before, `one AdamW step lowers the loss: ${out.before} → ${out.after}`);
  assert.equal(out.gen.length, 4);
  assert.ok(out.lp < 0);
  assert.equal(out.tok, 'function');
  assert.deepEqual(out.tensor, [2]);
});
