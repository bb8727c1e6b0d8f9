// The reward model: pairs from rankings (ties give none), InstructGPT's K-way loss, training that
// learns a preference and generalises to prompts it never saw, the centring bias, and the saved
// …ForSequenceClassification folder.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { PRESETS } from '../../src/models/config.js';
import { trainBPE, CHATML_TEMPLATE } from '../../src/tokenizer/index.js';
import { backward } from '../../src/core/autograd.js';
import { impliedPairs, rankingLoss, scoreRankings, toRewardModel, encodeRanking, type RankedPrompt } from '../../src/align/reward.js';
import { trainRewardModel } from '../../src/align/reward-train.js';
import { loadRecipe, RewardSchema } from '../../src/train/recipes.js';

const root = mkdtempSync(join(tmpdir(), 'heed-reward-')), base = join(root, 'base');
const COLORS = ['red', 'green', 'blue', 'pink', 'gray', 'gold', 'teal', 'navy', 'plum', 'rose', 'sand', 'lime', 'jade', 'ruby', 'onyx', 'opal'];

before(() => {
  const text = COLORS.map((c) => `Name a color like ${c}. ${c} ${c}. I do not know. Maybe.`).join('\n');
  const tok = trainBPE([text.repeat(4)], { vocabSize: 320 });
  const cfg = { ...PRESETS['llama-tiny'], vocabSize: 320, nLayer: 2, dModel: 32, nHead: 4, nKvHead: 2, ffn: 64, maxPositions: 128, eosTokenId: tok.tokenToId('<|endoftext|>')! };
  saveModel(base, Transformer.init(cfg, 3), tok, { chatTemplate: CHATML_TEMPLATE });
});

/** Rankings where a reply that names the asked color beats a hedge, which beats a runaway. */
function rankings(): RankedPrompt[] {
  return COLORS.map((c, i) => ({
    messages: [{ role: 'user', content: `Name a color like ${c}.` }],
    responses: [{ text: 'Maybe.', endedTurn: true }, { text: `${c} ${c}.`, endedTurn: true }, { text: 'I do not know', endedTurn: false }, { text: 'Maybe.', endedTurn: true }],
    groups: i % 2 ? [[1], [0, 3], [2]] : [[1], [3, 0], [2]],
  }));
}

test('impliedPairs: every response over every later group, none inside a tie', () => {
  assert.deepEqual(impliedPairs([[1], [0, 3], [2]]), [[1, 0, 1], [1, 3, 1], [1, 2, 2], [0, 2, 1], [3, 2, 1]]);
  assert.deepEqual(impliedPairs([[0, 1, 2]]), []);
});

test('rankingLoss: −1/C(K,2) Σ log σ(r_w − r_l) per ranking, from each response scored once', () => {
  const { model: lm, tok } = loadModel(base);
  const rm = toRewardModel(lm, 0);
  rm.params.get('score.weight')!.f32.forEach((_, i, a) => { a[i] = Math.sin(i); });
  const enc = rankings().slice(0, 2).map((r) => encodeRanking(tok, r, 64));
  const sc = scoreRankings(rm, enc);
  let want = 0;
  for (const [i, r] of enc.entries()) {
    const p = impliedPairs(r.groups);
    want += -p.reduce((s, [w, l]) => s + Math.log(1 / (1 + Math.exp(-(sc[i]![w]! - sc[i]![l]!)))), 0) / p.length;
  }
  rm.trainAll();
  const got = rankingLoss(rm, enc);
  assert.equal(got.count, 2);
  assert.ok(Math.abs(got.loss.item() - want) < 1e-5 * Math.max(1, want), `${got.loss.item()} vs ${want}`);
  backward(got.loss);
  assert.ok(rm.params.get('score.weight')!.grad!.f32.some((v) => v !== 0));
});

test('a K-way reward model learns the ranking and generalises to held-out prompts; saved as …ForSequenceClassification', () => {
  const recipe = { ...loadRecipe(RewardSchema, 'reward'), maxLength: 64, batchSize: 2, epochs: 30, lr: 3e-3, evalEvery: 20, heldoutFraction: 0.25, centerCoef: 0.01 };
  const out = join(root, 'rm');
  const res = trainRewardModel(recipe, base, rankings(), { out, quiet: true }, () => {});
  assert.equal(res.heldoutRankings, 4);
  assert.ok(res.heldoutAccuracy.accuracy >= 0.9, `held-out accuracy ${res.heldoutAccuracy.accuracy}`);
  assert.ok(Math.abs(res.scores.mean) < 1e-3, `mean score after the bias: ${res.scores.mean}`);
  const cfg = JSON.parse(readFileSync(join(out, 'final', 'config.json'), 'utf8'));
  assert.deepEqual(cfg.architectures, ['LlamaForSequenceClassification']);
  assert.equal(cfg.num_labels, 1);
  assert.ok(Math.abs(cfg.score_bias - res.bias) < 1e-9);
  const back = loadModel(join(out, 'final'));
  assert.equal(back.model.cfg.head, 'score');
  assert.deepEqual(back.model.params.get('score.weight')!.shape, [1, 32]);
  // the reloaded model scores as the trained one did: a right answer over a hedge
  const enc = encodeRanking(back.tok, rankings()[0]!, 64);
  const [s] = scoreRankings(back.model, [enc]);
  assert.ok(s![1]! > s![0]! && s![0]! > s![2]!, JSON.stringify(s));
});
