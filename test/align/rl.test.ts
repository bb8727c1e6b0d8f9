// The RL pieces by hand (GAE, group advantages, KL estimators, the adaptive KL controller,
// explained variance) and PPO, GRPO and DPO run end to end on a tiny model: every iteration logs
// its figures, the policy's weights move, LoRA leaves the base alone, and bad settings are refused
// before any work starts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE, CHATML_TEMPLATE } from '../../src/tokenizer/index.js';
import { adaptKl, explainedVariance, gae, groupAdvantages, klEstimate, whiten } from '../../src/align/algos.js';
import { toRewardModel } from '../../src/align/reward.js';
import { trainRl } from '../../src/align/rl.js';
import { trainDpo } from '../../src/align/dpo.js';
import { GrpoSchema, PpoSchema, DpoSchema, loadRecipe } from '../../src/train/recipes.js';

const root = mkdtempSync(join(tmpdir(), 'heed-rl-')), base = join(root, 'base'), rm = join(root, 'rm'), prompts = join(root, 'prompts.jsonl');
const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });

before(() => {
  const lines = Array.from({ length: 8 }, (_, i) => ({ messages: [{ role: 'user', content: `What is ${i} plus 1?` }], answer: String(i + 1), metric: 'normalized' }));
  writeFileSync(prompts, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const tok = trainBPE([lines.map((l) => `${l.messages[0]!.content} ${l.answer}`).join('\n').repeat(5)], { vocabSize: 300 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: tok.vocabSize, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 5), tok, { chatTemplate: CHATML_TEMPLATE });
  saveModel(rm, toRewardModel(Transformer.init(cfg, 6), 1), tok, { chatTemplate: CHATML_TEMPLATE });
});

test('GAE by hand: γ = 1, λ = 0.5 over three tokens', () => {
  // δ = r + V_next − V: [1 + 0.5 − 0, 0 + 1 − 0.5, 2 + 0 − 1] = [1.5, 0.5, 1]; A_2 = 1, A_1 = 0.5 + 0.5·1 = 1, A_0 = 1.5 + 0.5·1 = 2
  const g = gae([1, 0, 2], [0, 0.5, 1], 1, 0.5);
  assert.deepEqual([...g.advantages], [2, 1, 1]);
  assert.deepEqual([...g.returns], [2, 1.5, 2]);
  assert.throws(() => gae([1, 2], [0]), /2 rewards but 1 values/);
});

test('group advantages, whitening, KL estimators, the adaptive controller and explained variance by hand', () => {
  // groups of 2: [1, 0] → ±0.5, [0, 1] → ∓0.5, [3, 3] → 0 (Dr. GRPO keeps the centred rewards);
  // one group [1, 0, 0, 1]: mean 0.5, unbiased std √(1/3)
  const a = groupAdvantages([1, 0, 0, 1, 3, 3], 2, false);
  assert.deepEqual([...a], [0.5, -0.5, -0.5, 0.5, 0, 0]);
  const s = groupAdvantages([1, 0, 0, 1], 4, true), sd = Math.sqrt(1 / 3);
  assert.ok(Math.abs(s[0]! - 0.5 / (sd + 1e-4)) < 1e-5 && Math.abs(s[1]! + 0.5 / (sd + 1e-4)) < 1e-5);
  assert.throws(() => groupAdvantages([1, 2, 3], 2), /do not form groups of 2/);
  const w = whiten(Float32Array.from([1, 2, 3]));
  assert.ok(Math.abs(w[0]! + 1) < 1e-6 && Math.abs(w[1]!) < 1e-6 && Math.abs(w[2]! - 1) < 1e-6);
  assert.equal(klEstimate(-1, -1.5, 'k1'), 0.5);
  assert.ok(Math.abs(klEstimate(-1, -1.5, 'k3') - (Math.exp(-0.5) + 0.5 - 1)) < 1e-12);
  assert.ok(klEstimate(-2, -1, 'k3') > 0 && klEstimate(-1, -2, 'k3') > 0, 'k3 is never negative');
  // KL at twice the target moves β up by the 20% cap times n/horizon
  assert.ok(Math.abs(adaptKl(0.1, 12, 6, 100, 1000) - 0.1 * (1 + 0.2 * 0.1)) < 1e-12);
  assert.ok(Math.abs(adaptKl(0.1, 3, 6, 1000, 1000) - 0.1 * 0.8) < 1e-12);
  assert.equal(explainedVariance([1, 2, 3], [1, 2, 3]), 1);
  assert.ok(Math.abs(explainedVariance([0, 0, 0], [1, 2, 3])) < 1e-12);
});

const snapshot = (dir: string) => new Map([...loadModel(dir).model.params].map(([k, t]) => [k, t.f32.slice()]));

test('PPO end to end: every iteration logs its figures, the policy moves, the reference is a frozen copy', () => {
  const r = { ...loadRecipe(PpoSchema, 'ppo'), prompts, evalPrompts: prompts, rewardModel: rm, iterations: 2, promptsPerIteration: 4, miniBatch: 2, maxNewTokens: 6, evalEvery: 2, evalPerFamily: 1, ptxCoef: 0.5, ptxRows: 2, ptxSources: ['moby-dick' as const], lr: 1e-3 };
  const out = join(root, 'ppo'), res = trainRl(r, base, { out, quiet: true }, () => {});
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 2);
  for (const k of ['score', 'kl', 'kl_coef', 'entropy', 'clip_frac', 'approx_kl', 'value_loss', 'explained_variance', 'response_length', 'ptx_loss', 'grad_norm']) assert.ok(k in rows[0], `metrics lack ${k}`);
  assert.ok(rows.every((x) => Number.isFinite(x.entropy) && x.entropy > 0 && x.response_length > 0));
  assert.ok('val_score' in rows[1] && 'val_kl' in rows[1]);
  assert.ok(res.referenceBytes > 0, 'full fine-tuning keeps a frozen reference copy');
  const b = snapshot(base), a = snapshot(join(out, 'final'));
  assert.ok([...a].some(([k, v]) => v.some((x, i) => x !== b.get(k)![i])), 'the policy moved');
  assert.ok(res.time.rollout > 0 && res.time.update > 0 && res.rolloutTokensPerSec > 0);
});

