// Self-Instruct's pieces on hand-made model output: the seed tasks heed ships, the generation prompt,
// splitting a generated list, the length / keyword / start filters, the ROUGE-L novelty filter, the
// classification and instance prompts, and parsing instances as prepare_for_finetuning.py does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SIMILARITY_LIMIT, bootstrapPrompt, classifyPrompt, instancePrompt, isYes, loadSeedTasks, mostSimilar, parseClassificationInstances,
  parseGenerationInstances, parseInputOutput, ruleFilter, selfInstructRecords, splitInstructions, type SeedTask,
} from '../../src/synth/self-instruct.js';
import { parseConversations } from '../../src/data/formats.js';
import { toJsonl } from '../../src/data/formats.js';

test('the shipped seed tasks: at least 60, of varied kinds, some classification, each with an instance', () => {
  const seeds = loadSeedTasks();
  assert.ok(seeds.length >= 60, `${seeds.length} seed tasks`);
  const kinds = new Set(seeds.map((s) => s.kind));
  assert.ok(kinds.size >= 8, [...kinds].join(', '));
  const clf = seeds.filter((s) => s.is_classification).length;
  assert.ok(clf >= 15 && clf < seeds.length / 2, `${clf} classification`);
  assert.equal(new Set(seeds.map((s) => s.instruction)).size, seeds.length, 'no instruction twice');
  for (const s of seeds) {
    assert.ok(s.instances.length >= 1 && s.instances.every((x) => x.output.trim()), s.id);
    assert.equal(ruleFilter(s.instruction), null, `a seed instruction passes the rule filters: ${s.instruction}`);
  }
});

test('bad seed-task lines name the file, line and field', () => {
  const f = join(mkdtempSync(join(tmpdir(), 'heed-seeds-')), 'seeds.jsonl');
  writeFileSync(f, `${JSON.stringify({ instruction: 'x', instances: [], is_classification: false })}\n{oops\n${JSON.stringify({ instruction: 'y', instances: [{ input: '', output: 'z' }], is_classification: 'no' })}\n`);
  assert.throws(() => loadSeedTasks(f), (e: Error) => /seeds\.jsonl:1: 'instances' must be a non-empty list/.test(e.message) && /seeds\.jsonl:2: bad JSON/.test(e.message) && /seeds\.jsonl:3: 'is_classification' must be true or false/.test(e.message));
  writeFileSync(f, `${JSON.stringify({ instruction: 'x', instances: [{ input: '', output: 'y' }], is_classification: false })}\n`);
  assert.throws(() => loadSeedTasks(f), /holds 1 seed tasks; the generation prompt needs at least 8/);
});

test('the generation prompt numbers 8 instructions and ends with the 9th number', () => {
  const p = bootstrapPrompt(['Sort the list:', 'Say  hi\nto me', 'a', 'b', 'c', 'd', 'e', 'f']);
  assert.equal(p, 'Come up with a series of tasks:\n1. Sort the list\n2. Say hi to me\n3. a\n4. b\n5. c\n6. d\n7. e\n8. f\n9.');
});

test('a generated list splits on the numbers; a reply cut off by the token limit loses its last instruction', () => {
  const text = ' Write a poem about   the sea.\n10. give three synonyms for happy.\n11 . List the planets in order.\n12. Explain why';
  assert.deepEqual(splitInstructions(text, 'stop').instructions, ['Write a poem about the sea.', 'Give three synonyms for happy.', 'List the planets in order.', 'Explain why']);
  assert.deepEqual(splitInstructions(text, 'length'), { instructions: ['Write a poem about the sea.', 'Give three synonyms for happy.', 'List the planets in order.'], truncated: 1 });
  assert.deepEqual(splitInstructions('', 'length'), { instructions: [], truncated: 0 });
});

