// Word-knowledge families from WordNet (definition→word, synonym, antonym, hypernym), AFINN
// (sentiment) and cmudict (syllable count, rhymes). Answers are single words or numbers.
import { Rng } from '../../core/rng.js';
import { commonWords, loadAfinn, loadCmudict, loadWordNet, type Synset } from '../sources.js';
import { article, block, family, inline, system, uniqueByKey, type TaskItem } from './common.js';

const PLAIN = /^[a-z]+$/;

function isCommonSense(word: string, s: Synset, minTags: number): boolean {
  const info = loadWordNet().senses.get(`${word}|${s.id}`);
  // Sense 1 only: the word's most frequent meaning, so the answer is the one a reader expects.
  return info !== undefined && info.senseNumber === 1 && info.tagCount >= minTags;
}

const plainWords = (s: Synset) => s.words.filter((w) => PLAIN.test(w));

export const defineWord = family<{ definition: string; pos: string }>({
  name: 'define_word',
  description: 'Name the word that a WordNet definition describes.',
  source: 'wordnet',
  metric: 'normalized',
  templates: [
    inline('which_word', (x) => `Which word means "${x.definition}"? Answer with one word.`),
    block('block', 'Give the single word that matches this definition.', (x) => x.definition),
    system('system', 'You name the word being defined. Reply with one word.', (x) => `Definition: ${x.definition}`),
    inline('what_is', (x) => `What ${x.pos === 'v' ? 'verb' : x.pos === 'a' ? 'adjective' : 'noun'} means: ${x.definition}?`),
  ],
  items: () => {
    const out: Array<TaskItem<{ definition: string; pos: string }>> = [];
    for (const s of loadWordNet().order) {
      if (s.pos === 'r') continue;
      const w = s.words[0] as string;
      if (!PLAIN.test(w) || !isCommonSense(w, s, 3)) continue;
      // Leading qualifiers like "(usually plural)" are usage notes, not meaning.
      if (s.definition.length > 90 || s.definition.length < 8 || s.definition.startsWith('(')) continue;
      // A definition that names the word would turn the task into copying.
      if (s.words.some((x) => new RegExp(`\\b${x.slice(0, Math.max(4, x.length - 2))}`, 'i').test(s.definition))) continue;
      out.push({ key: `lex:${w}`, input: { definition: s.definition, pos: s.pos }, answer: w, accept: plainWords(s).filter((x) => x !== w) });
    }
    return uniqueByKey(out);
  },
});

export const synonym = family<{ word: string }>({
  name: 'synonym',
  description: 'Give a synonym (another word of the same WordNet synset).',
  source: 'wordnet',
  metric: 'normalized',
  templates: [
    inline('give', (x) => `Give a synonym of "${x.word}".`),
    inline('another', (x) => `What is another word for ${x.word}?`),
    block('block', 'Write one word that means the same as the word below.', (x) => x.word),
    system('system', 'Reply with a single synonym of the word the user sends.', (x) => x.word),
  ],
  items: () => {
    const out: Array<TaskItem<{ word: string }>> = [];
    for (const s of loadWordNet().order) {
      const ws = plainWords(s);
      if (ws.length < 2) continue;
      for (const w of ws) {
        if (!isCommonSense(w, s, 2)) continue;
        // Most frequent synonym first, so the reference answer is the one a reader would give.
        const freq = (x: string) => loadWordNet().frequency.get(x) ?? 0;
        const others = ws.filter((x) => x !== w).sort((a, b) => freq(b) - freq(a));
        out.push({ key: `lex:${w}`, input: { word: w }, answer: others[0] as string, accept: others.slice(1) });
      }
    }
    return uniqueByKey(out);
  },
});

export const antonym = family<{ word: string }>({
  name: 'antonym',
  description: 'Give the opposite of a word (WordNet antonym links).',
  source: 'wordnet',
  metric: 'normalized',
  templates: [
    inline('opposite', (x) => `What is the opposite of "${x.word}"?`),
    inline('antonym', (x) => `Give an antonym of ${x.word}.`),
    block('block', 'Write the opposite of this word.', (x) => x.word),
    system('system', 'Reply with one word: the opposite of the word the user sends.', (x) => x.word),
  ],
  items: () => {
    const wn = loadWordNet();
    const byWord = new Map<string, string[]>();
    for (const s of wn.order) {
      for (const a of s.antonyms) {
        const w = s.words[a.from];
        const t = wn.synsets.get(a.target)?.words[a.to];
        if (!w || !t || !PLAIN.test(w) || !PLAIN.test(t) || (wn.frequency.get(w) ?? 0) < 1) continue;
        const list = byWord.get(w) ?? [];
        if (!list.includes(t)) list.push(t);
        byWord.set(w, list);
      }
    }
    return [...byWord].map(([w, ts]) => ({ key: `lex:${w}`, input: { word: w }, answer: ts[0] as string, accept: ts.slice(1) }));
  },
});

