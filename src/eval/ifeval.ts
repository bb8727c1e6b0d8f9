// IFEval's verifiable instructions (Zhou et al. 2023, google-research/instruction_following_eval):
// 24 of its 25 instruction types, each a pure check of a response under its kwargs, written to the
// reference's definitions (Python's regex, case and split semantics ported, not approximated); strict
// and loose following (loose: the response also passes with its first line, last line or both
// removed, and/or every '*' removed); the four figures; IFEval-format JSONL; and a built-in prompt set
// that puts the instructions on the built-in mixture's held-out tasks.
//
// Where the reference leans on a library heed does not have, the check says so: english_capital and
// english_lowercase check the case but not langdetect's "is English" half; number_sentences counts
// with IFEval's own regex splitter (instructions_util.split_into_sentences) instead of NLTK's punkt
// model; capital_word_frequency tokenizes with a port of NLTK's word tokenizer applied to the whole
// text (punkt's sentence split first only separates periods, which never changes an all-caps count).
// language:response_language (langdetect) is not implemented.
import { buildMixture } from '../data/mixture.js';
import { Rng } from '../core/rng.js';
import { readText } from '../util/text.js';
import { eachJsonLine, type Message } from '../data/formats.js';

// ---------------------------------------------------------------- Python's string semantics

/** Python's str.isupper(): no lowercase or titlecase character, and at least one uppercase one. */
export function pyIsUpper(s: string): boolean {
  return !/[\p{Lowercase}\p{Lt}]/u.test(s) && /\p{Uppercase}/u.test(s);
}

/** Python's str.islower(): no uppercase or titlecase character, and at least one lowercase one. */
export function pyIsLower(s: string): boolean {
  return !/[\p{Uppercase}\p{Lt}]/u.test(s) && /\p{Lowercase}/u.test(s);
}

