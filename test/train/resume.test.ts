// Durability of training runs: SIGKILL at chosen file-system calls (inside a checkpoint write,
// inside a metrics append that is left torn, and between a checkpoint and the next metrics row), then --resume, for pretraining, full SFT and LoRA SFT.
// The resumed run's every metrics field and its final weights must equal the uninterrupted run's,
// bit for bit. The kills come from a test-only preload (test/helpers/kill-hook.mjs), never from a
// hook in heed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE } from '../../src/tokenizer/index.js';
import { Rng } from '../../src/core/rng.js';
import { RunDir } from '../../src/train/checkpoint.js';

const root = mkdtempSync(join(tmpdir(), 'heed-resume-'));
const base = join(root, 'base'), chats = join(root, 'chats.jsonl');
const HOOK = join(process.cwd(), 'test/helpers/kill-hook.mjs');

before(() => {
  const words = ['red', 'green', 'blue', 'cat', 'dog', 'sun', 'moon', 'tree', 'fish', 'bird', 'star', 'rain'];
  const convs = words.flatMap((w, i) => [
    { messages: [{ role: 'user', content: `Say ${w} in capitals.` }, { role: 'assistant', content: w.toUpperCase() }] },
    { messages: [{ role: 'user', content: `What is ${i} plus 2?` }, { role: 'assistant', content: String(i + 2) }] },
  ]);
  writeFileSync(chats, convs.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const tok = trainBPE([readFileSync(chats, 'utf8').repeat(3)], { vocabSize: 300 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: 300, nLayer: 2, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 1), tok);
  writeFileSync(join(root, 'pretrain.json'), JSON.stringify({
    stage: 'pretrain', preset: 'llama-tiny', model: { nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64 }, vocabSize: 300, seqLen: 32,
    batchSize: 4, lr: 3e-3, weightDecay: 0.1, steps: 10, timeBudgetSec: 0, evalEvery: 3, valWindows: 4, seed: 0, sources: ['moby-dick'], maxChars: 20000,
  }));
});

interface Stage { name: string; args: string[]; outputs: string[] }
const STAGES: Stage[] = [
  { name: 'pretrain', args: ['pretrain', '--recipe', 'RECIPE'], outputs: ['model/model.safetensors'] },
  { name: 'full SFT', args: ['sft', '--model', 'BASE', '--data', 'CHATS', '--steps', '8', '--seq-len', '64', '--batch-size', '2', '--grad-accum', '2', '--eval-every', '3'], outputs: ['final/model.safetensors', 'best/model.safetensors'] },
  { name: 'LoRA SFT', args: ['sft', '--model', 'BASE', '--data', 'CHATS', '--method', 'lora', '--lora-dropout', '0.1', '--steps', '8', '--seq-len', '64', '--batch-size', '2', '--grad-accum', '2', '--eval-every', '3'], outputs: ['final/adapter_model.safetensors'] },
];

function heed(stage: Stage, out: string, extra: string[], env: Record<string, string> = {}) {
  const args = stage.args.map((a) => (a === 'RECIPE' ? join(root, 'pretrain.json') : a === 'BASE' ? base : a === 'CHATS' ? chats : a));
  return spawnSync(process.execPath, ['--import', HOOK, 'bin/heed.js', ...args, '--out', out, ...extra], { encoding: 'utf8', env: { ...process.env, HEED_PLAIN_PROGRESS: '1', ...env } });
}

interface Call { fn: string; path: string }

/** The kill points: (index into the call trace, torn?, what it is). */
function killPoints(trace: Call[], seed: number): Array<{ at: number; torn: boolean; what: string }> {
  const rng = new Rng(seed);
  const idx = (pred: (c: Call, i: number) => boolean) => trace.map((c, i) => (pred(c, i) ? i : -1)).filter((i) => i >= 0);
  const pick = (xs: number[], what: string) => { assert.ok(xs.length > 0, `no call for ${what}`); return xs[rng.int(xs.length)]!; };
  const ckptWrite = idx((c) => c.fn === 'writeSync' && /ckpt-\d+\/(trainable|optimizer)\.safetensors\.tmp/.test(c.path));
  const latestRename = idx((c) => c.fn === 'renameSync' && c.path.endsWith('latest.json'));
  const metricsAppend = idx((c) => c.fn === 'appendFileSync' && c.path.endsWith('metrics.jsonl'));
  // the last latest.json rename comes after the final step: take one with a metrics row after it
  const between = latestRename.filter((i) => trace.slice(i + 1).some((c) => c.fn === 'appendFileSync')).map((i) => i + 1);
  return [
    { at: pick(ckptWrite, 'a checkpoint write'), torn: true, what: 'inside a checkpoint write' },
    { at: pick(metricsAppend, 'a metrics append'), torn: true, what: 'inside a metrics append (torn line)' },
    { at: pick(between, 'after a checkpoint'), torn: false, what: 'between a checkpoint and the next metrics row' },
  ];
}

for (const [s, stage] of STAGES.entries()) {
  test(`kill -9 at random moments, then --resume: ${stage.name} ends bit for bit as the uninterrupted run`, () => {
    const straight = join(root, `${s}-straight`), traceFile = join(root, `${s}-trace.json`);
    const r0 = heed(stage, straight, [], { HEED_FS_TRACE: traceFile });
    assert.equal(r0.status, 0, r0.stderr);
    const trace = JSON.parse(readFileSync(traceFile, 'utf8')) as Call[];
    const want = readFileSync(join(straight, 'metrics.jsonl'), 'utf8');
    assert.equal(want.trim().split('\n').length, stage.name === 'pretrain' ? 10 : 8);
    for (const [k, p] of killPoints(trace, 7 + s).entries()) {
      const out = join(root, `${s}-killed-${k}`);
      const killed = heed(stage, out, [], { HEED_KILL_AT: String(p.at + 1), HEED_KILL_TORN: p.torn ? '1' : '0' });
      assert.equal(killed.signal, 'SIGKILL', `${p.what}: the run was not killed (${killed.stderr.slice(-300)})`);
      const resumed = heed(stage, out, ['--resume']);
      assert.equal(resumed.status, 0, `${p.what}: ${resumed.stderr.slice(-800)}`);
      assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), want, `${p.what}: metrics differ`);
      for (const f of stage.outputs) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(straight, f))), `${p.what}: ${f} differs`);
    }
  });
}

