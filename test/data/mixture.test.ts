// Tests for the built-in instruction mixture: breadth, determinism, split hygiene and answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMixture, toConversation, type Example } from '../../src/data/mixture.js';
import { ALL_FAMILIES, DEFAULT_ZERO_SHOT } from '../../src/data/tasks/index.js';
import { rhymePart } from '../../src/data/tasks/lexical.js';
import { loadCmudict } from '../../src/data/sources.js';

const opts = { seed: 1, trainPerFamily: 40, evalPerFamily: 20 };
const m = buildMixture(opts);
const byFamily = (xs: Example[]) => {
  const g = new Map<string, Example[]>();
  for (const x of xs) g.set(x.family, [...(g.get(x.family) ?? []), x]);
  return g;
};

describe('buildMixture', () => {
  it('has at least 12 trained families, each with at least 3 templates in use', () => {
    const trained = byFamily(m.train);
    assert.ok(trained.size >= 12, `only ${trained.size} trained families`);
    for (const f of ALL_FAMILIES) assert.ok(f.templates.length >= 3, `${f.name} has ${f.templates.length} templates`);
    for (const [name, xs] of trained) {
      assert.equal(xs.length, opts.trainPerFamily, name);
      assert.ok(new Set(xs.map((x) => x.template)).size >= 3, `${name} uses fewer than 3 templates`);
    }
  });

  it('mixes template styles: input inline, input block, instruction as system prompt', () => {
    assert.ok(m.train.some((x) => x.messages[0]?.role === 'system'));
    assert.ok(m.train.some((x) => x.messages.length === 1 && x.messages[0]?.content.includes('\n\n')));
    assert.ok(m.train.some((x) => x.messages.length === 1 && !x.messages[0]?.content.includes('\n')));
  });

  it('is deterministic for a seed and changes with it', () => {
    assert.deepEqual(buildMixture(opts), m);
    const other = buildMixture({ ...opts, seed: 2 });
    assert.notDeepEqual(other.train.map((x) => x.item), m.train.map((x) => x.item));
  });

  it('never puts an item on both sides of the split, in any family', () => {
    const trainKeys = new Set(m.train.map((x) => x.item));
    const leaked = m.heldout.filter((x) => trainKeys.has(x.item));
    assert.deepEqual(leaked.map((x) => `${x.family}:${x.item}`), []);
    for (const f of m.families.filter((x) => !x.zeroShot)) assert.ok(f.heldout > 0 && f.trainItems > 0, f.name);
    // Held-out items are distinct within a family.
    for (const [name, xs] of byFamily(m.heldout)) assert.equal(new Set(xs.map((x) => x.item)).size, xs.length, name);
  });

  it('keeps validation items (checkpoint selection) apart from test items and from training', () => {
    const testKeys = new Set(m.heldout.map((x) => x.item)), trainKeys = new Set(m.train.map((x) => x.item));
    assert.ok(m.validation.length > 0);
    assert.deepEqual(m.validation.filter((x) => testKeys.has(x.item) || trainKeys.has(x.item)).map((x) => x.id), []);
    // the test set does not depend on how much training data was drawn
    const small = buildMixture({ ...opts, trainPerFamily: 1 });
    assert.deepEqual(small.heldout.map((x) => x.id + x.answer), m.heldout.map((x) => x.id + x.answer));
  });

  it('keeps zero-shot families out of training', () => {
    const zs = new Set(m.zeroShot.map((x) => x.family));
    assert.deepEqual([...zs].sort(), [...DEFAULT_ZERO_SHOT].sort());
    assert.ok(m.train.every((x) => !zs.has(x.family)));
    assert.ok(m.heldout.every((x) => !zs.has(x.family)));
    const custom = buildMixture({ ...opts, families: ['add', 'subtract', 'uppercase'], heldoutFamilies: ['subtract'] });
    assert.deepEqual([...new Set(custom.train.map((x) => x.family))].sort(), ['add', 'uppercase']);
    assert.deepEqual([...new Set(custom.zeroShot.map((x) => x.family))], ['subtract']);
    assert.throws(() => buildMixture({ ...opts, heldoutFamilies: ['nope'] }), /unknown task family "nope"/);
  });

  it('answers are short, non-empty and right where the prompt decides them', () => {
    for (const x of [...m.train, ...m.heldout, ...m.zeroShot]) {
      assert.ok(x.answer.trim() !== '' && x.answer.length <= 40, `${x.id}: answer "${x.answer}"`);
      assert.equal(x.messages[x.messages.length - 1]?.role, 'user');
      assert.ok(!(x.accept ?? []).includes(''), x.id);
    }
    const all = [...m.train, ...m.heldout, ...m.zeroShot];
    const nums = (x: Example) => (x.messages.map((y) => y.content).join(' ').match(/\d+/g) ?? []).map(Number);
    for (const x of all) {
      const u = x.messages[x.messages.length - 1]?.content ?? '';
      // String families key items as "word:<w>"; the word must be in the prompt.
      const w = x.item.startsWith('word:') ? x.item.slice(5) : '';
      if (w) assert.ok(u.toLowerCase().includes(w), x.id);
      if (x.family === 'add') { const [a, b] = nums(x); assert.equal(x.answer, String((a ?? NaN) + (b ?? NaN)), x.id); }
      if (x.family === 'multiply') { const [a, b] = nums(x); assert.equal(x.answer, String((a ?? NaN) * (b ?? NaN)), x.id); }
      if (x.family === 'list_max') assert.equal(x.answer, String(Math.max(...nums(x))), x.id);
      if (x.family === 'list_sort') assert.equal(x.answer, nums(x).sort((a, b) => a - b).join(', '), x.id);
      if (x.family === 'uppercase') assert.equal(x.answer, w.toUpperCase(), x.id);
      if (x.family === 'reverse_word') assert.equal([...x.answer].reverse().join(''), w, x.id);
      if (x.family === 'lowercase') assert.equal(x.answer, w, x.id);
      if (x.family === 'state_capital' && u.includes('Ohio')) assert.equal(x.answer, 'Columbus');
    }
  });

  it('rhyme answers rhyme and distractors do not', () => {
    const cmu = loadCmudict();
    for (const x of m.train.filter((e) => e.family === 'rhyme')) {
      const word = /"([^"]+)"|Word: (\w+)|^(\w+)\?/m.exec(x.messages[x.messages.length - 1]?.content ?? '');
      const w = (word?.[1] ?? word?.[2] ?? word?.[3]) as string;
      assert.equal(rhymePart(cmu.get(w) as string[]), rhymePart(cmu.get(x.answer) as string[]), `${w} / ${x.answer}`);
    }
  });

  it('toConversation appends the answer as the assistant turn', () => {
    const x = m.train[0] as Example;
    const c = toConversation(x);
    assert.deepEqual(c.messages.slice(0, -1), x.messages);
    assert.deepEqual(c.messages[c.messages.length - 1], { role: 'assistant', content: x.answer });
  });
});