test('GRPO with LoRA on verifiable + rules rewards: adapters train, the base stays as it was', () => {
  const r = { ...loadRecipe(GrpoSchema, 'grpo'), prompts, evalPrompts: prompts, method: 'lora' as const, rewards: ['verifiable' as const, 'rules' as const], iterations: 2, promptsPerIteration: 2, groupSize: 3, miniBatch: 3, maxNewTokens: 6, evalEvery: 2, evalPerFamily: 1, lr: 5e-3 };
  const out = join(root, 'grpo'), res = trainRl(r, base, { out, quiet: true }, () => {});
  assert.equal(res.referenceBytes, 0, 'LoRA: the reference is the same weights with adapters off');
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 2);
  assert.ok(!('value_loss' in rows[0]), 'GRPO has no value model');
  const cfg = JSON.parse(readFileSync(join(out, 'final', 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'LORA');
});

// The reward the policy is trained on goes up: a frozen, randomly initialised reward model scores
// each reply by its text, a landscape the policy can climb only if the gradients point the right
// way (a flipped sign in the clipped objective or the advantages makes it fall). Scores are the
// greedy replies' on the prompts, before the first update and after the last.
for (const stage of ['ppo', 'grpo'] as const) {
  test(`${stage.toUpperCase()} raises the score of the reward model it is trained against`, () => {
    const common = { prompts, evalPrompts: prompts, rewards: ['model' as const], rewardModel: rm, promptsPerIteration: 8, maxNewTokens: 4, endPenalty: 0, klCoef: 0, evalEvery: 100, evalPerFamily: 8, warmup: 0, lr: 3e-3 };
    const r = stage === 'ppo'
      ? { ...loadRecipe(PpoSchema, 'ppo'), ...common, iterations: 12, miniBatch: 8, ptxCoef: 0 }
      : { ...loadRecipe(GrpoSchema, 'grpo'), ...common, iterations: 12, groupSize: 4, miniBatch: 16 };
    const res = trainRl(r, base, { out: join(root, `${stage}-climb`), quiet: true }, () => {});
    const rows = readFileSync(join(root, `${stage}-climb`, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { score: number });
    const mean = (xs: Array<{ score: number }>) => xs.reduce((a, x) => a + x.score, 0) / xs.length;
    console.log(`${stage}: greedy score ${res.before.score.toFixed(3)} -> ${res.after.score.toFixed(3)}; rollout score ${mean(rows.slice(0, 3)).toFixed(3)} -> ${mean(rows.slice(-3)).toFixed(3)}`);
    assert.ok(res.after.score > res.before.score + 0.05, `greedy score ${res.before.score} → ${res.after.score}`);
    assert.ok(mean(rows.slice(-3)) > mean(rows.slice(0, 3)), 'the rollouts score higher at the end than at the start');
  });
}

test('a spent time budget stops PPO after the iteration in progress, measured and saved, and says so', () => {
  const r = { ...loadRecipe(PpoSchema, 'ppo'), prompts, evalPrompts: prompts, rewardModel: rm, iterations: 50, promptsPerIteration: 2, miniBatch: 2, maxNewTokens: 4, evalEvery: 100, evalPerFamily: 2, ptxCoef: 0, timeBudgetSec: 0.001 };
  const lines: string[] = [], out = join(root, 'ppo-budget');
  const res = trainRl(r, base, { out }, (s) => lines.push(s));
  assert.equal(res.iterations, 1);
  assert.ok(res.stoppedEarly);
  assert.ok(lines.some((l) => /the time budget of 0.001s is spent: stopping after iteration 1 of 50/.test(l)), lines.join('\n'));
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok('val_score' in rows[0], 'the held-out measurement is taken at the stop');
  assert.ok(res.after !== res.before);
});

test('DPO end to end on rankings: the implicit-reward accuracy on the training pairs rises', () => {
  const rankings = Array.from({ length: 8 }, (_, i) => ({
    messages: [{ role: 'user' as const, content: `What is ${i} plus 1?` }],
    responses: [{ text: String(i + 1), endedTurn: true }, { text: 'I do not know', endedTurn: true }, { text: `${i} ${i} ${i}`, endedTurn: false }],
    groups: [[0], [1], [2]],
  }));
  const r = { ...loadRecipe(DpoSchema, 'dpo'), rpoAlpha: 0, heldoutFraction: 0.25, maxLength: 64, batchSize: 4, epochs: 10, lr: 3e-3, evalEvery: 5 };
  const res = trainDpo(r, base, rankings, { out: join(root, 'dpo'), quiet: true }, () => {});
  assert.equal(res.trainPairs, 6 * 3);
  assert.ok(res.train.accuracy >= 0.9, `train accuracy ${res.train.accuracy}`);
  assert.ok(res.heldout.loss < Math.log(2), `held-out loss ${res.heldout.loss} below the untrained ln 2`);
});

test('bad settings are clear errors before any work starts', () => {
  const out = join(root, 'never');
  let x = heed('ppo', '--model', base, '--prompts', prompts, '--out', out);
  assert.equal(x.status, 1);
  assert.match(x.stderr, /rewards "model" needs --reward-model DIR/);
  x = heed('grpo', '--model', base, '--prompts', prompts, '--group-size', '1', '--out', out);
  assert.equal(x.status, 1);
  assert.match(x.stderr, /--group-size: Number must be greater than or equal to 2, got 1/);
  x = heed('dpo', '--model', base, '--beta', '-0.1', '--out', out);
  assert.equal(x.status, 1);
  assert.match(x.stderr, /--beta: Number must be greater than 0, got -0\.1/);
  x = heed('ppo', '--model', base, '--prompts', prompts, '--kl-coef', '-1', '--out', out);
  assert.equal(x.status, 1);
  assert.match(x.stderr, /--kl-coef: Number must be greater than or equal to 0, got -1/);
  // a reward model whose tokenizer differs from the policy's
  const other = join(root, 'other-rm'), tok = trainBPE(['a completely different text corpus for another tokenizer '.repeat(20)], { vocabSize: 290 });
  saveModel(other, toRewardModel(Transformer.init({ ...PRESETS['llama-tiny'], vocabSize: 290, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128 }, 1), 1), tok, { chatTemplate: CHATML_TEMPLATE });
  x = heed('ppo', '--model', base, '--prompts', prompts, '--reward-model', other, '--out', out);
  assert.equal(x.status, 1);
  assert.match(x.stderr, /the reward model's tokenizer differs from the policy's/);
  for (const r of [x]) assert.ok(!/\n\s+at .*:\d+:\d+/.test(r.stderr), 'no stack trace');
});
