// List tasks on short generated lists of numbers or words: sort, max, min, first, last, count.
import { Rng } from '../../core/rng.js';
import { commonWords } from '../sources.js';
import { block, family, inline, system, type TaskItem } from './common.js';

type L = { items: string[] };
const show = (x: L) => x.items.join(', ');

/** A fixed pool of distinct lists; `pool` names the stream so each family has its own lists. */
function lists(pool: string, kind: 'numbers' | 'words', f: (xs: string[]) => string, n = 2000): Array<TaskItem<L>> {
  const rng = Rng.keyed(`${pool}:pool`);
  const vocab = commonWords().slice(0, 1500).filter((w) => w.length <= 7);
  const out: Array<TaskItem<L>> = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const len = rng.range(3, 6);
    const xs = kind === 'numbers' ? rng.sample(Array.from({ length: 100 }, (_, i) => String(i)), len) : rng.sample(vocab, len);
    const key = `list:${xs.join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ key, input: { items: xs }, answer: f(xs) });
  }
  return out;
}

const nums = (xs: string[]) => xs.map(Number);

export const listSort = family<L>({
  name: 'list_sort',
  description: 'Sort 3–6 numbers in ascending order.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('sort', (x) => `Sort these numbers from smallest to largest: ${show(x)}.`),
    block('block', 'Sort the numbers in ascending order. Separate them with commas.', show),
    system('system', 'Reply with the user\'s numbers sorted in ascending order, comma-separated.', show),
  ],
  items: () => lists('list_sort', 'numbers', (xs) => nums(xs).sort((a, b) => a - b).join(', ')),
});

export const listMax = family<L>({
  name: 'list_max',
  description: 'Give the largest of 3–6 numbers.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('largest', (x) => `What is the largest number in this list: ${show(x)}?`),
    block('block', 'Give the largest number.', show),
    system('system', 'Reply with the largest of the user\'s numbers.', show),
  ],
  items: () => lists('list_max', 'numbers', (xs) => String(Math.max(...nums(xs)))),
});

export const listMin = family<L>({
  name: 'list_min',
  description: 'Give the smallest of 3–6 numbers.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('smallest', (x) => `What is the smallest number in this list: ${show(x)}?`),
    block('block', 'Give the smallest number.', show),
    system('system', 'Reply with the smallest of the user\'s numbers.', show),
  ],
  items: () => lists('list_min', 'numbers', (xs) => String(Math.min(...nums(xs)))),
});

export const listLast = family<L>({
  name: 'list_last',
  description: 'Give the last item of a list of words.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('last', (x) => `What is the last item in this list: ${show(x)}?`),
    block('block', 'Give the last item of the list.', show),
    system('system', 'Reply with the last item of the user\'s list.', show),
  ],
  items: () => lists('list_last', 'words', (xs) => xs[xs.length - 1] as string),
});

export const listFirst = family<L>({
  name: 'list_first',
  description: 'Give the first item of a list of words.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('first', (x) => `What is the first item in this list: ${show(x)}?`),
    block('block', 'Give the first item of the list.', show),
    system('system', 'Reply with the first item of the user\'s list.', show),
  ],
  items: () => lists('list_first', 'words', (xs) => xs[0] as string),
});

export const listCount = family<L>({
  name: 'list_count',
  description: 'Count the items in a list of words.',
  source: 'generated',
  metric: 'exact',
  templates: [
    inline('how_many', (x) => `How many items are in this list: ${show(x)}?`),
    block('block', 'Count the items in the list.', show),
    system('system', 'Reply with the number of items in the user\'s list.', show),
  ],
  items: () => lists('list_count', 'words', (xs) => String(xs.length)),
});

export const LIST_FAMILIES = [listSort, listMax, listMin, listLast, listFirst, listCount];