test('the rule filters: length (4 to 150 words), blocked keywords as whole words, program, punctuation, non-ASCII', () => {
  assert.equal(ruleFilter('Summarize the article.'), 'length', 'three words are too few (the paper drops <= 3)');
  assert.equal(ruleFilter('Summarize the article briefly.'), null);
  assert.equal(ruleFilter(`Explain ${'very '.repeat(148)}slowly.`), null, '150 words');
  assert.equal(ruleFilter(`Explain ${'very '.repeat(149)}slowly.`), 'length', '151 words');
  assert.equal(ruleFilter('Describe the image of a cat.'), 'keyword');
  assert.equal(ruleFilter('Draw a house with a garden.'), 'keyword');
  assert.equal(ruleFilter('Tell me how to go to the station.'), 'keyword');
  assert.equal(ruleFilter('Write a flowchart for making tea.'), 'keyword');
  assert.equal(ruleFilter('Name the most popular MUSIC genres today.'), 'keyword', 'case ignored');
  assert.equal(ruleFilter('Compute the profile of the imagery here.'), null, 'only whole words: profile, imagery');
  assert.equal(ruleFilter('Write a program that adds two numbers.'), 'program');
  assert.equal(ruleFilter('"Quote" the following sentence back.'), 'punctuation');
  assert.equal(ruleFilter('Écris une phrase en français.'), 'non_ascii');
});

test('the novelty filter: ROUGE-L F above 0.7 against anything in the pool', () => {
  const pool = ['Give me three synonyms for the word happy.', 'Translate the sentence into French.'];
  const near = mostSimilar('Give me three synonyms for the word sad.', pool);
  // 6 of 7 tokens in common each way ("the" is dropped by the normalisation): F = 6/7
  assert.equal(near.to, pool[0]);
  assert.ok(Math.abs(near.score - 6 / 7) < 1e-12 && near.score > SIMILARITY_LIMIT);
  const far = mostSimilar('Write a haiku about autumn leaves.', pool);
  assert.ok(far.score < 0.3 && far.score <= SIMILARITY_LIMIT);
  // exactly at the limit is kept (the paper drops > 0.7): 7 shared of 10 tokens each way
  const edge = mostSimilar('a1 a2 a3 a4 a5 a6 a7 x8 x9 x10', ['a1 a2 a3 a4 a5 a6 a7 y8 y9 y10']);
  assert.ok(Math.abs(edge.score - 0.7) < 1e-12 && !(edge.score > SIMILARITY_LIMIT));
  assert.deepEqual(mostSimilar('anything', []), { score: 0, to: null });
});

const SEEDS: SeedTask[] = [
  { id: 's0', name: '', instruction: 'Is the number even or odd?', instances: [{ input: '7', output: 'Odd' }], is_classification: true },
  { id: 's1', name: '', instruction: 'Write a haiku about the topic.', instances: [{ input: 'rain', output: 'Soft rain on the roof' }], is_classification: false },
  { id: 's2', name: '', instruction: 'Why is the sky blue?', instances: [{ input: '', output: 'Scattering.' }], is_classification: false },
];

test('the classification prompt asks as identify_clf_or_not.py does; Yes is classification', () => {
  assert.equal(classifyPrompt('Detect spam.', SEEDS.slice(0, 2)),
    'Can the following task be regarded as a classification task with finite output labels?\n\nTask: Is the number even or odd?\nIs it classification? Yes\n\nTask: Write a haiku about the topic.\nIs it classification? No\n\nTask: Detect spam.\nIs it classification?');
  assert.ok(isYes(' Yes') && isYes('yes.') && isYes('YES') && !isYes('No') && !isYes('Yesterday') && !isYes(''));
});

test('instance prompts: output-first for classification, input-first otherwise', () => {
  assert.equal(instancePrompt('Detect spam.', true, [SEEDS[0]!]),
    "Given the classification task definition and the class labels, generate an input that corresponds to each of the class labels. If the task doesn't require input, just generate possible class labels.\n\nTask: Is the number even or odd?\nClass label: Odd\n7\n\nTask: Detect spam.\n");
  assert.equal(instancePrompt('Write a limerick.', false, [SEEDS[1]!, SEEDS[2]!]),
    "Come up with examples for the following tasks. Try to generate multiple examples when possible. If the task doesn't require additional input, you can generate the output directly.\n\nTask: Write a haiku about the topic.\nExample 1\nInput: rain\nOutput: Soft rain on the roof\n\nTask: Why is the sky blue?\nOutput: Scattering.\n\nTask: Write a limerick.\n");
});