/** Python's \w in a str pattern: letters, numbers and the underscore (marks are not word characters). */
const W = '[\\p{L}\\p{N}_]';
/** Python's ^ and $ under re.MULTILINE (only '\n' ends a line, where JavaScript also counts '\r'). */
const BOL = '(?<![^\\n])', EOL = '(?![^\\n])';
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const count = (re: RegExp, s: string) => [...s.matchAll(re)].length;
/** Python's str.strip(chars) for a set of characters. */
function stripChars(s: string, chars: string): string {
  let a = 0, b = s.length;
  while (a < b && chars.includes(s[a]!)) a++;
  while (b > a && chars.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** instructions_util.count_words: NLTK's RegexpTokenizer(r"\w+"). */
export function countWords(text: string): number {
  return count(new RegExp(`${W}+`, 'gu'), text);
}

/** instructions_util.split_into_sentences, step for step. */
export function splitIntoSentences(text: string): string[] {
  const A = '([A-Za-z])', PREFIXES = '(Mr|St|Mrs|Ms|Dr)[.]', SUFFIXES = '(Inc|Ltd|Jr|Sr|Co)';
  const STARTERS = '(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\\s|She\\s|It\\s|They\\s|Their\\s|Our\\s|We\\s|But\\s|However\\s|That\\s|This\\s|Wherever)';
  const ACRONYMS = '([A-Z][.][A-Z][.](?:[A-Z][.])?)', WEBSITES = '[.](com|net|org|io|gov|edu|me)', DIGITS = '([0-9])';
  const g = (p: string) => new RegExp(p, 'g');
  let t = ` ${text}  `;
  t = t.replaceAll('\n', ' ');
  t = t.replace(g(PREFIXES), '$1<prd>');
  t = t.replace(g(WEBSITES), '<prd>$1');
  t = t.replace(g(`${DIGITS}[.]${DIGITS}`), '$1<prd>$2');
  t = t.replace(/\.{2,}/g, (m) => '<prd>'.repeat(m.length) + '<stop>');
  if (t.includes('Ph.D')) t = t.replaceAll('Ph.D.', 'Ph<prd>D<prd>');
  t = t.replace(g(`\\s${A}[.] `), ' $1<prd> ');
  t = t.replace(g(`${ACRONYMS} ${STARTERS}`), '$1<stop> $2');
  t = t.replace(g(`${A}[.]${A}[.]${A}[.]`), '$1<prd>$2<prd>$3<prd>');
  t = t.replace(g(`${A}[.]${A}[.]`), '$1<prd>$2<prd>');
  t = t.replace(g(` ${SUFFIXES}[.] ${STARTERS}`), ' $1<stop> $2');
  t = t.replace(g(` ${SUFFIXES}[.]`), ' $1<prd>');
  t = t.replace(g(` ${A}[.]`), ' $1<prd>');
  t = t.replaceAll('.\u201d', '\u201d.').replaceAll('."', '".').replaceAll('!"', '"!').replaceAll('?"', '"?');
  t = t.replaceAll('.', '.<stop>').replaceAll('?', '?<stop>').replaceAll('!', '!<stop>').replaceAll('<prd>', '.');
  const s = t.split('<stop>').map((x) => x.trim());
  if (s.length && !s[s.length - 1]) s.pop();
  return s;
}

export function countSentences(text: string): number {
  return splitIntoSentences(text).length;
}

/**
 * NLTK's word_tokenize (NLTKWordTokenizer: the improved Treebank rules, in their order) on the whole
 * text as one line.
 */
export function wordTokenize(text: string): string[] {
  const rules: Array<[RegExp, string]> = [
    // starting quotes
    [/([«“‘„]|[`]+)/gu, ' $1 '], [/^"/g, '``'], [/(``)/g, ' $1 '], [/([ ([{<])("|'{2})/g, '$1 `` '],
    [new RegExp(`(')(?!re|ve|ll|m|t|s|d|n)(${W})(?!${W})`, 'giu'), '$1 $2'],
    // punctuation
    [/([^.])(\.)([\]\)}>"'»”’ ]*)\s*$/gu, '$1 $2 $3 '], [/([:,])([^\d])/g, ' $1 $2'], [/([:,])$/g, ' $1 '],
    [/\.{2,}/gu, ' $& '], [/[;@#$%&]/g, ' $& '], [/([^.])(\.)([\]\)}>"']*)\s*$/g, '$1 $2$3 '],
    [/[?!]/g, ' $& '], [/([^'])' /g, "$1 ' "], [/[*]/gu, ' $& '],
    // brackets and dashes
    [/[\][(){}<>]/g, ' $& '], [/--/g, ' -- '],
  ];
  let t = text;
  for (const [re, sub] of rules) t = t.replace(re, sub);
  t = ` ${t} `;
  const ending: Array<[RegExp, string]> = [
    [/([»”’])/gu, ' $1 '], [/''/g, " '' "], [/"/g, " '' "],
    [/([^' ])('[sS]|'[mM]|'[dD]|') /g, '$1 $2 '], [/([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) /g, '$1 $2 '],
  ];
  for (const [re, sub] of ending) t = t.replace(re, sub);
  const b = (x: string) => `(?<!${W})${x}(?!${W})`;
  for (const p of ['(can)(not)', "(d)('ye)", '(gim)(me)', '(gon)(na)', '(got)(ta)', '(lem)(me)', "(more)('n)"]) t = t.replace(new RegExp(b(p), 'giu'), ' $1 $2 ');
  t = t.replace(new RegExp(`(?<!${W})(wan)(na)(?=\\s)`, 'giu'), ' $1 $2 ');
  for (const p of ["('t)(is)", "('t)(was)"]) t = t.replace(new RegExp(` ${p}(?!${W})`, 'giu'), ' $1 $2 ');
  return t.split(/\s+/).filter(Boolean);
}

// ---------------------------------------------------------------- the instruction types

export type Kwargs = Record<string, unknown>;
type ArgKind = 'int' | 'string' | 'strings' | 'relation';
const RELATIONS = ['less than', 'at least'] as const;
type Relation = (typeof RELATIONS)[number];
const compare = (n: number, relation: Relation, k: number) => (relation === 'less than' ? n < k : n >= k);

export interface InstructionType {
  id: string;
  /** the kwargs it takes, each with its kind (all required) */
  args: Readonly<Record<string, ArgKind>>;
  /** the instruction as IFEval words it (build_description) */
  describe(kw: Kwargs): string;
  /** whether a response follows it */
  check(response: string, kw: Kwargs): boolean;
}

const int = (kw: Kwargs, k: string) => kw[k] as number;
const str = (kw: Kwargs, k: string) => kw[k] as string;
const strs = (kw: Kwargs, k: string) => kw[k] as string[];
const rel = (kw: Kwargs, k: string) => kw[k] as Relation;
/** Python's repr of a list of strings, as IFEval's descriptions print them. */
const pyList = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

export const CONSTRAINED_RESPONSE_OPTIONS = ['My answer is yes.', 'My answer is no.', 'My answer is maybe.'] as const;

/** Highlighted sections: *text* and **text** with something inside (instructions.HighlightSectionChecker). */
export function countHighlights(v: string): number {
  let n = 0;
  for (const m of v.matchAll(/\*[^\n*]*\*/g)) if (stripChars(m[0], '*').trim()) n++;
  for (const m of v.matchAll(/\*\*[^\n*]*\*\*/g)) if (m[0].slice(2, -2).trim()) n++;
  return n;
}

/** Markdown bullets: lines starting with '* ' (not '**') or '-' (instructions.BulletListChecker). */
export function countBullets(v: string): number {
  return count(new RegExp(`${BOL}\\s*\\*[^*][^\\n]*${EOL}`, 'g'), v) + count(new RegExp(`${BOL}\\s*-[^\\n]*${EOL}`, 'g'), v);
}

/** Python's json.loads, which also takes NaN, Infinity and -Infinity outside strings. */
function pyJsonLoads(s: string): boolean {
  try { JSON.parse(s); return true; } catch { /* try Python's extra constants */ }
  let out = '', inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inStr) { out += c; if (c === '\\') out += s[++i] ?? ''; else if (c === '"') inStr = false; continue; }
    if (c === '"') { inStr = true; out += c; continue; }
    const m = /^(-?Infinity|NaN)/.exec(s.slice(i));
    if (m) { out += '0'; i += m[0].length - 1; } else out += c;
  }
  try { JSON.parse(out); return out !== s; } catch { return false; }
}

const T: InstructionType[] = [
  {
    id: 'keywords:existence', args: { keywords: 'strings' },
    describe: (kw) => `Include keywords ${pyList([...strs(kw, 'keywords')].sort())} in the response.`,
    check: (v, kw) => strs(kw, 'keywords').every((k) => new RegExp(escapeRe(k), 'iu').test(v)),
  },
  {
    id: 'keywords:frequency', args: { keyword: 'string', frequency: 'int', relation: 'relation' },
    describe: (kw) => `In your response, the word ${str(kw, 'keyword').trim()} should appear ${rel(kw, 'relation')} ${int(kw, 'frequency')} times.`,
    check: (v, kw) => compare(count(new RegExp(escapeRe(str(kw, 'keyword').trim()), 'giu'), v), rel(kw, 'relation'), int(kw, 'frequency')),
  },
  {
    id: 'keywords:forbidden_words', args: { forbidden_words: 'strings' },
    describe: (kw) => `Do not include keywords ${pyList([...new Set(strs(kw, 'forbidden_words'))].sort())} in the response.`,
    check: (v, kw) => !strs(kw, 'forbidden_words').some((w) => new RegExp(`(?<!${W})${escapeRe(w)}(?!${W})`, 'iu').test(v)),
  },
  {
    id: 'keywords:letter_frequency', args: { letter: 'string', let_frequency: 'int', let_relation: 'relation' },
    describe: (kw) => `In your response, the letter ${str(kw, 'letter').toLowerCase()} should appear ${rel(kw, 'let_relation')} ${int(kw, 'let_frequency')} times.`,
    check: (v, kw) => {
      const letter = str(kw, 'letter').trim().toLowerCase();
      let n = 0;
      for (const c of v.toLowerCase()) if (c === letter) n++;
      return compare(n, rel(kw, 'let_relation'), int(kw, 'let_frequency'));
    },
  },
  {
    id: 'length_constraints:number_sentences', args: { num_sentences: 'int', relation: 'relation' },
    describe: (kw) => `Your response should contain ${rel(kw, 'relation')} ${int(kw, 'num_sentences')} sentences.`,
    check: (v, kw) => compare(countSentences(v), rel(kw, 'relation'), int(kw, 'num_sentences')),
  },
  {
    id: 'length_constraints:number_paragraphs', args: { num_paragraphs: 'int' },
    describe: (kw) => `There should be ${int(kw, 'num_paragraphs')} paragraphs. Paragraphs are separated with the markdown divider: ***`,
    check: (v, kw) => {
      const ps = v.split(/\s?\*\*\*\s?/);
      let n = ps.length;
      for (let i = 0; i < ps.length; i++) {
        if (ps[i]!.trim()) continue;
        if (i === 0 || i === ps.length - 1) n--; else return false;
      }
      return n === int(kw, 'num_paragraphs');
    },
  },
  {
    id: 'length_constraints:number_words', args: { num_words: 'int', relation: 'relation' },
    describe: (kw) => `Answer with ${rel(kw, 'relation')} ${int(kw, 'num_words')} words.`,
    check: (v, kw) => compare(countWords(v), rel(kw, 'relation'), int(kw, 'num_words')),
  },
  {
    id: 'length_constraints:nth_paragraph_first_word', args: { num_paragraphs: 'int', nth_paragraph: 'int', first_word: 'string' },
    describe: (kw) => `There should be ${int(kw, 'num_paragraphs')} paragraphs. Paragraphs and only paragraphs are separated with each other by two new lines as if it was '\\n\\n' in python. Paragraph ${int(kw, 'nth_paragraph')} must start with word ${str(kw, 'first_word').toLowerCase()}.`,
    check: (v, kw) => {
      const ps = v.split('\n\n');
      let n = ps.length;
      for (const p of ps) if (!p.trim()) n--;
      const nth = int(kw, 'nth_paragraph');
      // the reference indexes the split list, blank pieces included
      if (nth > n) return false;
      const p = ps[nth - 1]!.trim();
      if (!p) return false;
      let first = '';
      const word = p.split(/\s+/)[0]!.replace(/^'+/, '').replace(/^"+/, '');
      for (const c of word) { if ('.,?!\'"'.includes(c)) break; first += c.toLowerCase(); }
      return n === int(kw, 'num_paragraphs') && first === str(kw, 'first_word').toLowerCase();
    },
  },
  {
    id: 'detectable_content:number_placeholders', args: { num_placeholders: 'int' },
    describe: (kw) => `The response must contain at least ${int(kw, 'num_placeholders')} placeholders represented by square brackets, such as [address].`,
    check: (v, kw) => count(/\[[^\n]*?\]/g, v) >= int(kw, 'num_placeholders'),
  },
  {
    id: 'detectable_content:postscript', args: { postscript_marker: 'string' },
    describe: (kw) => `At the end of your response, please explicitly add a postscript starting with ${str(kw, 'postscript_marker').trim()}`,
    check: (v, kw) => {
      const marker = str(kw, 'postscript_marker').trim();
      const head = marker === 'P.P.S' ? 'p\\.\\s?p\\.\\s?s' : marker === 'P.S.' ? 'p\\.\\s?s\\.' : escapeRe(marker.toLowerCase());
      return new RegExp(`\\s*${head}[^\\n]*${EOL}`).test(v.toLowerCase());
    },
  },
  {
    id: 'detectable_format:number_bullet_lists', args: { num_bullets: 'int' },
    describe: (kw) => `Your answer must contain exactly ${int(kw, 'num_bullets')} bullet points. Use the markdown bullet points such as:\n* This is point 1. \n* This is point 2`,
    check: (v, kw) => countBullets(v) === int(kw, 'num_bullets'),
  },
  {
    id: 'detectable_format:constrained_response', args: {},
    describe: () => `Answer with one of the following options: (${CONSTRAINED_RESPONSE_OPTIONS.map((o) => `'${o}'`).join(', ')})`,
    check: (v) => CONSTRAINED_RESPONSE_OPTIONS.some((o) => v.trim().includes(o)),
  },
  {
    id: 'detectable_format:number_highlighted_sections', args: { num_highlights: 'int' },
    describe: (kw) => `Highlight at least ${int(kw, 'num_highlights')} sections in your answer with markdown, i.e. *highlighted section*.`,
    check: (v, kw) => countHighlights(v) >= int(kw, 'num_highlights'),
  },
  {
    id: 'detectable_format:multiple_sections', args: { section_spliter: 'string', num_sections: 'int' },
    describe: (kw) => {
      const s = str(kw, 'section_spliter').trim();
      return `Your response must have ${int(kw, 'num_sections')} sections. Mark the beginning of each section with ${s} X, such as:\n${s} 1\n[content of section 1]\n${s} 2\n[content of section 2]`;
    },
    check: (v, kw) => count(new RegExp(`\\s?${escapeRe(str(kw, 'section_spliter').trim())}\\s?\\p{Nd}+\\s?`, 'gu'), v) >= int(kw, 'num_sections'),
  },
  {
    id: 'detectable_format:json_format', args: {},
    describe: () => 'Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.',
    check: (v) => {
      let s = v.trim();
      for (const p of ['```json', '```Json', '```JSON', '```']) if (s.startsWith(p)) s = s.slice(p.length);
      if (s.endsWith('```')) s = s.slice(0, -3);
      return pyJsonLoads(s.trim());
    },
  },
  {
    id: 'detectable_format:title', args: {},
    describe: () => 'Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.',
    check: (v) => [...v.matchAll(/<<[^\n]+>>/g)].some((m) => m[0].replace(/^<+/, '').replace(/>+$/, '').trim() !== ''),
  },
  {
    id: 'combination:two_responses', args: {},
    describe: () => 'Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.',
    check: (v) => {
      const parts = v.split('******'), valid: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i]!.trim()) valid.push(parts[i]!);
        else if (i !== 0 && i !== parts.length - 1) return false;
      }
      return valid.length === 2 && valid[0]!.trim() !== valid[1]!.trim();
    },
  },
  {
    id: 'combination:repeat_prompt', args: { prompt_to_repeat: 'string' },
    describe: () => 'First repeat the request word for word without change, then give your answer (1. do not say any words or characters before repeating the request; 2. the request you need to repeat does not include this sentence)',
    check: (v, kw) => v.trim().toLowerCase().startsWith(str(kw, 'prompt_to_repeat').trim().toLowerCase()),
  },
  {
    id: 'startend:end_checker', args: { end_phrase: 'string' },
    describe: (kw) => `Finish your response with this exact phrase ${str(kw, 'end_phrase').trim()}. No other words should follow this phrase.`,
    check: (v, kw) => stripChars(v.trim(), '"').toLowerCase().endsWith(str(kw, 'end_phrase').trim().toLowerCase()),
  },
  {
    id: 'change_case:capital_word_frequency', args: { capital_frequency: 'int', capital_relation: 'relation' },
    describe: (kw) => `In your response, words with all capital letters should appear ${rel(kw, 'capital_relation')} ${int(kw, 'capital_frequency')} times.`,
    check: (v, kw) => compare(wordTokenize(v).filter(pyIsUpper).length, rel(kw, 'capital_relation'), int(kw, 'capital_frequency')),
  },
  {
    id: 'change_case:english_capital', args: {},
    describe: () => 'Your entire response should be in English, and in all capital letters.',
    check: (v) => pyIsUpper(v),
  },
  {
    id: 'change_case:english_lowercase', args: {},
    describe: () => 'Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.',
    check: (v) => pyIsLower(v),
  },
  {
    id: 'punctuation:no_comma', args: {},
    describe: () => 'In your entire response, refrain from the use of any commas.',
    check: (v) => !v.includes(','),
  },
  {
    id: 'startend:quotation', args: {},
    describe: () => 'Wrap your entire response with double quotation marks.',
    check: (v) => { const s = v.trim(); return s.length > 1 && s[0] === '"' && s[s.length - 1] === '"'; },
  },
];

/** Every instruction type heed checks, by IFEval id. */
export const IFEVAL_TYPES: ReadonlyMap<string, InstructionType> = new Map(T.map((t) => [t.id, t]));

/**
 * kwargs checked against the type's arguments: each present with the right kind (a null counts as
 * absent, as in the Hugging Face copy of IFEval's data, where every key is present), none unknown.
 * Throws naming the field.
 */
export function checkKwargs(id: string, kw: unknown, where = 'kwargs'): Kwargs {
  const t = IFEVAL_TYPES.get(id);
  if (!t) throw new Error(`${where}: unknown instruction '${id}' (known: ${[...IFEVAL_TYPES.keys()].join(', ')})`);
  if (kw === null || kw === undefined) kw = {};
  if (typeof kw !== 'object' || Array.isArray(kw)) throw new Error(`${where}: must be an object of ${id}'s arguments`);
  const out: Kwargs = {};
  for (const [k, v] of Object.entries(kw as Kwargs)) {
    if (v === null) continue;
    const kind = t.args[k];
    if (!kind) throw new Error(`${where}.${k}: ${id} takes no such argument (it takes ${Object.keys(t.args).join(', ') || 'none'})`);
    const bad = (what: string) => new Error(`${where}.${k}: must be ${what}, got ${JSON.stringify(v)}`);
    if (kind === 'int' && !(Number.isInteger(v) && (v as number) >= 0)) throw bad('a non-negative integer');
    if (kind === 'string' && (typeof v !== 'string' || !v.trim())) throw bad('a non-empty string');
    if (kind === 'strings' && !(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.trim()))) throw bad('a non-empty list of non-empty strings');
    if (kind === 'relation' && !RELATIONS.includes(v as Relation)) throw bad(`'less than' or 'at least'`);
    out[k] = v;
  }
  for (const k of Object.keys(t.args)) if (!(k in out)) throw new Error(`${where}.${k}: missing (${id} needs ${Object.keys(t.args).join(', ')})`);
  if (id === 'keywords:letter_frequency' && [...(out.letter as string).trim()].length !== 1) throw new Error(`${where}.letter: must be one letter, got ${JSON.stringify(out.letter)}`);
  if (id === 'length_constraints:nth_paragraph_first_word' && !((out.nth_paragraph as number) >= 1)) throw new Error(`${where}.nth_paragraph: must be at least 1`);
  return out;
}

// ---------------------------------------------------------------- strict, loose and the four figures

/** A prompt in IFEval's format (input_data.jsonl), with the messages heed sends. */
export interface IfevalPrompt {
  key: number;
  prompt: string;
  instruction_id_list: string[];
  kwargs: Kwargs[];
  /** what is sent to the model: the prompt as the user turn (a built-in prompt may add a system turn) */
  messages: Message[];
  /** the mixture task the built-in prompt was made from, and its known answer */
  family?: string;
  answer?: string;
}

/** Strict following of each instruction (an empty response follows nothing). */
export function followStrict(response: string, ids: readonly string[], kwargs: readonly Kwargs[]): boolean[] {
  return ids.map((id, i) => response.trim() !== '' && IFEVAL_TYPES.get(id)!.check(response, kwargs[i] ?? {}));
}

/** The eight variants the loose score tries: first/last/both lines removed, each with and without '*'. */
export function looseVariants(response: string): string[] {
  const r = response.split('\n');
  const first = r.slice(1).join('\n').trim(), last = r.slice(0, -1).join('\n').trim(), both = r.slice(1, -1).join('\n').trim();
  const unstar = (s: string) => s.replaceAll('*', '');
  return [response, unstar(response), first, last, both, unstar(first), unstar(last), unstar(both)];
}

/** Loose following: an instruction is followed when any of the loose variants follows it. */
export function followLoose(response: string, ids: readonly string[], kwargs: readonly Kwargs[]): boolean[] {
  const vs = looseVariants(response);
  return ids.map((id, i) => vs.some((v) => v.trim() !== '' && IFEVAL_TYPES.get(id)!.check(v, kwargs[i] ?? {})));
}

export interface IfevalFigures {
  prompts: number;
  instructions: number;
  prompt_strict: number;
  instruction_strict: number;
  prompt_loose: number;
  instruction_loose: number;
  /** per instruction id: how many, and the strict and loose share followed */
  by_instruction: Record<string, { n: number; strict: number; loose: number }>;
}

export interface IfevalItem { instruction_id_list: readonly string[]; kwargs: readonly Kwargs[]; response: string }

/** The four IFEval figures (prompt- and instruction-level, strict and loose) over responses. */
export function ifevalFigures(items: readonly IfevalItem[]): IfevalFigures {
  let ps = 0, pl = 0, is = 0, il = 0, n = 0;
  const by: IfevalFigures['by_instruction'] = {};
  for (const it of items) {
    const s = followStrict(it.response, it.instruction_id_list, it.kwargs), l = followLoose(it.response, it.instruction_id_list, it.kwargs);
    if (s.every(Boolean)) ps++;
    if (l.every(Boolean)) pl++;
    it.instruction_id_list.forEach((id, i) => {
      n++; if (s[i]) is++; if (l[i]) il++;
      const b = (by[id] ??= { n: 0, strict: 0, loose: 0 });
      b.n++; b.strict += s[i] ? 1 : 0; b.loose += l[i] ? 1 : 0;
    });
  }
  for (const b of Object.values(by)) { b.strict /= b.n; b.loose /= b.n; }
  const P = items.length;
  return { prompts: P, instructions: n, prompt_strict: P ? ps / P : 0, instruction_strict: n ? is / n : 0, prompt_loose: P ? pl / P : 0, instruction_loose: n ? il / n : 0, by_instruction: by };
}

// ---------------------------------------------------------------- IFEval-format JSONL

/** Reads prompts in IFEval's input_data.jsonl format ({key, prompt, instruction_id_list, kwargs}); errors name file:line. */
export function readIfevalPrompts(file: string): IfevalPrompt[] {
  let count = 0;
  const { items, errors } = eachJsonLine(readText(file), file, (r) => parseIfevalRecord(r, count++));
  if (errors.length) throw new Error(errors.slice(0, 10).join('\n') + (errors.length > 10 ? `\n… and ${errors.length - 10} more` : ''));
  if (!items.length) throw new Error(`${file}: holds no prompts`);
  return items;
}

function parseIfevalRecord(r: Record<string, unknown>, index: number): IfevalPrompt {
  if (typeof r.prompt !== 'string' || !r.prompt.trim()) throw new Error("'prompt' must be a non-empty string");
  const ids = r.instruction_id_list;
  if (!Array.isArray(ids) || !ids.length || !ids.every((x) => typeof x === 'string')) throw new Error("'instruction_id_list' must be a non-empty list of instruction ids");
  const kws = r.kwargs ?? ids.map(() => ({}));
  if (!Array.isArray(kws) || kws.length !== ids.length) throw new Error(`'kwargs' must be a list with one object per instruction (${ids.length})`);
  const key = r.key === undefined ? index : r.key;
  if (typeof key !== 'number') throw new Error("'key' must be a number");
  return {
    key, prompt: r.prompt, instruction_id_list: ids as string[],
    kwargs: (ids as string[]).map((id, i) => checkKwargs(id, kws[i], `kwargs[${i}]`)),
    messages: [{ role: 'user', content: r.prompt }],
    ...(typeof r.family === 'string' ? { family: r.family } : {}), ...(typeof r.answer === 'string' ? { answer: r.answer } : {}),
  };
}

/** One line of IFEval-format JSONL per prompt (heed's extra fields family and answer kept). */
export function ifevalJsonl(prompts: readonly IfevalPrompt[]): string {
  return prompts.map((p) => JSON.stringify({ key: p.key, prompt: p.prompt, instruction_id_list: p.instruction_id_list, kwargs: p.kwargs, ...(p.family ? { family: p.family } : {}), ...(p.answer !== undefined ? { answer: p.answer } : {}) })).join('\n') + (prompts.length ? '\n' : '');
}

// ---------------------------------------------------------------- the built-in prompt set

/** The mixture families the built-in set draws on: short answers, from sources that load in milliseconds. */
export const IFEVAL_FAMILIES = ['state_capital', 'country_capital', 'country_continent', 'country_currency', 'add', 'subtract', 'multiply',
  'unit_convert', 'sentiment'] as const;

const WORDS = ['answer', 'river', 'city', 'number', 'summer', 'garden', 'music', 'window', 'travel', 'friend', 'simple', 'morning', 'ocean', 'history', 'market', 'letter'];
const ENDINGS = ['Any other questions?', 'Is there anything else I can help with?'];

/** IFEval's conflicts (instructions_registry.INSTRUCTION_CONFLICTS, made symmetric) among heed's types. */
function conflicts(a: string, b: string): boolean {
  if (a === b) return true;
  const all = (x: string, y: string) => x === 'detectable_format:constrained_response' || (x === 'detectable_format:json_format' && !['keywords:forbidden_words', 'keywords:existence'].includes(y))
    || (x === 'combination:two_responses' && !['keywords:forbidden_words', 'keywords:existence', 'detectable_format:title', 'punctuation:no_comma'].includes(y))
    || (x === 'combination:repeat_prompt' && !['keywords:existence', 'detectable_format:title', 'punctuation:no_comma'].includes(y));
  const pairs = [
    ['length_constraints:number_paragraphs', 'length_constraints:nth_paragraph_first_word'], ['length_constraints:number_paragraphs', 'length_constraints:number_sentences'],
    ['detectable_format:multiple_sections', 'detectable_format:number_highlighted_sections'], ['change_case:capital_word_frequency', 'change_case:english_lowercase'],
    ['change_case:capital_word_frequency', 'change_case:english_capital'], ['change_case:english_lowercase', 'change_case:english_capital'],
    ['startend:quotation', 'detectable_format:title'],
  ];
  return all(a, b) || all(b, a) || pairs.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
}

/** kwargs for one instruction on one task, drawn with the generator. */
function drawKwargs(id: string, rng: Rng, task: string): Kwargs {
  const relation = (): Relation => rng.pick(RELATIONS);
  switch (id) {
    case 'keywords:existence': return { keywords: rng.sample(WORDS, 1 + rng.int(2)) };
    case 'keywords:frequency': return { keyword: rng.pick(WORDS), frequency: 1 + rng.int(3), relation: relation() };
    case 'keywords:forbidden_words': return { forbidden_words: rng.sample(WORDS, 2) };
    case 'keywords:letter_frequency': return { letter: rng.pick([...'aeiostn']), let_frequency: 1 + rng.int(4), let_relation: relation() };
    case 'length_constraints:number_sentences': return { num_sentences: 2 + rng.int(2), relation: 'less than' };
    case 'length_constraints:number_paragraphs': return { num_paragraphs: 2 };
    case 'length_constraints:number_words': return rng.int(2) ? { num_words: 5 + rng.int(16), relation: 'less than' } : { num_words: 5 + rng.int(6), relation: 'at least' };
    case 'length_constraints:nth_paragraph_first_word': return { num_paragraphs: 2, nth_paragraph: 1 + rng.int(2), first_word: rng.pick(WORDS) };
    case 'detectable_content:number_placeholders': return { num_placeholders: 1 + rng.int(2) };
    case 'detectable_content:postscript': return { postscript_marker: rng.pick(['P.S.', 'P.P.S']) };
    case 'detectable_format:number_bullet_lists': return { num_bullets: 1 + rng.int(3) };
    case 'detectable_format:number_highlighted_sections': return { num_highlights: 1 + rng.int(2) };
    case 'detectable_format:multiple_sections': return { section_spliter: rng.pick(['Section', 'SECTION']), num_sections: 2 };
    case 'combination:repeat_prompt': return { prompt_to_repeat: task };
    case 'startend:end_checker': return { end_phrase: rng.pick(ENDINGS) };
    case 'change_case:capital_word_frequency': return { capital_frequency: 1 + rng.int(3), capital_relation: relation() };
    default: return {};
  }
}

/**
 * About `n` IFEval prompts made from the built-in mixture's held-out tasks (single user turn), each
 * with one or two instructions (every type used in turn, conflicting pairs never drawn together),
 * e.g. "What is the capital of Mississippi? Your entire response should be in English, and in all
 * lowercase letters. No capital letters are allowed." Deterministic in the seed.
 */
export function builtinIfevalPrompts(o: { seed?: number; n?: number } = {}): IfevalPrompt[] {
  const seed = o.seed ?? 0, n = o.n ?? 100;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`the IFEval prompt count must be a positive integer, got ${n}`);
  // about half of the held-out examples are single user turns (the rest carry a system turn)
  const perFamily = Math.ceil((2.2 * n) / IFEVAL_FAMILIES.length);
  const mix = buildMixture({ seed, trainPerFamily: 0, evalPerFamily: perFamily, families: IFEVAL_FAMILIES, heldoutFamilies: [] });
  const rng = Rng.keyed(`${seed}:ifeval`);
  const pool = rng.shuffled(mix.heldout.filter((e) => e.messages.length === 1 && e.messages[0]!.role === 'user'));
  const tasks = Array.from({ length: n }, (_, i) => pool[i % pool.length]!);
  // constrained_response ("My answer is yes.") fits yes/no questions, which the mixture does not ask
  const ids = [...IFEVAL_TYPES.keys()].filter((id) => id !== 'detectable_format:constrained_response');
  let queue: string[] = [];
  const nextId = (avoid: readonly string[]): string | null => {
    for (let tries = 0; tries < 2 * ids.length; tries++) {
      if (!queue.length) queue = rng.shuffled(ids);
      const id = queue.shift()!;
      if (!avoid.some((a) => conflicts(a, id))) return id;
      queue.push(id);
    }
    return null;
  };
  return tasks.map((ex, key) => {
    const task = ex.messages[0]!.content;
    const chosen = [nextId([])!];
    if (rng.int(2) === 1) { const second = nextId(chosen); if (second) chosen.push(second); }
    const kwargs = chosen.map((id) => drawKwargs(id, rng, task));
    const descs = chosen.map((id, i) => IFEVAL_TYPES.get(id)!.describe(kwargs[i]!));
    const prompt = `${task}${task.includes('\n') ? '\n\n' : ' '}${descs.join(' ')}`;
    return { key, prompt, instruction_id_list: chosen, kwargs, messages: [{ role: 'user' as const, content: prompt }], family: ex.family, answer: ex.answer };
  });
}
