// `heed export` through the compiled bin: every target writes what it should, and every bad flag or
// value is a clear error that leaves nothing behind that looks finished.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { saveAdapter } from '../../src/models/peft.js';
import { Rng } from '../../src/core/rng.js';
import { noGrad } from '../../src/core/autograd.js';
import { trainBPE, WORDS_PATTERN } from '../../src/tokenizer/index.js';
import { corpusTokens, SHAPES, tmp } from './helpers.js';

const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });
const STACK = /\n\s+at .*:\d+:\d+/;

let model: string, adapter: string;
const root = tmp('export-cli');

before(() => {
  const { tok } = corpusTokens();
  const m = Transformer.init({ ...SHAPES.llama, eosTokenId: tok.tokenToId('<|endoftext|>')! }, 5);
  model = join(root, 'model');
  saveModel(model, m, tok);
  m.addLora({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], rslora: false }, 1);
  const rng = new Rng(2);
  for (const l of m.lora.values()) for (let i = 0; i < l.B.size; i++) l.B.f32[i] = rng.normal() * 0.05;
  adapter = join(root, 'adapter');
  saveAdapter(adapter, m, model);
});

function logits(dir: string, adapterDir?: string): Float32Array {
  const m = loadModel(dir, { adapter: adapterDir });
  return noGrad(() => m.model.forward(Int32Array.from([5, 80, 200, 9, 31]), 1, 5).logits.f32.slice());
}

