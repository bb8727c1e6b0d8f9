// SFT end to end on a tiny model: every trainable parameter moves, LoRA leaves the base alone and
// round-trips through PEFT files, merging equals adapter-on-base, QLoRA trains on an NF4 base,
// a malformed JSONL line stops the run with file:line, and kill -9 + --resume replays the loss
// curve exactly.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE } from '../../src/tokenizer/index.js';
import { sft as runSft, replayRows } from '../../src/train/sft.js';
import type { SftRecipe } from '../../src/train/recipes.js';
import { buildCorpus } from '../../src/data/index.js';
import { loadAdapter } from '../../src/models/peft.js';
import { noGrad } from '../../src/core/autograd.js';

const root = mkdtempSync(join(tmpdir(), 'heed-sft-'));
const base = join(root, 'base'), data = join(root, 'chats.jsonl');

before(() => {
  const words = ['red', 'green', 'blue', 'cat', 'dog', 'sun', 'moon', 'tree', 'fish', 'bird', 'star', 'rain'];
  const convs = words.flatMap((w, i) => [
    { messages: [{ role: 'user', content: `Say ${w} in capitals.` }, { role: 'assistant', content: w.toUpperCase() }] },
    { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Reverse ${w}.` }, { role: 'assistant', content: [...w].reverse().join('') }] },
    { messages: [{ role: 'user', content: `What is ${i} plus 2?` }, { role: 'assistant', content: String(i + 2) }] },
  ]);
  writeFileSync(data, convs.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const tok = trainBPE([readFileSync(data, 'utf8').repeat(3)], { vocabSize: 320 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: 320, nLayer: 2, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 1), tok);
});

type Run = SftRecipe & { out: string };

function recipe(out: string, over: Partial<SftRecipe> = {}): Run {
  return {
    stage: 'sft', out, method: 'full', lora: { r: 4, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'v_proj', 'gate_proj', 'down_proj'], rslora: false },
    data, valData: '', skipBadLines: false, trainPerFamily: 1, evalPerFamily: 1, seqLen: 64, pack: true, batchSize: 2, gradAccum: 2,
    lr: 5e-3, weightDecay: 0, steps: 6, epochs: 1, warmupRatio: 0.1, replay: { fraction: 0, sources: ['sotu'] }, evalEvery: 3, seed: 0, ...over,
  };
}

/** SFT on the test's base model into `r.out` (quiet). */
function sft(r: Run, log: (s: string) => void) {
  const { out, ...recipe } = r;
  return runSft(recipe, base, { out, quiet: true }, log);
}

function snapshot(m: Transformer): Map<string, Float32Array> {
  return new Map([...m.params].map(([n, t]) => [n, t.f32.slice()]));
}

test('full SFT: loss is finite, falls, and every parameter changes', () => {
  const out = join(root, 'full'), before0 = snapshot(loadModel(base).model);
  const r = sft(recipe(out, { steps: 12 }), () => {});
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 12);
  assert.ok(rows.every((x) => Number.isFinite(x.loss)));
  assert.ok(rows[rows.length - 1].loss < rows[0].loss, `loss ${rows[0].loss} → ${rows[rows.length - 1].loss}`);
  assert.ok(r.bestVal !== null && Number.isFinite(r.bestVal));
  const after = loadModel(join(out, 'final')).model;
  for (const [n, t] of after.params) assert.ok(t.f32.some((v, i) => v !== before0.get(n)![i]), `${n} did not change`);
});

test('LoRA: only adapters train, PEFT folder round-trips, merge equals adapter-on-base within 1e-5', () => {
  const out = join(root, 'lora');
  sft(recipe(out, { method: 'lora' }), () => {});
  const peft = join(out, 'final');
  const cfgJson = JSON.parse(readFileSync(join(peft, 'adapter_config.json'), 'utf8'));
  assert.equal(cfgJson.peft_type, 'LORA');
  assert.deepEqual(cfgJson.target_modules, ['q_proj', 'v_proj', 'gate_proj', 'down_proj']);
  const withAdapter = loadModel(base, { adapter: peft }).model;
  for (const [n, l] of withAdapter.lora) assert.ok(l.B.f32.some((v) => v !== 0), `${n}: lora_B still zero`);
  // the base weights are untouched by LoRA training
  const plain = loadModel(base).model;
  const ids = Int32Array.from([5, 9, 33, 70, 2, 11, 40, 8]);
  const la = noGrad(() => withAdapter.forward(ids, 1, 8).logits.f32.slice());
  const lp = noGrad(() => plain.forward(ids, 1, 8).logits.f32.slice());
  assert.ok(la.some((v, i) => Math.abs(v - lp[i]!) > 1e-4), 'adapter changes the output');
  const merged = join(root, 'merged');
  const r = spawnSync(process.execPath, ['bin/heed.js', 'merge', '--model', base, '--adapter', peft, '--out', merged], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lm = noGrad(() => loadModel(merged).model.forward(ids, 1, 8).logits.f32);
  let worst = 0;
  for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(lm[i]! - la[i]!));
  assert.ok(worst < 1e-5, `merged vs adapter-on-base max |Δlogit| = ${worst}`);
});

test('pack: false gives each conversation its own row', () => {
  const r = sft(recipe(join(root, 'nopack'), { pack: false, steps: 2 }), () => {});
  assert.equal(r.trainRows, r.trainExamples);
  const packed = sft(recipe(join(root, 'packed'), { steps: 2 }), () => {});
  assert.ok(packed.trainRows < packed.trainExamples, `${packed.trainRows} packed rows for ${packed.trainExamples} conversations`);
});

test('QLoRA: trains adapters on an NF4 base whose weights stay quantized', () => {
  const out = join(root, 'qlora');
  const r = sft(recipe(out, { method: 'qlora', steps: 4 }), () => {});
  assert.equal(r.steps, 4);
  const m = loadModel(base).model;
  m.quantizeBase();
  assert.ok(m.frozenNF4.size > 0);
  loadAdapter(join(out, 'final'), m);
  for (const [n, l] of m.lora) assert.ok(l.B.f32.some((v) => v !== 0), `${n}: lora_B still zero`);
});

test('a malformed JSONL line stops SFT before training, naming file:line', () => {
  const bad = join(root, 'bad.jsonl'), out = join(root, 'bad-run');
  writeFileSync(bad, readFileSync(data, 'utf8').split('\n').slice(0, 2).join('\n') + '\n{"messages": [{"role": "user", "content": "hi"}\n');
  const r = spawnSync(process.execPath, ['bin/heed.js', 'sft', '--model', base, '--data', bad, '--out', out, '--steps', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.jsonl:3: /);
  assert.ok(!existsSync(join(out, 'metrics.jsonl')), 'no training happened');
  const ok = spawnSync(process.execPath, ['bin/heed.js', 'sft', '--model', base, '--data', bad, '--skip-bad-lines', '--out', out, '--steps', '1', '--seq-len', '64'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /1 bad lines skipped/);
});

test('replay rows: corpus text in seeded order, loss on every token, one sequence per row', () => {
  const { tok } = loadModel(base);
  const eosId = tok.tokenizer.tokenToId('<|endoftext|>')!;
  const o = { sources: ['sotu'] as const, rows: 4, seqLen: 48, seed: 0, eosId };
  const rows = replayRows(tok.tokenizer, { ...o, sources: [...o.sources] });
  assert.equal(rows.length, 4);
  for (const r of rows) {
    assert.equal(r.ids.length, 48);
    assert.ok(r.lossMask.every((m) => m === 1), 'loss on every token');
    assert.ok(r.segmentIds.every((s) => s === 1), 'one sequence per row');
  }
  // the rows are consecutive pieces of one stream of training documents
  const text = rows.map((r) => tok.tokenizer.decode(r.ids)).join('');
  const train = buildCorpus({ sources: ['sotu'], valFraction: 0.03, seed: 0 }).train;
  const head = text.split('<|endoftext|>')[0]!.slice(0, 150);
  assert.ok(head.length === 150 && train.some((d) => d.startsWith(head)), `replay text does not start a training document: ${JSON.stringify(head)}`);
  assert.deepEqual(replayRows(tok.tokenizer, { ...o, sources: ['sotu'] }), rows);
  // (many addresses open with the same salutation, so compare whole rows, not the first)
  assert.notDeepEqual(replayRows(tok.tokenizer, { ...o, sources: ['sotu'], seed: 1 }).map((r) => r.ids), rows.map((r) => r.ids));
  assert.deepEqual(replayRows(tok.tokenizer, { ...o, sources: ['sotu'], rows: 0 }), []);
});

test('SFT with replay: the requested share of rows is corpus text and training still learns', () => {
  const out = join(root, 'replay');
  const plain = sft(recipe(join(root, 'no-replay'), { steps: 2 }), () => {});
  const r = sft(recipe(out, { steps: 12, replay: { fraction: 0.5, sources: ['sotu'] } }), () => {});
  assert.equal(r.replayRows, plain.trainRows);
  assert.equal(r.trainRows, 2 * plain.trainRows);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(rows.every((x) => Number.isFinite(x.loss)));
  assert.ok(r.bestVal !== null && Number.isFinite(r.bestVal));
});
