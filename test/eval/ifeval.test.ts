// IFEval's verifiable instructions: every check with hand-written responses that pass and fail,
// strict and loose (each expectation worked out from google-research's instructions.py and
// evaluation_lib.py), the four figures on a hand-scored set, the helpers against CPython's str
// methods and NLTK 3.8's word tokenizer, IFEval-format JSONL, and the built-in prompt set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IFEVAL_TYPES, builtinIfevalPrompts, checkKwargs, countSentences, countWords, followLoose, followStrict, ifevalFigures,
  ifevalJsonl, looseVariants, pyIsLower, pyIsUpper, readIfevalPrompts, splitIntoSentences, wordTokenize, type Kwargs,
} from '../../src/eval/ifeval.js';

/** One instruction's cases: responses that pass strict, fail strict but pass loose, and fail both. */
interface Case { kw: Kwargs; pass: string[]; looseOnly: string[]; fail: string[] }

const CASES: Record<string, Case> = {
  'keywords:existence': {
    kw: { keywords: ['river', 'city'] },
    pass: ['The City sits on a river.', 'citywide riverbanks'], // substring search, case ignored
    looseOnly: ['The ci*ty sits on a river.'], // the '*' removed joins the word
    fail: ['The town sits on a lake.', 'Only a river.'],
  },
  'keywords:frequency': {
    kw: { keyword: 'sea', frequency: 2, relation: 'less than' },
    pass: ['The sea is blue.', 'No water here.'],
    looseOnly: ['Sea\nThe sea is blue.'], // first line removed: one left
    fail: ['Sea, sea and seasons.', 'sea\nsea\nsea\nsea'],
  },
  'keywords:forbidden_words': {
    kw: { forbidden_words: ['cat', 'dog'] },
    pass: ['A concatenation of hotdogs.'], // whole words only
    looseOnly: ['My Cat\nBirds only.'],
    fail: ['My cat sleeps.', 'A DOG!', 'cat\ncat sleeps\ndog'],
  },
  'keywords:letter_frequency': {
    kw: { letter: 'A', let_frequency: 3, let_relation: 'less than' },
    pass: ['Paris', 'no'],
    looseOnly: ['Banana\nok'],
    fail: ['A banana', 'aaaa\naaaa\naaaa'],
  },
  'length_constraints:number_sentences': {
    kw: { num_sentences: 2, relation: 'less than' },
    pass: ['Paris is the capital.', 'Mr. Smith lives in Paris.', 'It is 3.5 km long'],
    looseOnly: ['Sure. Here it is.\nParis.'],
    fail: ['Paris. It is big.', 'One! Two?\nThree. Four.\nFive. Six.'],
  },
  'length_constraints:number_paragraphs': {
    kw: { num_paragraphs: 2 },
    pass: ['One.\n***\nTwo.', '***\nOne.\n***\nTwo.\n***'], // empty first and last pieces are not paragraphs
    looseOnly: ['***\nOne.\n***\nTwo.\n***\nThree.'], // last line removed: two
    fail: ['One.\n***\n***\nTwo.', 'One only.', 'One.\n***\nTwo.\n***\nThree.\n***\nFour.\n***\nFive.'],
  },
  'length_constraints:number_words': {
    kw: { num_words: 3, relation: 'less than' },
    pass: ['Paris, France.', "it's"], // \w+ splits at the apostrophe: two words
    looseOnly: ['Here is the answer:\nParis'],
    fail: ['It is Paris.', 'a_b c d'],
  },
  'length_constraints:nth_paragraph_first_word': {
    kw: { num_paragraphs: 2, nth_paragraph: 2, first_word: 'Garden' },
    pass: ['Hello there.\n\n"Garden, yes."', 'Hi.\n\ngarden.'],
    looseOnly: ['One.\n\nGarden.\n\nThree.'], // last line removed: two paragraphs
    fail: ['Hello.\n\nHouse.', 'Garden.\n\nHello.', 'One.\n\n\n\nGarden.'],
  },
  'detectable_content:number_placeholders': {
    kw: { num_placeholders: 2 },
    pass: ['Dear [name], see you at [address].', '[a][b]'],
    looseOnly: [],
    fail: ['Dear [name].', '[a\nb] and [c]'],
  },
  'detectable_content:postscript': {
    kw: { postscript_marker: 'P.S.' },
    pass: ['Paris.\nP.S. I love it.', 'Paris. p. s. see you'],
    looseOnly: [],
    fail: ['Paris. PS I love it.', 'Paris.'],
  },
  'detectable_format:number_bullet_lists': {
    kw: { num_bullets: 2 },
    pass: ['* one\n* two', '- a\n  - b', '**Bold** title\n* one\n* two'],
    looseOnly: ['Here:\n* one\n* two\n* three'], // last line removed: two
    fail: ['* one\n* two\n* three\n* four\n* five', '* one'],
  },
  'detectable_format:constrained_response': {
    kw: {},
    pass: ['My answer is yes.', 'Well... My answer is maybe. Sorry.'],
    looseOnly: ['My answer is *yes*.'],
    fail: ['Yes.', 'my answer is yes.'],
  },
  'detectable_format:number_highlighted_sections': {
    kw: { num_highlights: 2 },
    pass: ['*one* and **two**', '*a*\n*b*'],
    looseOnly: [],
    fail: ['*one* only', '* * and ** **', '*one\ntwo*'],
  },
  'detectable_format:multiple_sections': {
    kw: { section_spliter: 'Section', num_sections: 2 },
    pass: ['Section 1\nA\nSection 2\nB', 'Section 1 A Section 2 B Section 3 C'],
    looseOnly: [],
    fail: ['Section 1 only', 'Section A\nSection B', 'SECTION 1\nSECTION 2'],
  },
  'detectable_format:json_format': {
    kw: {},
    pass: ['```json\n{"a": 1}\n```', '{"a": NaN}', ' [1, 2] '],
    looseOnly: ['Here is the JSON:\n{"a": 1}'],
    fail: ['Here: {"a": 1}', '{a: 1}', '{"a": "NaN}'],
  },
  'detectable_format:title': {
    kw: {},
    pass: ['<<My Title>>\nText', 'x <<<a>>> y'],
    looseOnly: [],
    fail: ['<< >>', '<<a\nb>>', 'No title'],
  },
  'combination:two_responses': {
    kw: {},
    pass: ['Paris.\n******\nIt is Paris.', '******A******B******'],
    looseOnly: [],
    fail: ['Paris.\n******\nParis.', 'A\n******\n******\nB', 'A ****** B ****** C'],
  },
  'combination:repeat_prompt': {
    kw: { prompt_to_repeat: 'What is the capital of France?' },
    pass: ['what is the capital of france? Paris.'],
    looseOnly: ['Sure!\nWhat is the capital of France? Paris.'],
    fail: ['Paris. What is the capital of France?'],
  },
  'startend:end_checker': {
    kw: { end_phrase: 'Any other questions?' },
    pass: ['"Paris. Any other questions?"', 'Paris. any other questions?  '],
    looseOnly: ['Paris. Any other questions?\n(end)'],
    fail: ['Any other questions? Paris.'],
  },
  'change_case:capital_word_frequency': {
    kw: { capital_frequency: 2, capital_relation: 'at least' },
    pass: ["I DON'T", 'The USA is BIG'], // DON'T is two tokens, DO and N'T
    looseOnly: [],
    fail: ['The USA is big', 'U.S.A'],
  },
  'change_case:english_capital': {
    kw: {},
    pass: ['PARIS IS THE CAPITAL.', 'ÉTÉ 2024!'],
    looseOnly: ['Sure:\nPARIS'],
    fail: ['Paris', '123'],
  },
  'change_case:english_lowercase': {
    kw: {},
    pass: ['paris, 2024.', 'straße'],
    looseOnly: ['Answer:\nparis'],
    fail: ['Paris', '42', 'ǅ'],
  },
  'punctuation:no_comma': {
    kw: {},
    pass: ['Paris France'],
    looseOnly: ['Hi, there\nParis'],
    fail: ['Paris, France', 'a\nb, c\nd'],
  },
  'startend:quotation': {
    kw: {},
    pass: ['"Paris"', '  "a"\n'],
    looseOnly: ['Answer:\n"Paris"'],
    fail: ['Paris', '"', '"Paris'],
  },
};