test('heed export --help has a description and examples', () => {
  const r = heed('export', '--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: heed export/);
  assert.match(r.stdout, /Examples:\n {2}heed export --model/);
});

test('--to ollama: model.gguf, adapter.gguf and a Modelfile with FROM, ADAPTER, a ChatML TEMPLATE and stop parameters', async () => {
  const out = join(root, 'ollama');
  const r = heed('export', '--model', model, '--adapter', adapter, '--to', 'ollama', '--type', 'q8_0', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['Modelfile', 'adapter.gguf', 'model.gguf']);
  const mf = readFileSync(join(out, 'Modelfile'), 'utf8');
  assert.match(mf, /^FROM \.\/model\.gguf$/m);
  assert.match(mf, /^ADAPTER \.\/adapter\.gguf$/m);
  assert.match(mf, /^TEMPLATE """\{\{- range \.Messages \}\}<\|im_start\|>\{\{ \.Role \}\}\n\{\{ \.Content \}\}<\|im_end\|>\n\{\{ end \}\}<\|im_start\|>assistant\n"""$/m);
  assert.match(mf, /^PARAMETER stop "<\|im_end\|>"$/m);
  assert.match(mf, /^PARAMETER stop "<\|endoftext\|>"$/m);
  const md = (await gguf(join(out, 'adapter.gguf'), { allowLocalFile: true })).metadata as Record<string, unknown>;
  assert.equal(md['general.type'], 'adapter');
  assert.equal(((await gguf(join(out, 'model.gguf'), { allowLocalFile: true })).metadata as Record<string, unknown>)['general.file_type'], 7);
});

test('--to ollama --merge: one GGUF, no ADAPTER line', () => {
  const out = join(root, 'ollama-merged');
  const r = heed('export', '--model', model, '--adapter', adapter, '--to', 'ollama', '--merge', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['Modelfile', 'model.gguf']);
  assert.doesNotMatch(readFileSync(join(out, 'Modelfile'), 'utf8'), /ADAPTER/);
});

test('--to hf: the merged model computes what base + adapter computes', () => {
  const out = join(root, 'merged');
  const r = heed('export', '--model', model, '--adapter', adapter, '--to', 'hf', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const want = logits(model, adapter), got = logits(out);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
  assert.ok(worst < 1e-5, `max |Δlogit| ${worst}`);
  assert.notDeepEqual(logits(model), want, 'the adapter changes the logits');
  assert.equal(loadModel(out).tok.chatTemplate?.source, loadModel(model).tok.chatTemplate?.source);
});

test('--to peft: an adapter folder that loads back to the same logits', () => {
  const out = join(root, 'peft');
  const r = heed('export', '--model', model, '--adapter', adapter, '--to', 'peft', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(logits(model, out), logits(model, adapter));
});

const BAD: Array<[string, string[], RegExp]> = [
  ['an unknown --to', ['--to', 'onnx', '--out', 'x'], /--to.*onnx.*gguf, hf, peft, ollama, trl, axolotl/s],
  ['an unknown --type', ['--to', 'gguf', '--type', 'q4_0', '--out', 'x.gguf'], /--type.*q4_0/s],
  ['--to peft without --adapter', ['--to', 'peft', '--out', 'p'], /--to peft needs --adapter/],
  ['--adapter-only without --adapter', ['--to', 'gguf', '--adapter-only', '--out', 'a.gguf'], /needs --adapter/],
  ['--adapter-only with --to hf', ['--to', 'hf', '--adapter-only', '--out', 'h'], /--adapter-only applies to --to gguf/],
  ['--merge with --to gguf', ['--to', 'gguf', '--merge', '--out', 'm.gguf'], /--merge applies to --to ollama/],
  ['--type q8_0 with --to hf', ['--to', 'hf', '--type', 'q8_0', '--out', 'h'], /q8_0 is a GGUF type/],
  ['--preferences with --to gguf', ['--to', 'gguf', '--preferences', 'p.jsonl', '--out', 'm.gguf'], /--preferences applies to --to trl/],
  ['--type with --to trl', ['--to', 'trl', '--type', 'f16', '--out', 't'], /--type does not apply to --to trl/],
];

for (const [what, args, msg] of BAD) {
  test(`heed export with ${what}: a clear error, exit 1, nothing written`, () => {
    const cwd = tmp('bad');
    const r = spawnSync(process.execPath, [join(process.cwd(), 'bin/heed.js'), 'export', '--model', model, ...args], { encoding: 'utf8', cwd });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, STACK);
    assert.deepEqual(readdirSync(cwd), []);
  });
}

test('a missing model folder, a file as --out folder, a folder as --out file: clear errors', () => {
  const out = join(root, 'busy');
  mkdirSync(out);
  writeFileSync(join(out, 'x'), 'x');
  for (const [args, msg] of [
    [['--model', join(root, 'nope'), '--to', 'gguf', '--out', join(root, 'n.gguf')], /nope: not a model folder/],
    [['--model', model, '--to', 'hf', '--out', out], /--out .*busy already exists and is not empty/],
    [['--model', model, '--to', 'gguf', '--out', out], /--out .*busy is a folder; --to gguf writes one file/],
  ] as const) {
    const r = heed('export', ...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, STACK);
  }
});

test('a tokenizer llama.cpp cannot reproduce: the error names it and no GGUF or Ollama folder is left', () => {
  const { tok } = corpusTokens();
  const words = trainBPE([tok.decode(Array.from(corpusTokens().train))], { vocabSize: 400, pattern: WORDS_PATTERN });
  const dir = join(root, 'words');
  saveModel(dir, Transformer.init({ ...SHAPES.llama, vocabSize: 400 }, 1), words);
  const out = tmp('words-out');
  let r = heed('export', '--model', dir, '--to', 'gguf', '--out', join(out, 'w.gguf'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /words\/tokenizer\.json: no llama\.cpp pre-tokenizer splits text as this tokenizer does/);
  r = heed('export', '--model', dir, '--to', 'ollama', '--out', join(out, 'ollama'));
  assert.equal(r.status, 1);
  assert.deepEqual(readdirSync(out), []);
});

test('a chat template that is not ChatML cannot become an Ollama TEMPLATE: error, no folder', () => {
  const dir = join(root, 'other-template');
  const m = loadModel(model);
  saveModel(dir, m.model, m.tok.tokenizer, { chatTemplate: "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}" });
  const out = join(root, 'no-ollama');
  const r = heed('export', '--model', dir, '--to', 'ollama', '--out', out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not ChatML .* translates only ChatML to an Ollama TEMPLATE/);
  assert.equal(existsSync(out), false);
});
