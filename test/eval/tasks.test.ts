// Held-out task scoring against numbers worked out by hand: the pure scorer on chosen replies, and
// evaluateTasks end to end on a model whose greedy replies are known exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { evaluateTasks, scoreOutputs } from '../../src/eval/tasks.js';
import type { Transformer } from '../../src/models/transformer.js';
import { ChatTemplate, stopTokenIds, type TokenizerFolder } from '../../src/tokenizer/index.js';
import { byteTokenizer, idOf, markovModel } from '../helpers/known-models.js';
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
  assert.deepEqual(r.samples[1], { family: 'fx', prompt: 'b', answer: 'Y', output: 'y', correct: false, ended: true });
});

test('scoreOutputs: no examples scores zero everywhere, and lengths must agree', () => {
  const r = scoreOutputs([], [], [], FAMILIES);
  assert.deepEqual({ ...r, samples: r.samples.length }, { n: 0, accuracy: 0, exactMatch: 0, normalizedMatch: 0, formatCompliance: 0, runaway: 0, perFamily: {}, samples: 0 });
  assert.throws(() => scoreOutputs(EXAMPLES, REPLIES.slice(1), STOPPED, FAMILIES), /6 examples but 5 outputs/);
});

/** The Markov model of test/helpers, with a chat template that is the user text alone, so a prompt's last character picks the chain its reply follows. */
function markov(): { model: Transformer; tok: TokenizerFolder } {
  const tokenizer = byteTokenizer();
  const model = markovModel(tokenizer, [['a', 'Y'], ['b', 'y'], ['d', 'y'], ['e', ' '], [' ', 'Y'], ['Y', '<|im_end|>'], ['y', '<|im_end|>'], ['c', 'N'], ['N', 'N']]);
  const END = idOf(tokenizer, '<|im_end|>');
  const tok: TokenizerFolder = {
    tokenizer, chatTemplate: new ChatTemplate('{% for m in messages %}{{ m.content }}{% endfor %}', { eotToken: '<|im_end|>' }),
    bosTokenId: null, eosTokenId: null, eosTokenIds: [], eotTokenId: END, padTokenId: null, config: {},
  };
  assert.deepEqual(stopTokenIds(tok), [END]);
  return { model, tok };
}

test('evaluateTasks: greedy replies of a model built to give them, scored as worked out by hand', () => {
  const { model, tok } = markov();
  // a batch size that mixes prompts of different chains in one batch
  const r = evaluateTasks(model, tok, EXAMPLES, FAMILIES, { maxNewTokens: 3, batchSize: 4 });
  assert.deepEqual(r.samples.map((s) => s.output), REPLIES);
  checkReport(r);
});

test('evaluateTasks: a model without a chat template is refused', () => {
  const { model, tok } = markov();
  assert.throws(() => evaluateTasks(model, { ...tok, chatTemplate: null }, EXAMPLES, FAMILIES), /no chat template/);
});
