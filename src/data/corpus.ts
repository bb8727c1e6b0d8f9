// The built-in pretraining corpus: SOTU addresses, Moby-Dick chapters, WordNet glosses as
// readable sentences and an almanac of country and US state facts; cleaned, paragraph-deduplicated
// and split into train/val by document.
import { almanacDocs } from './almanac.js';
import { hashUnit } from '../core/rng.js';
import { nearDupKey, textHash } from './score.js';
import { loadMobyDick, loadSotu, loadWordNet, type RawDoc, type Synset } from './sources.js';

export type CorpusSource = 'sotu' | 'moby-dick' | 'wordnet' | 'almanac';
export const CORPUS_SOURCES: readonly CorpusSource[] = ['sotu', 'moby-dick', 'wordnet', 'almanac'];

export interface CorpusOptions {
  sources?: readonly CorpusSource[];
  /** Fraction of documents (not paragraphs) held out for validation. */
  valFraction: number;
  seed: number;
  /** Paragraphs shorter than this many characters are dropped as fragments (default 40). */
  minParagraphChars?: number;
  /** Differently worded copies of each almanac entry (default 300; see almanac.ts). */
  almanacVariants?: number;
}

export interface SourceStats { docs: number; chars: number; trainDocs: number; valDocs: number; trainChars: number; valChars: number }

export interface CorpusStats {
  docs: number;
  chars: number;
  train: { docs: number; chars: number };
  val: { docs: number; chars: number };
  perSource: Record<string, SourceStats>;
  duplicateParagraphs: number;
  droppedFragments: number;
}

export interface CorpusDoc { id: string; source: CorpusSource; text: string }

export interface Corpus {
  train: string[];
  val: string[];
  /** The same documents with their ids and sources, in the same order as train/val. */
  trainDocs: CorpusDoc[];
  valDocs: CorpusDoc[];
  stats: CorpusStats;
}

/** Typographic quotes and dashes to ASCII, so a byte-level tokenizer spends fewer merges on them. */
function asciiPunct(s: string): string {
  return s.replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"').replace(/\u2014/g, ' -- ').replace(/\u2013/g, '-').replace(/\u00a0/g, ' ');
}

function squeeze(s: string): string {
  return s.replace(/[ \t\f\v]+/g, ' ').replace(/ ?\n ?/g, '\n').trim();
}

/** Removes transcript stage directions: (Applause.), [Laughter], [missing text], footnote marks. */
export function stripSotuMarkup(s: string): string {
  return s
    .replace(/\s*\((?:applause|laughter|cheers|boos)[^)]*\)/gi, '')
    .replace(/\s*\[(?:applause|laughter|missing text|footnote[^\]]*|\d+)\]/gi, '')
    .replace(/\s*--\s*--\s*/g, ' -- ');
}

/**
 * SOTU files are one line per address, so paragraphs are rebuilt as runs of whole sentences of
 * roughly `target` characters: dedup and the fragment filter then work on a sensible unit.
 */