test('every instruction type heed implements has cases, and there are at least 15', () => {
  assert.deepEqual(Object.keys(CASES).sort(), [...IFEVAL_TYPES.keys()].sort());
  assert.ok(IFEVAL_TYPES.size >= 15, `${IFEVAL_TYPES.size} types`);
});

for (const [id, c] of Object.entries(CASES)) {
  test(`${id}: passes and fails, strict and loose`, () => {
    const kw = checkKwargs(id, c.kw);
    const strict = (r: string) => followStrict(r, [id], [kw])[0], loose = (r: string) => followLoose(r, [id], [kw])[0];
    for (const r of c.pass) { assert.equal(strict(r), true, `strict should pass: ${JSON.stringify(r)}`); assert.equal(loose(r), true, `loose should pass: ${JSON.stringify(r)}`); }
    for (const r of c.looseOnly) { assert.equal(strict(r), false, `strict should fail: ${JSON.stringify(r)}`); assert.equal(loose(r), true, `loose should pass: ${JSON.stringify(r)}`); }
    for (const r of c.fail) { assert.equal(strict(r), false, `strict should fail: ${JSON.stringify(r)}`); assert.equal(loose(r), false, `loose should fail: ${JSON.stringify(r)}`); }
    assert.equal(strict('   '), false, 'an empty response follows nothing');
    assert.equal(loose(''), false);
  });
}

