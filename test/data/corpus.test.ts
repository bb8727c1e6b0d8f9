// Tests for the pretraining corpus: cleaning, deterministic disjoint train/val split, stats.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCorpus, glossSentence, sentenceParagraphs, stripSotuMarkup } from '../../src/data/corpus.js';
import { almanacDocs } from '../../src/data/almanac.js';
import { loadCountries, loadStateCapitals, type Synset } from '../../src/data/sources.js';

// Every source but WordNet, whose parse alone takes seconds (the quick demo builds the whole corpus,
// WordNet included), and a short almanac: enough to check the bookkeeping, the split and dedup.
const full = buildCorpus({ sources: ['sotu', 'moby-dick', 'almanac'], valFraction: 0.1, seed: 3, almanacVariants: 12 });

describe('buildCorpus', () => {
  it('has every source asked for, with stats that add up', () => {
    const s = full.stats;
    assert.deepEqual(Object.keys(s.perSource).sort(), ['almanac', 'moby-dick', 'sotu']);
    const per = Object.values(s.perSource);
    assert.equal(per.reduce((a, x) => a + x.docs, 0), s.docs);
    assert.equal(per.reduce((a, x) => a + x.chars, 0), s.chars);
    assert.equal(s.train.docs + s.val.docs, s.docs);
    assert.equal(s.train.chars + s.val.chars, s.chars);
    assert.equal(full.train.length, s.train.docs);
    assert.ok((s.perSource['sotu']?.docs ?? 0) >= 230);
    assert.ok((s.perSource['moby-dick']?.docs ?? 0) >= 135);
    assert.ok((s.perSource['sotu']?.chars ?? 0) > 10e6, `SOTU only ${s.perSource['sotu']?.chars} chars`);
    const prose = s.docs - (s.perSource['almanac']?.docs ?? 0);
    assert.ok(s.val.docs / prose > 0.05 && s.val.docs / prose < 0.15);
    // the almanac restates its facts across documents, so none of it is validation
    assert.equal(s.perSource['almanac']?.valDocs, 0);
    assert.ok(full.trainDocs.some((d) => d.source === 'almanac'));
  });

  it('splits by document, disjoint, and deterministically', () => {
    const trainIds = new Set(full.trainDocs.map((d) => d.id));
    assert.ok(full.valDocs.every((d) => !trainIds.has(d.id)));
    const a = buildCorpus({ sources: ['moby-dick'], valFraction: 0.2, seed: 5 });
    const b = buildCorpus({ sources: ['moby-dick'], valFraction: 0.2, seed: 5 });
    const c = buildCorpus({ sources: ['moby-dick'], valFraction: 0.2, seed: 6 });
    assert.deepEqual(a.valDocs.map((d) => d.id), b.valDocs.map((d) => d.id));
    assert.deepEqual(a.train, b.train);
    assert.notDeepEqual(a.valDocs.map((d) => d.id), c.valDocs.map((d) => d.id));
    // The same document lands on the same side whatever other sources are included.
    const fullVal = new Set(buildCorpus({ sources: ['moby-dick', 'sotu'], valFraction: 0.2, seed: 5 }).valDocs.map((d) => d.id));
    assert.deepEqual(a.valDocs.map((d) => d.id).filter((id) => !fullVal.has(id)), []);
  });

  it('has no paragraph twice and no leftover transcript markup', () => {
    const seen = new Set<string>();
    for (const d of [...full.trainDocs, ...full.valDocs]) {
      if (d.source === 'almanac') continue; // repeats facts by design (see the almanac tests)
      for (const p of d.text.split(d.source === 'wordnet' ? '\n' : '\n\n')) {
        assert.ok(!seen.has(p), `duplicate paragraph in ${d.id}: ${p.slice(0, 60)}`);
        seen.add(p);
      }
      if (d.source === 'sotu') assert.ok(!/\((Applause|Laughter)\.?\)|\[Laughter\]/i.test(d.text), d.id);
      assert.ok(!/[\u201c\u201d\u2019]|  /.test(d.text), `${d.id} keeps typographic quotes or double spaces`);
    }
    assert.ok(full.stats.duplicateParagraphs > 0);
  });
});

describe('almanac', () => {
  const variants = 12;
  const docs = almanacDocs(variants, 0);
  const entries = docs.flatMap((d) => d.paras);

  it('states every fact of every country and state, in every variant', () => {
    const countries = loadCountries().filter((c) => c.capital !== '');
    const states = loadStateCapitals();
    assert.ok(countries.length > 200);
    const peru = countries.find((c) => c.name === 'Peru');
    assert.ok(peru);
    const perus = entries.filter((e) => e.includes('Lima'));
    assert.equal(perus.length, variants);
    for (const e of perus) assert.ok(e.includes('Peru') && e.includes(peru.continent) && e.includes(peru.currency), e);
    const ohio = entries.filter((e) => e.includes('Columbus'));
    assert.equal(ohio.length, variants);
    for (const e of ohio) assert.ok(e.includes('Ohio'), e);
    // every country's capital and every state's capital appears once per variant
    for (const c of countries) assert.ok(entries.filter((e) => e.includes(c.capital)).length >= variants, c.name);
    for (const st of states) assert.ok(entries.filter((e) => e.includes(st.capital)).length >= variants, st.state);
  });

  it('words each entity differently from copy to copy, and no document holds an entity twice', () => {
    const perus = entries.filter((e) => e.includes('Lima'));
    assert.ok(new Set(perus).size >= variants - 2, `only ${new Set(perus).size} distinct wordings`);
    for (const d of docs) assert.equal(d.paras.filter((p) => p.includes('Lima')).length <= 1, true, d.id);
    assert.deepEqual(almanacDocs(2, 0), almanacDocs(2, 0));
    assert.notDeepEqual(almanacDocs(2, 0), almanacDocs(2, 1));
  });
});

describe('cleaning helpers', () => {
  it('strips stage directions', () => {
    assert.equal(stripSotuMarkup('We will win. (Applause.) Thank you [Laughter] all.'), 'We will win. Thank you all.');
  });
  it('rebuilds paragraphs from whole sentences', () => {
    const ps = sentenceParagraphs('One two. Three four? Five six! Seven.', 15);
    assert.deepEqual(ps, ['One two. Three four?', 'Five six! Seven.']);
  });
  it('formats glosses as readable sentences', () => {
    const dog: Synset = {
      id: 'n02086723', pos: 'n', words: ['dog', 'domestic dog', 'Canis familiaris', 'pooch'], hypernyms: [], antonyms: [],
      definition: 'a member of the genus Canis;  occurs in many breeds.', examples: ['the dog barked all night', 'a good  dog'],
    };
    assert.equal(glossSentence(dog), 'dog, domestic dog, Canis familiaris: a member of the genus Canis; occurs in many breeds. ' +
      'For example: "the dog barked all night"; "a good dog".');
    assert.equal(glossSentence({ ...dog, words: ['x'], examples: [] }), 'x: a member of the genus Canis; occurs in many breeds.');
  });
});
