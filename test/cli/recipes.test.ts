// One schema per stage: every recipe key has a flag with help, a flag goes through the same
// validation as the key in a recipe file, and SFT refuses too little data before it trains.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { PretrainSchema, SftSchema, loadRecipe } from '../../src/train/recipes.js';
import { addRecipeFlags, recipeLeaves, recipeOverrides } from '../../src/cli/recipe-flags.js';
import { SFT_ALIASES } from '../../src/cli/commands/train.js';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE } from '../../src/tokenizer/index.js';

const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });
const root = mkdtempSync(join(tmpdir(), 'heed-recipes-')), base = join(root, 'base');

before(() => {
  const tok = trainBPE(['Say red. RED. Say blue. BLUE. What is 2 plus 2? 4.'.repeat(20)], { vocabSize: 300 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: 300, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 1), tok);
});

test('every recipe key of every stage has a flag whose help comes from the schema', () => {
  for (const schema of [PretrainSchema, SftSchema]) {
    const cmd = addRecipeFlags(new Command('x'), schema);
    const help = cmd.helpInformation().replace(/\s+/g, ' ');
    for (const leaf of recipeLeaves(schema)) {
      assert.ok(help.includes(`--${leaf.flag}`), `--${leaf.flag} missing`);
      assert.ok(help.includes(`recipe key ${leaf.path.join('.')}`), `${leaf.path.join('.')} has no help`);
    }
  }
  // nested keys: lora.r → --lora-r; aliases keep the short names
  assert.deepEqual(recipeLeaves(SftSchema, SFT_ALIASES).filter((l) => l.path[0] === 'lora').map((l) => l.flag), ['lora-r', 'lora-alpha', 'lora-dropout', 'target-modules', 'rslora']);
});

test('flag overrides are parsed by kind and validated by the recipe schema', () => {
  const over = recipeOverrides({ lr: '0.01', targetModules: 'q_proj, v_proj', pack: false, loraR: '8' }, SftSchema, SFT_ALIASES);
  const r = loadRecipe(SftSchema, 'sft', over);
  assert.equal(r.lr, 0.01);
  assert.deepEqual(r.lora.targetModules, ['q_proj', 'v_proj']);
  assert.equal(r.pack, false);
  assert.equal(r.lora.r, 8);
  assert.throws(() => recipeOverrides({ lr: 'fast' }, SftSchema), /--lr: expected a number, got 'fast'/);
  assert.throws(() => loadRecipe(SftSchema, 'sft', recipeOverrides({ targetModules: 'q_proj,attn' }, SftSchema, SFT_ALIASES)), /--target-modules: Invalid enum value/);
});

test('nonsense values from flags are refused before any work, each naming its flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--grad-accum', '0'], /--grad-accum: Number must be greater than 0, got 0/],
    [['--lr', '-1'], /--lr: Number must be greater than 0, got -1/],
    [['--steps', '-5'], /--steps: Number must be greater than or equal to 0, got -5/],
    [['--method', 'dora'], /--method: Invalid enum value\. Expected 'full' \| 'lora' \| 'qlora', received 'dora'/],
    [['--lora-r', '0'], /--lora-r: Number must be greater than 0, got 0/],
    [['--lora-dropout', '1.5'], /--lora-dropout: Number must be less than or equal to 0\.9, got 1\.5/],
    [['--seq-len', '2.5'], /--seq-len: Expected integer, received float, got 2\.5/],
    [['--epochs', 'NaN'], /--epochs: expected a number, got 'NaN'/],
  ];
  for (const [flags, want] of cases) {
    const out = join(root, 'never');
    const r = heed('sft', '--model', base, '--out', out, ...flags);
    assert.equal(r.status, 1, flags.join(' '));
    assert.match(r.stderr, want);
    assert.ok(!/\n\s+at .*:\d+:\d+/.test(r.stderr), 'no stack trace');
    assert.ok(!existsSync(out), `${flags.join(' ')}: nothing written`);
  }
  const r = heed('pretrain', '--steps', '0', '--time-budget', '0', '--out', join(root, 'never'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /steps: give steps > 0 or a time budget > 0/);
});

test('a recipe file with invalid JSON, a BOM, or a bad value is an error naming the file', () => {
  const bad = join(root, 'bad.json');
  writeFileSync(bad, '{"stage": "sft", ');
  let r = heed('sft', '--model', base, '--recipe', bad, '--out', join(root, 'never'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.json: not valid JSON/);
  const good = JSON.parse(readFileSync('recipes/sft-quick.json', 'utf8'));
  writeFileSync(bad, '\uFEFF' + JSON.stringify({ ...good, lr: -2 }));
  r = heed('sft', '--model', base, '--recipe', bad, '--out', join(root, 'never'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.json: lr: Number must be greater than 0, got -2/);
});

test('SFT on an empty, whitespace-only or one-conversation file is an error saying how much is needed', () => {
  const one = JSON.stringify({ messages: [{ role: 'user', content: 'Say red.' }, { role: 'assistant', content: 'RED' }] });
  const cases: Array<[string, string, RegExp]> = [
    ['empty.jsonl', '', /empty\.jsonl holds no conversations; SFT needs at least 2/],
    ['blank.jsonl', '  \n\n \t\n', /blank\.jsonl holds no conversations; SFT needs at least 2/],
    ['one.jsonl', one + '\n', /one\.jsonl holds one conversation; SFT needs at least 2 \(one is held out for validation\)/],
  ];
  for (const [name, text, want] of cases) {
    const file = join(root, name), out = join(root, `run-${name}`);
    writeFileSync(file, text);
    const r = heed('sft', '--model', base, '--data', file, '--out', out, '--steps', '2', '--seq-len', '64');
    assert.equal(r.status, 1, name);
    assert.match(r.stderr, want);
    assert.ok(!existsSync(join(out, 'final')) && !existsSync(join(out, 'metrics.jsonl')), `${name}: no model written`);
  }
  // with a validation file, one conversation is enough to train on
  const file = join(root, 'one.jsonl'), r = heed('sft', '--model', base, '--data', file, '--val-data', file, '--out', join(root, 'one-ok'), '--steps', '2', '--seq-len', '64');
  assert.equal(r.status, 0, r.stderr);
});