test('the loose variants are IFEval\'s eight, in its order', () => {
  assert.deepEqual(looseVariants('a*\nb\nc*'), ['a*\nb\nc*', 'a\nb\nc', 'b\nc*', 'a*\nb', 'b', 'b\nc', 'a\nb', 'b']);
});

test('the four figures on a hand-scored set', () => {
  const f = ifevalFigures([
    // strict [no comma: no, lowercase: yes]; loose the same (one line, no '*')
    { instruction_id_list: ['punctuation:no_comma', 'change_case:english_lowercase'], kwargs: [{}, {}], response: 'paris, france' },
    // strict no; loose yes (first line removed)
    { instruction_id_list: ['startend:quotation'], kwargs: [{}], response: 'Answer:\n"Paris"' },
    // both followed
    { instruction_id_list: ['detectable_format:title', 'detectable_content:postscript'], kwargs: [{}, { postscript_marker: 'P.S.' }], response: '<<Capitals>>\nParis.\nP.S. Nice.' },
  ]);
  assert.equal(f.prompts, 3); assert.equal(f.instructions, 5);
  assert.equal(f.prompt_strict, 1 / 3); assert.equal(f.instruction_strict, 3 / 5);
  assert.equal(f.prompt_loose, 2 / 3); assert.equal(f.instruction_loose, 4 / 5);
  assert.deepEqual(f.by_instruction['startend:quotation'], { n: 1, strict: 0, loose: 1 });
  assert.deepEqual(ifevalFigures([]).prompt_strict, 0);
});

test('Python\'s isupper and islower (values from CPython 3.11)', () => {
  const py: Array<[string, boolean, boolean]> = [['PARIS', true, false], ['Paris', false, false], ['123', false, false], ['ß', false, true], ['ǅ', false, false],
    ['ǆ', false, true], ['İ', true, false], ['ÉTÉ 2024!', true, false], ['ª', false, true], ['ᵃ', false, true], ['Ⅻ', true, false], ['ⅻ', false, true]];
  for (const [s, up, low] of py) { assert.equal(pyIsUpper(s), up, `${s}.isupper()`); assert.equal(pyIsLower(s), low, `${s}.islower()`); }
});