export const hypernym = family<{ word: string }>({
  name: 'hypernym',
  description: 'Name the broader category of a noun (WordNet hypernym).',
  source: 'wordnet',
  metric: 'normalized',
  templates: [
    inline('kind_of', (x) => `${article(x.word) === 'an' ? 'An' : 'A'} ${x.word} is a kind of what?`),
    inline('category', (x) => `What category does the word "${x.word}" belong to?`),
    block('block', 'Complete the sentence with one word or a short phrase.', (x) => `${article(x.word) === 'an' ? 'An' : 'A'} ${x.word} is a kind of ...`),
    system('system', 'Name the general category of the thing the user mentions, in one or two words.', (x) => x.word),
  ],
  items: () => {
    const wn = loadWordNet();
    const out: Array<TaskItem<{ word: string }>> = [];
    for (const s of wn.order) {
      if (s.pos !== 'n') continue;
      const w = s.words[0] as string;
      if (!PLAIN.test(w) || !isCommonSense(w, s, 2)) continue;
      const h = s.hypernyms.map((id) => wn.synsets.get(id)).find((x) => x !== undefined);
      const answers = h?.words.filter((x) => x.split(' ').length <= 2 && x.length <= 20 && x !== w) ?? [];
      if (answers.length === 0) continue;
      out.push({ key: `lex:${w}`, input: { word: w }, answer: answers[0] as string, accept: answers.slice(1) });
    }
    return uniqueByKey(out);
  },
});

export const sentiment = family<{ word: string }>({
  name: 'sentiment',
  description: 'Say whether a word is positive or negative (AFINN-111 valence, |score| >= 2).',
  source: 'afinn-111',
  metric: 'normalized',
  templates: [
    inline('is_it', (x) => `Is the word "${x.word}" positive or negative?`),
    block('block', 'Classify the sentiment of this word as positive or negative.', (x) => x.word),
    system('system', 'Classify the sentiment of the word the user sends. Answer "positive" or "negative".', (x) => x.word),
    inline('feeling', (x) => `Does "${x.word}" express a positive or a negative feeling?`),
  ],
  items: () =>
    [...loadAfinn()]
      .filter(([w, v]) => PLAIN.test(w) && Math.abs(v) >= 2)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([w, v]) => ({ key: `lex:${w}`, input: { word: w }, answer: v > 0 ? 'positive' : 'negative' })),
});

const isVowel = (p: string) => /\d$/.test(p);

export const syllables = family<{ word: string }>({
  name: 'syllables',
  description: 'Count the syllables of a common word (CMU pronouncing dictionary).',
  source: 'cmudict',
  metric: 'normalized',
  templates: [
    inline('how_many', (x) => `How many syllables are in the word "${x.word}"?`),
    block('block', 'Count the syllables in this word. Answer with a number.', (x) => x.word),
    system('system', 'Reply with the number of syllables in the word the user sends.', (x) => x.word),
  ],
  items: () => {
    const cmu = loadCmudict();
    return commonWords()
      .slice(0, 4000)
      .filter((w) => cmu.has(w))
      .map((w) => ({ key: `lex:${w}`, input: { word: w }, answer: String((cmu.get(w) as string[]).filter(isVowel).length) }));
  },
});

/** Phones from the last stressed vowel to the end, stress marks dropped: the part that rhymes. */
export function rhymePart(phones: readonly string[]): string {
  let i = phones.length - 1;
  while (i >= 0 && !/[12]$/.test(phones[i] as string)) i--;
  if (i < 0) { i = phones.length - 1; while (i > 0 && !isVowel(phones[i] as string)) i--; }
  return phones.slice(Math.max(0, i)).map((p) => p.replace(/\d$/, '')).join(' ');
}

export const rhyme = family<{ word: string; options: string[] }>({
  name: 'rhyme',
  description: 'Pick the word that rhymes, out of three (CMU pronouncing dictionary).',
  source: 'cmudict',
  metric: 'normalized',
  templates: [
    inline('which', (x) => `Which word rhymes with "${x.word}": ${x.options.join(', ')}?`),
    block('block', 'Pick the option that rhymes with the first word.', (x) => `Word: ${x.word}\nOptions: ${x.options.join(', ')}`),
    system('system', 'The user gives a word and three options. Reply with the option that rhymes with the word.', (x) => `${x.word}? ${x.options.join(' / ')}`),
  ],
  items: () => {
    const cmu = loadCmudict();
    const words = commonWords().slice(0, 5000).filter((w) => cmu.has(w));
    const part = new Map(words.map((w) => [w, rhymePart(cmu.get(w) as string[])]));
    const groups = new Map<string, string[]>();
    for (const w of words) {
      const p = part.get(w) as string;
      const g = groups.get(p) ?? [];
      g.push(w);
      groups.set(p, g);
    }
    const out: Array<TaskItem<{ word: string; options: string[] }>> = [];
    for (const w of words) {
      const p = part.get(w) as string;
      // A word that contains the other (cat/cats) is a spelling task, not a rhyme.
      const mates = (groups.get(p) as string[]).filter((m) => m !== w && !m.includes(w) && !w.includes(m));
      if (mates.length === 0) continue;
      const rng = Rng.keyed(`rhyme:${w}`);
      const answer = rng.pick(mates);
      const distractors: string[] = [];
      while (distractors.length < 2) {
        const d = rng.pick(words);
        if (part.get(d) !== p && d !== w && !distractors.includes(d)) distractors.push(d);
      }
      out.push({ key: `lex:${w}`, input: { word: w, options: rng.shuffled([answer, ...distractors]) }, answer });
    }
    return out;
  },
});

export const LEXICAL_FAMILIES = [defineWord, synonym, antonym, hypernym, sentiment, syllables, rhyme];