export function sentenceParagraphs(text: string, target = 700): string[] {
  // Splitting only at whitespace after end punctuation keeps every character of the text.
  const sentences = text.trim().split(/(?<=[.!?]["')\]]*)\s+/);
  const out: string[] = [];
  let cur = '';
  for (const s of sentences) {
    cur = cur === '' ? s : `${cur} ${s}`;
    if (cur.length >= target) { out.push(cur); cur = ''; }
  }
  if (cur !== '') out.push(cur);
  return out;
}

function sotuParagraphs(d: RawDoc): string[] {
  return sentenceParagraphs(squeeze(stripSotuMarkup(asciiPunct(d.text))).replace(/\n/g, ' '));
}

function mobyParagraphs(d: RawDoc): string[] {
  const paras = asciiPunct(d.text).split(/\n\s*\n/).map((p) => squeeze(p).replace(/\n/g, ' '));
  // Front-matter files repeat their heading as the first paragraph.
  if (paras.length > 0 && /^(ETYMOLOGY|EXTRACTS|Epilogue|CHAPTER \d+)\b/.test(paras[0] as string)) paras.shift();
  return paras;
}

/** "dog: a member of the genus Canis ... For example: "the dog barked all night"." */
export function glossSentence(s: Synset): string {
  const head = s.words.slice(0, 3).join(', ');
  let out = `${head}: ${s.definition}.`;
  if (s.examples.length > 0) out += ` For example: ${s.examples.map((e) => `"${e}"`).join('; ')}.`;
  return out.replace(/\.\./g, '.').replace(/\s+/g, ' ');
}

const WORDNET_DOC_SIZE = 100;
const POS_NAME: Record<string, string> = { n: 'nouns', v: 'verbs', a: 'adjectives', r: 'adverbs' };

/** WordNet as documents of 100 consecutive glosses (one per line), each within one part of speech. */
function wordnetDocs(): Array<{ id: string; paras: string[] }> {
  const docs: Array<{ id: string; paras: string[] }> = [];
  const byPos = new Map<string, Synset[]>();
  for (const s of loadWordNet().order) {
    if (s.definition === '') continue;
    let a = byPos.get(s.pos);
    if (!a) byPos.set(s.pos, (a = []));
    a.push(s);
  }
  for (const [pos, list] of byPos) {
    for (let i = 0; i < list.length; i += WORDNET_DOC_SIZE) {
      docs.push({ id: `wordnet/${POS_NAME[pos]}/${i / WORDNET_DOC_SIZE}`, paras: list.slice(i, i + WORDNET_DOC_SIZE).map((s) => squeeze(asciiPunct(glossSentence(s)))) });
    }
  }
  return docs;
}

/**
 * The almanac restates its facts on purpose, in new wording each time: dedup leaves it be, and none
 * of it is validation text (a validation document would measure recall of facts read elsewhere in
 * the almanac, not prediction).
 */
const restatesFacts = (s: CorpusSource): boolean => s === 'almanac';

export function buildCorpus(opts: CorpusOptions): Corpus {
  const sources = opts.sources ?? CORPUS_SOURCES;
  const minChars = opts.minParagraphChars ?? 40;
  if (!(opts.valFraction >= 0 && opts.valFraction < 1)) throw new Error(`valFraction must be in [0, 1), got ${opts.valFraction}`);
  const raw: Array<{ id: string; source: CorpusSource; paras: string[]; joiner: string; minChars: number }> = [];
  for (const src of sources) {
    if (src === 'sotu') for (const d of loadSotu()) raw.push({ id: d.id, source: src, paras: sotuParagraphs(d), joiner: '\n\n', minChars });
    else if (src === 'moby-dick') for (const d of loadMobyDick()) raw.push({ id: d.id, source: src, paras: mobyParagraphs(d), joiner: '\n\n', minChars });
    // Glosses are short by nature; only the fragment filter's floor applies to them.
    else if (src === 'wordnet') for (const d of wordnetDocs()) raw.push({ id: d.id, source: src, paras: d.paras, joiner: '\n', minChars: 12 });
    else if (src === 'almanac') for (const d of almanacDocs(opts.almanacVariants ?? 300, opts.seed)) raw.push({ id: d.id, source: src, paras: d.paras, joiner: '\n', minChars: 0 });
    else throw new Error(`unknown corpus source "${String(src)}" (expected ${CORPUS_SOURCES.join(', ')})`);
  }

  // Paragraph dedup runs over the whole corpus in a fixed order, so it is deterministic and a
  // paragraph repeated across documents (boilerplate openings, quoted passages) is kept once.
  const seen = new Set<string>();
  let duplicateParagraphs = 0;
  let droppedFragments = 0;
  const docs: CorpusDoc[] = [];
  for (const d of raw) {
    const kept: string[] = [];
    for (const p of d.paras) {
      if (p.length < d.minChars) { droppedFragments++; continue; }
      if (restatesFacts(d.source)) { kept.push(p); continue; }
      const h = textHash(nearDupKey(p));
      if (seen.has(h)) { duplicateParagraphs++; continue; }
      seen.add(h);
      kept.push(p);
    }
    if (kept.length > 0) docs.push({ id: d.id, source: d.source, text: kept.join(d.joiner) });
  }

  const trainDocs: CorpusDoc[] = [];
  const valDocs: CorpusDoc[] = [];
  const perSource: Record<string, SourceStats> = {};
  for (const d of docs) {
    const isVal = !restatesFacts(d.source) && hashUnit(`${opts.seed}:corpus:${d.id}`) < opts.valFraction;
    (isVal ? valDocs : trainDocs).push(d);
    const st = (perSource[d.source] ??= { docs: 0, chars: 0, trainDocs: 0, valDocs: 0, trainChars: 0, valChars: 0 });
    st.docs++;
    st.chars += d.text.length;
    if (isVal) { st.valDocs++; st.valChars += d.text.length; } else { st.trainDocs++; st.trainChars += d.text.length; }
  }
  const sum = (ds: CorpusDoc[]) => ds.reduce((a, d) => a + d.text.length, 0);
  const stats: CorpusStats = {
    docs: docs.length,
    chars: sum(docs),
    train: { docs: trainDocs.length, chars: sum(trainDocs) },
    val: { docs: valDocs.length, chars: sum(valDocs) },
    perSource,
    duplicateParagraphs,
    droppedFragments,
  };
  return { train: trainDocs.map((d) => d.text), val: valDocs.map((d) => d.text), trainDocs, valDocs, stats };
}