test('word tokens as NLTK 3.8\'s NLTKWordTokenizer gives them', () => {
  assert.deepEqual(wordTokenize('Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\ntwo of them.\nThanks.'),
    ['Good', 'muffins', 'cost', '$', '3.88', '(', 'roughly', '3,36', 'euros', ')', 'in', 'New', 'York.', 'Please', 'buy', 'me', 'two', 'of', 'them.', 'Thanks', '.']);
  assert.deepEqual(wordTokenize('I DON\'T KNOW, "HELLO" (WORLD) can\'t gonna U.S.A. END.'),
    ['I', 'DO', "N'T", 'KNOW', ',', '``', 'HELLO', "''", '(', 'WORLD', ')', 'ca', "n't", 'gon', 'na', 'U.S.A.', 'END', '.']);
  assert.deepEqual(wordTokenize("They'll say 'tis the USA's BEST-EVER plan... or NOT?!"),
    ['They', "'ll", 'say', "'t", 'is', 'the', 'USA', "'s", 'BEST-EVER', 'plan', '...', 'or', 'NOT', '?', '!']);
  assert.deepEqual(wordTokenize("«QUOTE» -- he said: WANNA go? I'M ok; it's 5:30 @HOME #1 *STAR*"),
    ['«', 'QUOTE', '»', '--', 'he', 'said', ':', 'WAN', 'NA', 'go', '?', 'I', "'M", 'ok', ';', 'it', "'s", '5:30', '@', 'HOME', '#', '1', '*', 'STAR', '*']);
});

test('IFEval\'s sentence splitter and word count', () => {
  assert.deepEqual(splitIntoSentences('Mr. Smith went to Washington. He said hi! Did he? Yes... 3.5 is a number.'),
    ['Mr. Smith went to Washington.', 'He said hi!', 'Did he?', 'Yes...', '3.5 is a number.']);
  assert.deepEqual(splitIntoSentences('She said "hi." Then left'), ['She said "hi".', 'Then left']);
  assert.equal(countSentences('The U.S.A. is big. Visit example.com today.'), 2);
  assert.equal(countSentences(''), 0);
  assert.equal(countWords("It's 3.5 km — naïve_word!"), 6); // It, s, 3, 5, km, naïve_word
});

test('kwargs are checked and named', () => {
  assert.deepEqual(checkKwargs('length_constraints:number_words', { num_words: 5, relation: 'at least', language: null }), { num_words: 5, relation: 'at least' });
  assert.throws(() => checkKwargs('nope:nope', {}), /unknown instruction 'nope:nope'/);
  assert.throws(() => checkKwargs('length_constraints:number_words', { num_words: 5 }), /kwargs\.relation: missing/);
  assert.throws(() => checkKwargs('length_constraints:number_words', { num_words: 5, relation: 'at most' }), /kwargs\.relation: must be 'less than' or 'at least'/);
  assert.throws(() => checkKwargs('length_constraints:number_words', { num_words: 2.5, relation: 'at least' }), /kwargs\.num_words: must be a non-negative integer/);
  assert.throws(() => checkKwargs('punctuation:no_comma', { letter: 'a' }), /kwargs\.letter: punctuation:no_comma takes no such argument/);
  assert.throws(() => checkKwargs('keywords:letter_frequency', { letter: 'ab', let_frequency: 1, let_relation: 'at least' }), /kwargs\.letter: must be one letter/);
});

