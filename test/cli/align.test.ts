// The preference commands end to end on a tiny model: `heed sample` writes K responses per prompt
// (with seeds, settings and how each ended) into the store and JSONL, `heed judge` ranks them,
// `heed reward` trains on the rankings and `heed reward score` scores conversations; bad input is a
// clear error.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE, CHATML_TEMPLATE } from '../../src/tokenizer/index.js';
import { FeedbackStore } from '../../src/feedback/store.js';

const root = mkdtempSync(join(tmpdir(), 'heed-align-cli-')), base = join(root, 'base'), prompts = join(root, 'prompts.jsonl');
const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });

before(() => {
  const lines = Array.from({ length: 6 }, (_, i) => ({ messages: [{ role: 'user', content: `What is ${i} plus 1?` }, { role: 'assistant', content: String(i + 1) }], family: 'add' }));
  writeFileSync(prompts, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const tok = trainBPE([lines.map((l) => `${l.messages[0]!.content} ${l.messages[1]!.content}`).join('\n').repeat(5)], { vocabSize: 300 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: tok.vocabSize, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 5), tok, { chatTemplate: CHATML_TEMPLATE });
});

test('sample → judge → reward → reward score', () => {
  const db = join(root, 'prefs.db'), out = join(root, 'samples.jsonl');
  let r = heed('sample', '--model', base, '--prompts', prompts, '-k', '3', '--db', db, '--out', out, '--max-new-tokens', '6', '--seed', '7');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sampled 18 responses to 6 prompts/);
  const store = FeedbackStore.open(db, { create: false });
  const p = store.prompts();
  assert.equal(p.length, 6);
  // the trailing assistant turn became the known answer
  assert.deepEqual(p[0]!.meta, { answer: '1', family: 'add' });
  const resp = store.responses(p[1]!.id);
  assert.deepEqual(resp.map((x) => x.seed), [7 + 3, 7 + 4, 7 + 5], 'response j of prompt i uses seed + i·k + j');
  assert.ok(resp.every((x) => (x.finish === 'stop' || x.finish === 'length') && x.settings!.temperature === 1 && x.settings!.max_tokens === 6));
  store.close();
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.equal(lines[0].responses.length, 3);
  // the JSONL is ranking JSONL that `heed feedback import` reads
  r = heed('feedback', 'import', '--db', join(root, 'copy.db'), out);
  assert.equal(r.status, 0, r.stderr);
  // a tiny random model's replies mostly tie; prompts with a right and wrong answers give preferences
  const s2 = FeedbackStore.open(db);
  for (let i = 0; i < 4; i++) {
    const id = s2.addPrompt({ messages: [{ role: 'user', content: `What is ${i} plus 2?` }], meta: { answer: String(i + 2) } });
    s2.addResponses(id, [{ text: String(i + 2), finish: 'stop' }, { text: 'no', finish: 'stop' }, { text: `${i} ${i} ${i} ${i}`, finish: 'length' }]);
  }
  s2.close();
  r = heed('judge', '--db', db, '--judge', 'verifiable+rules');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /judge:verifiable\+rules: ranked 10 of 10 prompts \(30 comparisons/);
  r = heed('judge', '--db', db);
  assert.match(r.stdout, /ranked 0 of 0 prompts/, 'a rerun judges nothing twice');
  r = heed('reward', '--model', base, '--data', db, '--steps', '3', '--max-length', '64', '--heldout-fraction', '0.34', '--out', join(root, 'rm'));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(root, 'rm', 'final', 'model.safetensors')));
  const res = JSON.parse(readFileSync(join(root, 'rm', 'result.json'), 'utf8'));
  assert.equal(res.steps, 3);
  const convs = join(root, 'convs.jsonl');
  writeFileSync(convs, [JSON.stringify({ messages: [{ role: 'user', content: 'What is 2 plus 1?' }, { role: 'assistant', content: '3' }] }), JSON.stringify({ messages: [{ role: 'user', content: 'What is 2 plus 1?' }, { role: 'assistant', content: '9 9 9' }] })].join('\n'));
  r = heed('reward', 'score', '--model', join(root, 'rm', 'final'), '--data', convs);
  assert.equal(r.status, 0, r.stderr);
  const scores = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(scores.map((x) => x.index), [0, 1]);
  assert.ok(scores.every((x) => Number.isFinite(x.score)));
});

test('bad input to the preference commands is a clear error', () => {
  const cases: Array<[string[], RegExp]> = [
    [['sample', '--model', base, '--prompts', prompts, '-k', '1', '--db', join(root, 'x.db')], /-k: responses per prompt must be between 2 and 9, got 1/],
    [['sample', '--model', base, '--prompts', prompts, '-k', '3'], /give --db FILE .* and\/or --out FILE/],
    [['sample', '--model', base, '--db', join(root, 'x.db')], /give the prompts: --prompts FILE/],
    [['sample', '--model', base, '--prompts', prompts, '--db', join(root, 'x.db'), '--temperature', '-1'], /--temperature must be between 0 and 2 \(got -1\)/],
    [['judge', '--db', join(root, 'missing.db')], /missing\.db: no such feedback store/],
    [['judge', '--db', join(root, 'prefs.db'), '--judge', 'oracle'], /unknown judge 'oracle'/],
    [['judge', '--db', join(root, 'prefs.db'), '--judge', 'model'], /--judge model needs --endpoint URL and --judge-model NAME/],
    [['reward', '--model', base, '--out', join(root, 'never')], /give the rankings: --data FILE/],
    [['reward', 'score', '--model', base, '--data', prompts], /not a reward model/],
  ];
  writeFileSync(join(root, 'bad.jsonl'), '{"messages": [{"role": "assistant", "content": "hi"}]}\n');
  cases.push([['sample', '--model', base, '--prompts', join(root, 'bad.jsonl'), '--db', join(root, 'x.db')], /bad\.jsonl:1: messages must end with a user turn/]);
  for (const [args, want] of cases) {
    const r = heed(...args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, want);
    assert.ok(!/\n\s+at .*:\d+:\d+/.test(r.stderr), `${args[0]}: no stack trace`);
  }
});
