// Held-out task scoring against numbers worked out by hand: the pure scorer on chosen replies, and
// evaluateTasks end to end on a model whose greedy replies are known exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { evaluateTasks, scoreOutputs } from '../../src/eval/tasks.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS, type ModelConfig } from '../../src/models/config.js';
import { ChatTemplate, stopTokenIds, trainBPE, type TokenizerFolder } from '../../src/tokenizer/index.js';
import type { Example, FamilyInfo } from '../../src/data/mixture.js';

const family = (name: string, metric: 'exact' | 'normalized'): FamilyInfo => ({
  name, description: '', source: '', metric, templates: ['t'], zeroShot: false, items: 1, trainItems: 1, heldoutItems: 1, train: 0, heldout: 0, zeroShotExamples: 0,
});
const FAMILIES = [family('fx', 'exact'), family('fn', 'normalized')];

function ex(fam: string, user: string, answer: string, accept?: string[]): Example {
  return { id: `${fam}/${user}`, family: fam, template: 't', item: user, messages: [{ role: 'user', content: user }], answer, ...(accept ? { accept } : {}) };
}

// Six replies and what each metric says of them (worked out by hand):
//   #  family  answer (accept)  reply      exact  normalised  counted (family metric)  ended with <|im_end|>
//   0  fx      Y                 "Y"        yes    yes         yes                      yes
//   1  fx      Y                 "y"        no     yes         no  (exact)              yes
//   2  fn      Y                 "y"        no     yes         yes (normalised)         yes
//   3  fn      N                 "NNN"      no     no          no                       no (token limit)
//   4  fn      no (y)            "y"        yes    yes         yes                      yes
//   5  zz      y.                " Y"       no     yes         yes (unknown: normalised) yes
// accuracy 4/6, exact 2/6, normalised 5/6, format 5/6, runaway 1/6;
// per family fx 1/2, fn 2/3, zz 1/1.
const EXAMPLES = [ex('fx', 'a', 'Y'), ex('fx', 'b', 'Y'), ex('fn', 'b', 'Y'), ex('fn', 'c', 'N'), ex('fn', 'd', 'no', ['y']), ex('zz', 'e', 'y.')];
const REPLIES = ['Y', 'y', 'y', 'NNN', 'y', ' Y'];
const STOPPED = [true, true, true, false, true, true];

function checkReport(r: ReturnType<typeof scoreOutputs>): void {
  assert.equal(r.n, 6);
  assert.equal(r.accuracy, 4 / 6);
  assert.equal(r.exactMatch, 2 / 6);
  assert.equal(r.normalizedMatch, 5 / 6);
  assert.equal(r.formatCompliance, 5 / 6);
  assert.equal(r.runaway, 1 / 6);
  assert.deepEqual(r.perFamily, { fx: { n: 2, correct: 1, accuracy: 0.5 }, fn: { n: 3, correct: 2, accuracy: 2 / 3 }, zz: { n: 1, correct: 1, accuracy: 1 } });
  assert.deepEqual(r.samples.map((s) => s.correct), [true, false, true, false, true, true]);
}

test('scoreOutputs: each family by its own metric, exact and normalised overall, format compliance', () => {
  const r = scoreOutputs(EXAMPLES, REPLIES, STOPPED, FAMILIES);
  checkReport(r);
  assert.deepEqual(r.samples[1], { family: 'fx', prompt: 'b', answer: 'Y', output: 'y', correct: false });
});

test('scoreOutputs: no examples scores zero everywhere, and lengths must agree', () => {
  const r = scoreOutputs([], [], [], FAMILIES);
  assert.deepEqual({ ...r, samples: r.samples.length }, { n: 0, accuracy: 0, exactMatch: 0, normalizedMatch: 0, formatCompliance: 0, runaway: 0, perFamily: {}, samples: 0 });
  assert.throws(() => scoreOutputs(EXAMPLES, REPLIES.slice(1), STOPPED, FAMILIES), /6 examples but 5 outputs/);
});

/**
 * A model whose greedy next token depends only on the current one. All block weights are zero, so
 * the residual stream at a position is the embedding of its token; the embedding of each state
 * token is a one-hot e_k, which the final RMSNorm scales to √d·e_k, and lm_head[next, k] = 1 makes
 * `next` the argmax (logit √d against 0). The chat template is the user text alone, so a prompt's
 * last character picks the chain the reply follows.
 */
function markovModel(): { model: Transformer; tok: TokenizerFolder } {
  const tokenizer = trainBPE(['abcde'], { vocabSize: 259 }); // bytes + ChatML specials, no merges
  const id = (s: string) => tokenizer.tokenToId(s) ?? tokenizer.encode(s)[0]!;
  const END = id('<|im_end|>');
  const chain: Array<[string, number]> = [
    ['a', id('Y')], ['b', id('y')], ['d', id('y')], ['e', id(' ')],
    [' ', id('Y')], ['Y', END], ['y', END], ['c', id('N')], ['N', id('N')],
  ];
  const d = 16;
  const cfg: ModelConfig = { ...PRESETS['llama-tiny'], vocabSize: tokenizer.vocabSize, nLayer: 1, dModel: d, nHead: 2, nKvHead: 1, ffn: 8, maxPositions: 32, tiedEmbeddings: false, eosTokenId: null, bosTokenId: null };
  const model = Transformer.init(cfg, 0);
  for (const [name, t] of model.params) t.f32.fill(/norm\.weight$|layernorm\.weight$/.test(name) ? 1 : 0);
  const emb = model.params.get('model.embed_tokens.weight')!.f32, head = model.params.get('lm_head.weight')!.f32;
  chain.forEach(([from, to], k) => { emb[id(from) * d + k] = 1; head[to * d + k] = 1; });
  const tok: TokenizerFolder = {
    tokenizer, chatTemplate: new ChatTemplate('{% for m in messages %}{{ m.content }}{% endfor %}', { eotToken: '<|im_end|>' }),
    bosTokenId: null, eosTokenId: null, eosTokenIds: [], eotTokenId: END, padTokenId: null, config: {},
  };
  assert.deepEqual(stopTokenIds(tok), [END]);
  return { model, tok };
}

test('evaluateTasks: greedy replies of a model built to give them, scored as worked out by hand', () => {
  const { model, tok } = markovModel();
  // a batch size that mixes prompts of different chains in one batch
  const r = evaluateTasks(model, tok, EXAMPLES, FAMILIES, { maxNewTokens: 3, batchSize: 4 });
  assert.deepEqual(r.samples.map((s) => s.output), REPLIES);
  checkReport(r);
});

test('evaluateTasks: a model without a chat template is refused', () => {
  const { model, tok } = markovModel();
  assert.throws(() => evaluateTasks(model, { ...tok, chatTemplate: null }, EXAMPLES, FAMILIES), /no chat template/);
});
