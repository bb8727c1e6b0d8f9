// A stage's extras by hand: IFEval figures from a model whose greedy reply is known ("hi"), and the
// win rate of one set of replies over another under the verifiable+rules judge in both orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { byteTokenizer, markovModel } from '../helpers/known-models.js';
import { CHATML_TEMPLATE, ChatTemplate } from '../../src/tokenizer/index.js';
import { ifevalOf, winRate } from '../../src/eval/stages.js';
import { scoreOutputs, type EvalSets } from '../../src/eval/tasks.js';
import type { IfevalPrompt } from '../../src/eval/ifeval.js';
import type { Example, FamilyInfo } from '../../src/data/index.js';

test('IFEval figures of a model that always answers "hi"', () => {
  const tok = byteTokenizer(), model = markovModel(tok, [['\n', 'h'], ['h', 'i'], ['i', '<|im_end|>']]);
  const folder = { tokenizer: tok, chatTemplate: new ChatTemplate(CHATML_TEMPLATE), bosTokenId: null, eosTokenId: null, eosTokenIds: [tok.tokenToId('<|im_end|>')!], eotTokenId: tok.tokenToId('<|im_end|>')!, padTokenId: null, config: {} };
  const p = (key: number, ids: string[], kwargs: Array<Record<string, unknown>>): IfevalPrompt => ({ key, prompt: 'x', instruction_id_list: ids, kwargs, messages: [{ role: 'user', content: 'Say something.' }] });
  const f = ifevalOf(model, folder, [
    p(0, ['change_case:english_lowercase'], [{}]),
    p(1, ['keywords:existence'], [{ keywords: ['paris'] }]),
    p(2, ['change_case:english_lowercase', 'punctuation:no_comma'], [{}, {}]),
    p(3, ['change_case:english_lowercase', 'keywords:existence'], [{}, { keywords: ['paris'] }]),
  ], 8);
  // "hi": lowercase ✓, no comma ✓, has "paris" ✗ → prompts 2 of 4 strict, instructions 4 of 6
  assert.equal(f.prompts, 4);
  assert.equal(f.prompt_strict, 0.5);
  assert.equal(f.instruction_strict, 4 / 6);
  assert.equal(f.prompt_loose, 0.5);
});

test('win rate: a win counts 1 and a tie ½, each pair judged in both orders', async () => {
  const fam: FamilyInfo = { name: 'capital', description: '', source: '', metric: 'normalized', templates: [], zeroShot: false, items: 0, trainItems: 0, heldoutItems: 0, train: 0, heldout: 0, zeroShotExamples: 0 };
  const ex = (q: string, a: string): Example => ({ id: q, family: 'capital', template: 't', item: q, messages: [{ role: 'user', content: q }], answer: a });
  const heldout = [ex('Capital of France?', 'Paris'), ex('Capital of Peru?', 'Lima'), ex('Capital of Chad?', "N'Djamena"), ex('Capital of Iran?', 'Tehran')];
  const sets: EvalSets = { heldout, zeroShot: [], families: [fam] };
  const a = scoreOutputs(heldout, ['Paris', 'Quito', 'Rome', 'Tehran'], [true, true, true, true], [fam], Infinity);
  const b = scoreOutputs(heldout, ['Lyon', 'Lima', 'Rome', 'Tehran'], [true, true, true, false], [fam], Infinity);
  // 1: a right, b wrong → a wins; 2: b wins; 3: both wrong and alike → tie; 4: both right, b never ended its turn → the verifiable judge wins it for a
  assert.equal(await winRate(a, b, sets), (1 + 0 + 0.5 + 1) / 4);
  assert.equal(await winRate(b, a, sets), (0 + 1 + 0.5 + 0) / 4);
});
