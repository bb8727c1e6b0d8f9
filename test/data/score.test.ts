// Tests for answer normalization, matching, ROUGE-L and dedup on hand-checked cases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dedup, exactMatch, normalizeAnswer, normalizedMatch, rougeL } from '../../src/data/score.js';

describe('normalizeAnswer', () => {
  it('drops case, punctuation, articles and extra spaces (SQuAD)', () => {
    assert.equal(normalizeAnswer('  The Cat!  '), 'cat');
    assert.equal(normalizeAnswer('An apple, a day.'), 'apple day');
    assert.equal(normalizeAnswer('Saint  John\'s'), 'saint john s');
    assert.equal(normalizeAnswer('theory'), 'theory'); // "the" only as a whole word
  });
});

describe('matching', () => {
  it('exactMatch only trims', () => {
    assert.ok(exactMatch(' DOG\n', 'DOG'));
    assert.ok(!exactMatch('dog', 'DOG'));
  });
  it('normalizedMatch ignores case/punctuation/articles and accepts any reference', () => {
    assert.ok(normalizedMatch('the Dog.', 'dog'));
    assert.ok(!normalizedMatch('dogs', 'dog'));
    assert.ok(normalizedMatch('canine', ['dog', 'Canine']));
    assert.ok(!normalizedMatch('cat', ['dog', 'canine']));
    assert.ok(normalizedMatch('ｄｏｇ', 'dog')); // NFKC folds full-width letters
    assert.ok(normalizedMatch('New  York-City', 'new york city'));
  });
  it('a reference that is only an article or punctuation does not match an empty reply', () => {
    // the first letter of "apple" is "a", which SQuAD normalisation would erase
    assert.ok(normalizedMatch('A.', 'a'));
    assert.ok(normalizedMatch(' a ', 'a'));
    assert.ok(!normalizedMatch('', 'a'));
    assert.ok(!normalizedMatch('the', 'a'));
    assert.ok(!normalizedMatch('.', 'a'));
    assert.ok(normalizedMatch('?', '?'));
    assert.ok(!normalizedMatch('', '?'));
    assert.ok(!normalizedMatch('!', '?'));
  });
  it('exactMatch keeps inner spacing and punctuation', () => {
    assert.ok(!exactMatch('New  York', 'New York'));
    assert.ok(!exactMatch('dog.', 'dog'));
    assert.ok(exactMatch('\tdog \n', 'dog'));
  });
});

describe('rougeL', () => {
  it('scores the longest common subsequence of tokens', () => {
    // After normalization: [cat sat on mat] vs [cat is on mat]: LCS 3 of 4 each way.
    const r = rougeL('the cat sat on the mat', 'the cat is on the mat');
    assert.equal(r.precision, 0.75);
    assert.equal(r.recall, 0.75);
    assert.equal(r.f, 0.75);
    const s = rougeL('police killed the gunman', 'the gunman killed police');
    // [police killed gunman] vs [gunman killed police]: LCS 1 ("killed" or either noun).
    assert.ok(Math.abs(s.f - 1 / 3) < 1e-12);
    const t = rougeL('a b c d', 'b d');
    // [b c d] (a is an article) vs [b d]: LCS 2, P = 2/3, R = 1, F = 0.8.
    assert.ok(Math.abs(t.f - 0.8) < 1e-12);
  });
  it('edge cases', () => {
    assert.equal(rougeL('same words', 'same words').f, 1);
    assert.equal(rougeL('', 'x').f, 0);
    assert.equal(rougeL('x', 'y').f, 0);
    assert.equal(rougeL('', '').f, 1);
  });
});

describe('dedup', () => {
  const texts = ['Hello world.', 'hello   WORLD', 'Hello world.', 'Something else'];
  it('exact keeps first copies of identical strings', () => {
    const r = dedup(texts, (x) => x);
    assert.deepEqual(r.kept, ['Hello world.', 'hello   WORLD', 'Something else']);
    assert.equal(r.removed, 1);
  });
  it('near also folds case, punctuation and spacing', () => {
    const r = dedup(texts, (x) => x, 'near');
    assert.deepEqual(r.kept, ['Hello world.', 'Something else']);
    assert.equal(r.removed, 2);
  });
});