test('a torn last line of metrics.jsonl loses only that line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-torn-')), run = new RunDir(dir);
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n{"step":3,"lo');
  assert.deepEqual(run.metrics().map((r) => r.step), [1, 2]);
  // a bad line in the middle (a hand edit) costs that line, not the rows after it
  appendFileSync(join(dir, 'metrics.jsonl'), '\n{"step":4,"loss":1}\n');
  assert.deepEqual(run.metrics().map((r) => r.step), [1, 2, 4]);
  run.truncateMetrics(2);
  assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n');
});

test('run folders: a fresh start over a run is refused, --resume with another recipe is refused, recipe.json untouched', () => {
  const stage = STAGES[1]!, out = join(root, 'claims');
  assert.equal(heed(stage, out, []).status, 0);
  const recipeBefore = readFileSync(join(out, 'recipe.json'), 'utf8');
  let r = heed(stage, out, []);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /holds a run \(a checkpoint\); pass --resume to continue it, or --overwrite to start over/);
  assert.ok(!/\n\s+at .*:\d+:\d+/.test(r.stderr), 'no stack trace');
  r = heed(stage, out, ['--resume', '--lr', '0.01']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--resume with a different recipe .*\(lr differs\)/);
  assert.equal(readFileSync(join(out, 'recipe.json'), 'utf8'), recipeBefore, 'a refused resume leaves recipe.json as it was');
  // different data under the same path is a different run too
  const other = join(root, 'chats2.jsonl');
  writeFileSync(other, readFileSync(chats, 'utf8').split('\n').slice(2).join('\n'));
  r = spawnSync(process.execPath, ['bin/heed.js', 'sft', '--model', base, '--data', other, '--steps', '8', '--seq-len', '64', '--batch-size', '2', '--grad-accum', '2', '--eval-every', '3', '--out', out, '--resume'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /data(Sha256)? differ/);
  r = heed(stage, out, ['--overwrite']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 8);
});

test('a kill before the first checkpoint, then --resume: no duplicate steps', () => {
  const stage = STAGES[1]!, out = join(root, 'early');
  const trace = JSON.parse(readFileSync(join(root, '1-trace.json'), 'utf8')) as Call[];
  const firstAppend = trace.findIndex((c) => c.fn === 'appendFileSync'), secondAppend = trace.findIndex((c, i) => i > firstAppend && c.fn === 'appendFileSync');
  const killed = heed(stage, out, [], { HEED_KILL_AT: String(secondAppend + 1) });
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1, 'step 1 was logged, no checkpoint yet');
  const resumed = heed(stage, out, ['--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /no checkpoint .* starting fresh/);
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('a damaged latest.json is a clear error naming it', () => {
  const stage = STAGES[1]!, out = join(root, 'damaged');
  assert.equal(heed(stage, out, []).status, 0);
  writeFileSync(join(out, 'latest.json'), '{"checkpoint": ');
  let r = heed(stage, out, ['--resume']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /latest\.json: not valid JSON/);
  writeFileSync(join(out, 'latest.json'), '{"checkpoint": "../../etc"}');
  r = heed(stage, out, ['--resume']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /latest\.json: does not name a checkpoint folder/);
  assert.ok(existsSync(join(out, 'recipe.json')));
});
