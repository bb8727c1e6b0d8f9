// String transforms on common English words, generated: copy/transform tasks whose answer is in
// the prompt, the clearest signal that SFT taught a small model to follow an instruction.
import { Rng } from '../../core/rng.js';
import { commonWords } from '../sources.js';
import { block, family, inline, system, type TaskItem } from './common.js';

/** Common words of 3–8 letters; string families share the `word:` key namespace. */
const words = (maxLen = 8) => commonWords().slice(0, 3000).filter((w) => w.length <= maxLen);
const wordItems = (f: (w: string) => string, maxLen?: number): Array<TaskItem<{ word: string }>> =>
  words(maxLen).map((w) => ({ key: `word:${w}`, input: { word: w }, answer: f(w) }));

export const uppercase = family<{ word: string }>({
  name: 'uppercase',
  description: 'Write a word in capital letters.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('write', (x) => `Write "${x.word}" in capital letters.`),
    inline('upper', (x) => `Convert ${x.word} to uppercase.`),
    block('block', 'Rewrite this word in uppercase.', (x) => x.word),
    system('system', 'Reply with the user\'s word in uppercase.', (x) => x.word),
  ],
  items: () => wordItems((w) => w.toUpperCase()),
});

export const lowercase = family<{ word: string }>({
  name: 'lowercase',
  description: 'Write a capitalized word in small letters.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('write', (x) => `Write "${x.word}" in small letters.`),
    inline('lower', (x) => `Convert ${x.word} to lowercase.`),
    block('block', 'Rewrite this word in lowercase.', (x) => x.word),
    system('system', 'Reply with the user\'s word in lowercase.', (x) => x.word),
  ],
  items: () => words().map((w) => ({ key: `word:${w}`, input: { word: w.toUpperCase() }, answer: w })),
});

export const reverseWord = family<{ word: string }>({
  name: 'reverse_word',
  description: 'Spell a word backwards (3–6 letters).',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('reverse', (x) => `Reverse the word "${x.word}".`),
    inline('backwards', (x) => `Write ${x.word} backwards.`),
    block('block', 'Reverse the letters of this word.', (x) => x.word),
    system('system', 'Reply with the user\'s word spelled backwards.', (x) => x.word),
  ],
  items: () => wordItems((w) => [...w].reverse().join(''), 6),
});

export const firstLetter = family<{ word: string }>({
  name: 'first_letter',
  description: 'Give the first letter of a word.',
  source: 'generated',
  metric: 'normalized',
  templates: [
    inline('what', (x) => `What is the first letter of "${x.word}"?`),
    inline('starts', (x) => `Which letter does the word ${x.word} start with?`),
    block('block', 'Give the first letter of this word.', (x) => x.word),
    system('system', 'Reply with the first letter of the user\'s word.', (x) => x.word),
  ],
  items: () => wordItems((w) => w.charAt(0)),
});

export const lastLetter = family<{ word: string }>({
  name: 'last_letter',
  description: 'Give the last letter of a word.',
  source: 'generated',
  metric: 'normalized',
  templates: [
    inline('what', (x) => `What is the last letter of "${x.word}"?`),
    inline('ends', (x) => `Which letter does the word ${x.word} end with?`),
    block('block', 'Give the last letter of this word.', (x) => x.word),
    system('system', 'Reply with the last letter of the user\'s word.', (x) => x.word),
  ],
  items: () => wordItems((w) => w.charAt(w.length - 1)),
});

export const countLetters = family<{ word: string }>({
  name: 'count_letters',
  description: 'Count the letters in a word.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('how_many', (x) => `How many letters are in the word "${x.word}"?`),
    block('block', 'Count the letters in this word.', (x) => x.word),
    system('system', 'Reply with the number of letters in the user\'s word.', (x) => x.word),
  ],
  items: () => wordItems((w) => String(w.length)),
});

export const spellOut = family<{ word: string }>({
  name: 'spell_out',
  description: 'Spell a word letter by letter, separated by hyphens.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('spell', (x) => `Spell "${x.word}" letter by letter, with hyphens.`),
    block('block', 'Spell this word out, putting a hyphen between letters.', (x) => x.word),
    system('system', 'Spell the user\'s word with hyphens between the letters, like c-a-t.', (x) => x.word),
  ],
  items: () => wordItems((w) => [...w].join('-'), 7),
});

export const countWords = family<{ text: string }>({
  name: 'count_words',
  description: 'Count the words in a short phrase of 2–8 common words.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('how_many', (x) => `How many words are in "${x.text}"?`),
    block('block', 'Count the words in the text below.', (x) => x.text),
    system('system', 'Reply with the number of words in the user\'s message.', (x) => x.text),
  ],
  items: () => {
    const rng = Rng.keyed('count_words:pool');
    const pool = words();
    const out: Array<TaskItem<{ text: string }>> = [];
    const seen = new Set<string>();
    while (out.length < 3000) {
      const n = rng.range(2, 8);
      const text = Array.from({ length: n }, () => rng.pick(pool)).join(' ');
      if (seen.has(text)) continue;
      seen.add(text);
      out.push({ key: `text:${text}`, input: { text }, answer: String(n) });
    }
    return out;
  },
});

export const STRING_FAMILIES = [uppercase, lowercase, reverseWord, firstLetter, lastLetter, countLetters, spellOut, countWords];
