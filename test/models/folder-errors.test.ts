// Model and adapter folders under failure: NaN/Inf weights in any float dtype are refused naming the
// tensor, a failed save never leaves a folder that looks finished (and never deletes a user's other
// files), and a bad adapter leaves the model as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/models/load.js';
import { adapterConfigFrom, loadAdapter, saveAdapter } from '../../src/models/peft.js';
import { checkFinite, nonFinite, readSafetensors, writeSafetensors, type TensorData } from '../../src/models/safetensors.js';
import { byteTokenizer, zeroModel } from '../helpers/known-models.js';

const root = mkdtempSync(join(tmpdir(), 'heed-folder-errors-'));
const tok = byteTokenizer();

test('nonFinite finds NaN and ±Inf by their bits in every float dtype', () => {
  const f32: TensorData = { dtype: 'F32', shape: [4], data: Float32Array.of(1, NaN, -Infinity, 2) };
  assert.deepEqual(nonFinite(f32), { count: 2, index: 1, value: NaN });
  // bf16 0x7f80 = +Inf, 0xffc0 = NaN; f16 0xfc00 = −Inf; 0x7bff = 65504 (finite)
  assert.deepEqual(nonFinite({ dtype: 'BF16', shape: [3], data: Uint16Array.of(0x3f80, 0x7f80, 0xffc0) }), { count: 2, index: 1, value: Infinity });
  assert.deepEqual(nonFinite({ dtype: 'F16', shape: [2], data: Uint16Array.of(0x7bff, 0xfc00) }), { count: 1, index: 1, value: -Infinity });
  assert.equal(nonFinite({ dtype: 'F16', shape: [1], data: Uint16Array.of(0x7bff) }), null);
  assert.deepEqual(nonFinite({ dtype: 'F64', shape: [2], data: Float64Array.of(0, NaN) }), { count: 1, index: 1, value: NaN });
  assert.equal(nonFinite({ dtype: 'I32', shape: [1], data: Int32Array.of(-1) }), null);
  assert.throws(() => checkFinite(new Map([['w', f32]]), 'x.safetensors'),
    /^Error: x\.safetensors: tensor "w" holds NaN at element 1 \(2 non-finite values of 4\); the weights are corrupt/);
});

test('a failed save into a new folder leaves nothing, not even its temporary folder', () => {
  const model = zeroModel(tok);
  model.params.get('model.norm.weight')!.f32[2] = NaN;
  const dir = join(root, 'new', 'm');
  assert.throws(() => saveModel(dir, model, tok), /model\.safetensors: refusing to write it: tensor "model\.norm\.weight" holds NaN at element 2/);
  assert.ok(!existsSync(dir));
  assert.deepEqual(readdirSync(join(root, 'new')), []);
});

test('saving over an existing folder keeps the user\'s other files; a failure leaves no config.json', () => {
  const dir = join(root, 'existing');
  mkdirSync(dir);
  writeFileSync(join(dir, 'NOTES.md'), 'mine');
  saveModel(dir, zeroModel(tok), tok);
  assert.equal(readFileSync(join(dir, 'NOTES.md'), 'utf8'), 'mine');
  assert.equal(loadModel(dir).model.cfg.vocabSize, 259);
  const bad = zeroModel(tok);
  bad.params.get('lm_head.weight')!.f32[0] = Infinity;
  assert.throws(() => saveModel(dir, bad, tok), /holds Inf/);
  assert.ok(!existsSync(join(dir, 'config.json')), 'a half-written folder must not look finished');
  assert.throws(() => loadModel(dir), /not a model folder \(no config\.json\)/);
  assert.equal(readFileSync(join(dir, 'NOTES.md'), 'utf8'), 'mine');
  // an empty folder (as mkdir -p leaves) is filled by the rename path
  const empty = join(root, 'empty');
  mkdirSync(empty);
  saveModel(empty, zeroModel(tok), tok);
  assert.ok(existsSync(join(empty, 'config.json')));
  assert.throws(() => saveModel(join(empty, 'config.json'), zeroModel(tok), tok), /config\.json: is a file, expected a folder/);
});

test('a NaN in a saved model is refused on load, naming the file and tensor', () => {
  const dir = join(root, 'nan');
  saveModel(dir, zeroModel(tok), tok);
  const file = join(dir, 'model.safetensors');
  const t = new Map(readSafetensors(file).tensors);
  const w = t.get('model.layers.0.mlp.up_proj.weight')!;
  const data = Float32Array.from(w.data as Float32Array);
  data[5] = NaN;
  t.set('model.layers.0.mlp.up_proj.weight', { ...w, data });
  writeSafetensors(file, t);
  assert.throws(() => loadModel(dir), new RegExp(`^Error: ${file.replace(/[.]/g, '\\.')}: tensor "model\\.layers\\.0\\.mlp\\.up_proj\\.weight" holds NaN at element 5`));
});

test('adapter_config.json: defaults, all-linear and a single module name; a bad adapter leaves the model as it was', () => {
  const lc = adapterConfigFrom({ peft_type: 'LORA', r: 4, target_modules: 'all-linear', task_type: 'CAUSAL_LM', init_lora_weights: 'gaussian' }, 'a.json');
  assert.deepEqual(lc, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rslora: false });
  assert.deepEqual(adapterConfigFrom({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: 'q_proj', use_rslora: true }, 'a.json').targetModules, ['q_proj']);
  assert.throws(() => adapterConfigFrom({ peft_type: 'LORA', r: 2.5, target_modules: ['q_proj'] }, 'a.json'), /a\.json: "r" must be a positive integer, got 2\.5/);
  assert.throws(() => adapterConfigFrom({ peft_type: 'LORA', r: 2, target_modules: [] }, 'a.json'), /"target_modules" must be a list of module names/);
  assert.throws(() => adapterConfigFrom({ peft_type: 'LORA', r: 2, target_modules: ['q_proj'], task_type: 'SEQ_CLS' }, 'a.json'), /"task_type" = "SEQ_CLS" is not supported/);

  const src = zeroModel(tok);
  src.addLora({ r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'], rslora: false });
  const dir = join(root, 'adapter');
  saveAdapter(dir, src);
  const wPath = join(dir, 'adapter_model.safetensors');
  const good = readSafetensors(wPath).tensors;
  writeSafetensors(wPath, new Map([...good].filter(([k]) => !k.endsWith('lora_B.weight'))));
  const model = zeroModel(tok);
  assert.throws(() => loadAdapter(dir, model), /adapter_model\.safetensors: missing tensor '.*q_proj\.lora_B\.weight'/);
  assert.equal(model.lora.size, 0);
  assert.equal(model.loraConfig, null);
  writeSafetensors(wPath, good);
  assert.equal(loadAdapter(dir, model).r, 2);
  assert.equal(model.lora.size, 1);
});