test('instances parsed as prepare_for_finetuning.py parses them', () => {
  assert.deepEqual(parseInputOutput('Input: 3, 1, 2\nOutput: 1, 2, 3'), { input: '3, 1, 2', output: '1, 2, 3' });
  assert.deepEqual(parseInputOutput('Just an answer.'), { input: '', output: 'Just an answer.' });
  assert.deepEqual(parseInputOutput('List: a\nOutput: b\nInput 2: c'), { input: 'List: a', output: 'b' });
  const gen = 'Example 1\nList: 3, 1\nOutput: 1, 3\nExample 2\nList: 9, 4\nOutput: 4, 9\nExample 3\nList: 5, 2\nOutput:';
  assert.deepEqual(parseGenerationInstances(gen, 'stop'), [{ input: 'List: 3, 1', output: '1, 3' }, { input: 'List: 9, 4', output: '4, 9' }], 'an empty output is dropped');
  assert.deepEqual(parseGenerationInstances('Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d', 'length'), [{ input: 'a', output: 'b' }], 'cut off: the last instance goes');
  assert.deepEqual(parseGenerationInstances('Output: 42', 'stop'), [{ input: '', output: '42' }]);
  assert.deepEqual(parseGenerationInstances('no structure at all', 'stop'), []);
  assert.deepEqual(parseGenerationInstances('Example 1\nInput: a\nOutput: b\nExample 2\nInput: a\nOutput: c', 'stop'), [], 'same input, different outputs: the task is dropped');
  assert.deepEqual(parseGenerationInstances('Example 1\nInput: a\nOutput: b\nExample 2\nInput: a\nOutput: b\nExample 3\nInput: x\nOutput: x', 'stop'), [{ input: 'a', output: 'b' }], 'duplicates collapse; input equal to output dropped');
  const clf = 'Class label: Positive\nSentence: I love it.\nClass label: Negative\nSentence: I hate it.\nClass label: Neutral';
  assert.deepEqual(parseClassificationInstances(clf, 'stop'), [{ input: 'Sentence: I love it.', output: 'Positive' }, { input: 'Sentence: I hate it.', output: 'Negative' }, { input: '', output: 'Neutral' }]);
  assert.deepEqual(parseClassificationInstances(clf, 'length').length, 2);
  assert.deepEqual(parseClassificationInstances('Positive: I love it.', 'stop'), []);
  assert.deepEqual(parseClassificationInstances('Class label: Yes\nQuestion:', 'stop'), [], 'an input ending with a colon is unfinished');
});

test('records: seed instances and generated instances as conversations with provenance, readable as messages JSONL', () => {
  const rows = selfInstructRecords(SEEDS, [{ instruction: 'Sort the numbers.', iteration: 3, is_classification: false, instances: [{ input: '3, 1', output: '1, 3' }, { input: '', output: 'Give me numbers.' }], most_similar: { instruction: 'Why is the sky blue?', rougeL: 0.1 } }]);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows[1]!.messages, [{ role: 'user', content: 'Write a haiku about the topic.\n\nrain' }, { role: 'assistant', content: 'Soft rain on the roof' }]);
  assert.deepEqual(rows[1]!.provenance, { source: 'seed', task: 's1', is_classification: false });
  assert.deepEqual(rows[3]!.messages, [{ role: 'user', content: 'Sort the numbers.\n\n3, 1' }, { role: 'assistant', content: '1, 3' }]);
  assert.equal(rows[4]!.provenance.source, 'generated');
  assert.equal(rows[4]!.provenance.iteration, 3);
  assert.ok(rows[4]!.provenance.filters_passed!.includes('rougeL<=0.7'));
  const read = parseConversations(toJsonl(rows), 'rows.jsonl');
  assert.equal(read.items.length, 5);
  assert.equal(read.format, 'openai');
});