test('IFEval-format JSONL reads (Hugging Face nulls too) and bad lines name file:line and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-ifeval-'));
  const good = join(dir, 'good.jsonl');
  writeFileSync(good, [
    JSON.stringify({ key: 1000, prompt: 'Write a haiku.', instruction_id_list: ['punctuation:no_comma', 'length_constraints:number_words'], kwargs: [{}, { num_words: 10, relation: 'less than', keywords: null }] }),
    '',
    JSON.stringify({ key: 1001, prompt: 'Say hi.', instruction_id_list: ['startend:quotation'], kwargs: [{}] }),
  ].join('\n'));
  const ps = readIfevalPrompts(good);
  assert.equal(ps.length, 2);
  assert.deepEqual(ps[0]!.kwargs, [{}, { num_words: 10, relation: 'less than' }]);
  assert.deepEqual(ps[1]!.messages, [{ role: 'user', content: 'Say hi.' }]);
  const again = join(dir, 'again.jsonl');
  writeFileSync(again, ifevalJsonl(ps));
  assert.deepEqual(readIfevalPrompts(again), ps, 'written and read back unchanged');
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, [
    JSON.stringify({ key: 1, prompt: 'x', instruction_id_list: ['language:response_language'], kwargs: [{ language: 'fr' }] }),
    JSON.stringify({ key: 2, prompt: 'x', instruction_id_list: ['startend:end_checker'], kwargs: [{}] }),
    JSON.stringify({ key: 3, prompt: 'x', instruction_id_list: ['punctuation:no_comma'], kwargs: [] }),
    '{not json',
  ].join('\n'));
  assert.throws(() => readIfevalPrompts(bad), (e: Error) =>
    /bad\.jsonl:1: kwargs\[0\]: unknown instruction 'language:response_language'/.test(e.message)
    && /bad\.jsonl:2: kwargs\[0\]\.end_phrase: missing/.test(e.message)
    && /bad\.jsonl:3: 'kwargs' must be a list with one object per instruction/.test(e.message)
    && /bad\.jsonl:4: bad JSON/.test(e.message));
});

test('the built-in prompt set: about 100 prompts on held-out tasks, one or two instructions, deterministic in the seed', () => {
  const a = builtinIfevalPrompts({ seed: 0 }), b = builtinIfevalPrompts({ seed: 0 }), c = builtinIfevalPrompts({ seed: 1 });
  assert.equal(a.length, 100);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((p) => p.prompt), c.map((p) => p.prompt));
  const used = new Set<string>();
  for (const p of a) {
    assert.ok(p.instruction_id_list.length >= 1 && p.instruction_id_list.length <= 2, p.prompt);
    assert.deepEqual(p.messages, [{ role: 'user', content: p.prompt }]);
    assert.ok(p.answer && p.family, 'the task\'s answer and family ride along');
    p.instruction_id_list.forEach((id, i) => {
      used.add(id);
      assert.deepEqual(checkKwargs(id, p.kwargs[i]), p.kwargs[i]);
      assert.ok(p.prompt.includes(IFEVAL_TYPES.get(id)!.describe(p.kwargs[i]!)), `${id} is described in the prompt`);
    });
    const ids = new Set(p.instruction_id_list);
    assert.ok(!(ids.has('change_case:english_lowercase') && ids.has('change_case:english_capital')), 'conflicting instructions are never drawn together');
    assert.ok(!(ids.has('startend:quotation') && ids.has('detectable_format:title')));
  }
  assert.equal(used.size, IFEVAL_TYPES.size - 1, 'every type but constrained_response is used');
  assert.match(a.find((p) => p.instruction_id_list.includes('change_case:english_lowercase'))!.prompt,
    /Your entire response should be in English, and in all lowercase letters\. No capital letters are allowed\./);
  // the task's bare answer follows some instructions and not others: the scores are neither 0 nor 1
  const f = ifevalFigures(a.map((p) => ({ ...p, response: p.answer! })));
  assert.ok(f.instruction_strict > 0.05 && f.instruction_strict < 0.6, String(f.instruction_strict));
});
