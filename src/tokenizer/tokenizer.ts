// Byte-level BPE tokenizer (GPT-2, Qwen2/3, Llama 3 family) built from and saved to Hugging Face's
// `tokenizer.json`: added-token matching, normalizer, pre-tokenizer, BPE merges, ByteLevel decoding.
import { BYTE_TO_CHAR, incompleteUtf8Tail, tokenStringBytes, utf8 } from './bytes.js';
import { GPT2_PATTERN, compilePattern } from './regex.js';

export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens (control tokens like `<|im_end|>`) can be skipped when decoding. */
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

export interface DecodeOptions {
  /** Leave out added tokens marked special (default false). */
  skipSpecialTokens?: boolean;
}

export interface EncodeOptions {
  /**
   * Spell special tokens found in the text as ordinary text instead of their ids (default false,
   * as Hugging Face does). Use it for untrusted text that must not inject control tokens.
   */
  splitSpecialTokens?: boolean;
}

type Json = Record<string, unknown>;
type Emit = (piece: string) => void;
type PreTokenize = (text: string, emit: Emit) => void;
interface AddedMatcher {
  re: RegExp;
  /** tokens[g - 1] is the token whose capture group g matched. */
  tokens: AddedToken[];
}

// Pair keys pack two ids into one float64-exact integer, which Map hashes much faster than strings.
const SHIFT = 0x200000;
const MAX_ID = SHIFT - 1;
const HEAP_POS = 0x80000000;
const LONG_WORD = 96;
const CACHE_LIMIT = 250_000;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

class ConfigReader {
  constructor(readonly file: string) {}
  fail(field: string, what: string): never {
    throw new Error(`${this.file}: ${field}: ${what}`);
  }
  object(v: unknown, field: string): Json {
    return isObject(v) ? v : this.fail(field, `expected an object, got ${JSON.stringify(v)?.slice(0, 60)}`);
  }
  string(v: unknown, field: string): string {
    return typeof v === 'string' ? v : this.fail(field, `expected a string, got ${JSON.stringify(v)?.slice(0, 60)}`);
  }
  array(v: unknown, field: string): unknown[] {
    return Array.isArray(v) ? v : this.fail(field, `expected an array, got ${JSON.stringify(v)?.slice(0, 60)}`);
  }
  bool(v: unknown, field: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    return typeof v === 'boolean' ? v : this.fail(field, `expected true or false, got ${JSON.stringify(v)}`);
  }
  id(v: unknown, field: string): number {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ID) return v;
    return this.fail(field, `expected a token id (integer 0..${MAX_ID}), got ${JSON.stringify(v)}`);
  }
}

function buildNormalizer(r: ConfigReader, cfg: unknown, field: string): ((s: string) => string) | null {
  if (cfg === null || cfg === undefined) return null;
  const o = r.object(cfg, field);
  const type = r.string(o.type, `${field}.type`);
  switch (type) {
    case 'NFC': case 'NFD': case 'NFKC': case 'NFKD':
      return (s) => s.normalize(type);
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Sequence': {
      const steps = r.array(o.normalizers, `${field}.normalizers`)
        .map((n, i) => buildNormalizer(r, n, `${field}.normalizers[${i}]`))
        .filter((f): f is (s: string) => string => f !== null);
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    default:
      return r.fail(`${field}.type`, `normalizer "${type}" is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Sequence are)`);
  }
}

/** Split on every match of `re`; matches and the text between them are both emitted, in order. */
function splitIsolated(re: RegExp, s: string, emit: Emit): void {
  re.lastIndex = 0;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const text = m[0];
    if (text.length === 0) {
      re.lastIndex += s.codePointAt(re.lastIndex)! > 0xffff ? 2 : 1;
      continue;
    }
    if (m.index > last) emit(s.slice(last, m.index));
    emit(text);
    last = m.index + text.length;
  }
  if (last < s.length) emit(s.slice(last));
}

type Behavior = 'Isolated' | 'Removed' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

function splitWith(re: RegExp, behavior: Behavior, invert: boolean, s: string, emit: Emit): void {
  if (behavior === 'Isolated') return splitIsolated(re, s, emit); // keeps both sides: invert is moot
  const pieces: Array<{ text: string; isMatch: boolean }> = [];
  re.lastIndex = 0;
  let last = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (m[0].length === 0) {
      re.lastIndex += s.codePointAt(re.lastIndex)! > 0xffff ? 2 : 1;
      continue;
    }
    if (m.index > last) pieces.push({ text: s.slice(last, m.index), isMatch: invert });
    pieces.push({ text: m[0], isMatch: !invert });
    last = m.index + m[0].length;
  }
  if (last < s.length) pieces.push({ text: s.slice(last), isMatch: invert });
  let acc = '';
  let accIsMatch = false;
  for (const p of pieces) {
    switch (behavior) {
      case 'Removed':
        if (!p.isMatch) emit(p.text);
        break;
      case 'MergedWithPrevious':
        if (p.isMatch && acc) { emit(acc + p.text); acc = ''; }
        else { if (acc) emit(acc); acc = p.text; }
        break;
      case 'MergedWithNext':
        if (p.isMatch) { if (acc) emit(acc); acc = p.text; }
        else { emit(acc + p.text); acc = ''; }
        break;
      case 'Contiguous':
        if (acc && p.isMatch && accIsMatch) acc += p.text;
        else { if (acc) emit(acc); acc = p.text; accIsMatch = p.isMatch; }
        break;
    }
  }
  if (acc) emit(acc);
}

interface PreTokenizerInfo {
  run: PreTokenize | null;
  hasByteLevel: boolean;
}

function buildPreTokenizer(r: ConfigReader, cfg: unknown, field: string): PreTokenizerInfo {
  if (cfg === null || cfg === undefined) return { run: null, hasByteLevel: false };
  const o = r.object(cfg, field);
  const type = r.string(o.type, `${field}.type`);
  switch (type) {
    case 'ByteLevel': {
      const prefix = r.bool(o.add_prefix_space, `${field}.add_prefix_space`, true);
      const useRegex = r.bool(o.use_regex, `${field}.use_regex`, true);
      const re = useRegex ? compilePattern(GPT2_PATTERN, field) : null;
      return {
        hasByteLevel: true,
        run: (s, emit) => {
          // Hugging Face adds the space to every piece the earlier steps produced, not only the first.
          if (prefix && s[0] !== ' ') s = ' ' + s;
          if (re) splitIsolated(re, s, emit);
          else emit(s);
        },
      };
    }
    case 'Split': {
      const pat = r.object(o.pattern, `${field}.pattern`);
      let re: RegExp;
      if (typeof pat.Regex === 'string') re = compilePattern(pat.Regex, `${field}.pattern.Regex`);
      else if (typeof pat.String === 'string') re = new RegExp(escapeRegExp(pat.String), 'gu');
      else return r.fail(`${field}.pattern`, 'expected {"Regex": ...} or {"String": ...}');
      const behavior = r.string(o.behavior, `${field}.behavior`);
      if (!['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'].includes(behavior)) {
        return r.fail(`${field}.behavior`, `split behavior "${behavior}" is not supported`);
      }
      const invert = r.bool(o.invert, `${field}.invert`, false);
      return { hasByteLevel: false, run: (s, emit) => splitWith(re, behavior as Behavior, invert, s, emit) };
    }
    case 'Digits': {
      const individual = r.bool(o.individual_digits, `${field}.individual_digits`, false);
      const re = individual ? /[0-9]/g : /[0-9]+/g;
      return { hasByteLevel: false, run: (s, emit) => splitIsolated(re, s, emit) };
    }
    case 'Sequence': {
      const steps = r.array(o.pretokenizers, `${field}.pretokenizers`)
        .map((p, i) => buildPreTokenizer(r, p, `${field}.pretokenizers[${i}]`));
      const runs = steps.map((s) => s.run).filter((f): f is PreTokenize => f !== null);
      const hasByteLevel = steps.some((s) => s.hasByteLevel);
      if (runs.length === 0) return { run: null, hasByteLevel };
      const chain = runs.reduceRight<PreTokenize>((next, step) => (s, emit) => step(s, (piece) => next(piece, emit)),
        (s, emit) => emit(s));
      return { run: chain, hasByteLevel };
    }
    default:
      return r.fail(`${field}.type`, `pre-tokenizer "${type}" is not supported (ByteLevel, Split, Digits, Sequence are)`);
  }
}

function checkDecoder(r: ConfigReader, cfg: unknown, field: string): void {
  const o = r.object(cfg, field);
  const type = r.string(o.type, `${field}.type`);
  if (type === 'ByteLevel') return;
  if (type === 'Sequence') {
    const parts = r.array(o.decoders, `${field}.decoders`);
    if (parts.length === 1) return checkDecoder(r, parts[0], `${field}.decoders[0]`);
  }
  r.fail(`${field}.type`, `decoder "${type}" is not supported (byte-level BPE needs a ByteLevel decoder)`);
}

/** Min-heap of non-negative integers below 2^53. */
class NumHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

export class Tokenizer {
  /** One past the highest id of the vocabulary and the added tokens. */
  readonly vocabSize: number;
  readonly addedTokens: readonly AddedToken[];
  /** Ids of added tokens marked special, in id order. */
  readonly specialTokenIds: readonly number[];

  private readonly vocab: Map<string, number>;
  private readonly idToTokenArr: Array<string | undefined>;
  private readonly mergeRank = new Map<number, number>();
  private readonly mergedId: Int32Array;
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unkId: number | null;
  private readonly ignoreMerges: boolean;
  private readonly normalize: ((s: string) => string) | null;
  private readonly preTokenize: PreTokenize | null;
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly addedRe: AddedMatcher | null;
  private readonly addedReNoSpecial: AddedMatcher | null;
  private readonly addedDecorated: boolean;
  private readonly cache = new Map<string, readonly number[]>();

  /** Drops the per-word encoding cache (after bulk encoding, so it does not sit in the heap). */
  clearCache(): void { this.cache.clear(); }
  private readonly bytesById: Array<Uint8Array | undefined> = [];
  private readonly json: Json;

  private constructor(json: Json, file: string) {
    const r: ConfigReader = new ConfigReader(file);
    this.json = json;
    const model = r.object(json.model, 'model');
    const type = model.type === undefined ? 'BPE' : r.string(model.type, 'model.type');
    if (type !== 'BPE') r.fail('model.type', `model "${type}" is not supported (only byte-level BPE is)`);
    if (r.bool(model.byte_fallback, 'model.byte_fallback', false)) {
      r.fail('model.byte_fallback', 'byte fallback (SentencePiece-style BPE) is not supported; only byte-level BPE is');
    }
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
      const v = model[k];
      if (v !== undefined && v !== null && v !== '') r.fail(`model.${k}`, `${JSON.stringify(v)} is not supported (must be empty)`);
    }
    this.ignoreMerges = r.bool(model.ignore_merges, 'model.ignore_merges', false);

    const vocabObj = r.object(model.vocab, 'model.vocab');
    this.vocab = new Map();
    let maxId = -1;
    for (const tok in vocabObj) {
      const id = r.id(vocabObj[tok], `model.vocab[${JSON.stringify(tok)}]`);
      this.vocab.set(tok, id);
      if (id > maxId) maxId = id;
    }

    const added = json.added_tokens === undefined ? [] : r.array(json.added_tokens, 'added_tokens');
    const addedTokens: AddedToken[] = added.map((a, i) => {
      const f = `added_tokens[${i}]`;
      const o = r.object(a, f);
      const t: AddedToken = {
        id: r.id(o.id, `${f}.id`),
        content: r.string(o.content, `${f}.content`),
        special: r.bool(o.special, `${f}.special`, false),
        singleWord: r.bool(o.single_word, `${f}.single_word`, false),
        lstrip: r.bool(o.lstrip, `${f}.lstrip`, false),
        rstrip: r.bool(o.rstrip, `${f}.rstrip`, false),
        normalized: r.bool(o.normalized, `${f}.normalized`, !r.bool(o.special, `${f}.special`, false)),
      };
      if (t.content === '') r.fail(`${f}.content`, 'an added token cannot be empty');
      if (t.id > maxId) maxId = t.id;
      return t;
    });
    this.addedTokens = addedTokens;
    for (const t of addedTokens) {
      this.addedById.set(t.id, t);
      this.addedByContent.set(t.content, t);
    }
    this.specialTokenIds = addedTokens.filter((t) => t.special).map((t) => t.id).sort((a, b) => a - b);
    this.vocabSize = maxId + 1;
    this.idToTokenArr = new Array<string | undefined>(this.vocabSize);
    for (const [tok, id] of this.vocab) this.idToTokenArr[id] = tok;
    for (const t of addedTokens) this.idToTokenArr[t.id] ??= t.content;

    const merges = r.array(model.merges ?? [], 'model.merges');
    this.mergedId = new Int32Array(merges.length);
    merges.forEach((m, rank) => {
      const f = `model.merges[${rank}]`;
      let a: string;
      let b: string;
      if (typeof m === 'string') {
        const parts = m.split(' ');
        if (parts.length !== 2) r.fail(f, `expected "left right", got ${JSON.stringify(m)}`);
        [a, b] = parts as [string, string];
      } else {
        const pair = r.array(m, f);
        if (pair.length !== 2) r.fail(f, `expected a pair, got ${JSON.stringify(m)}`);
        a = r.string(pair[0], `${f}[0]`);
        b = r.string(pair[1], `${f}[1]`);
      }
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const iz = this.vocab.get(a + b);
      if (ia === undefined || ib === undefined || iz === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : a + b;
        r.fail(f, `token ${JSON.stringify(missing)} is not in model.vocab`);
      }
      const key = ia * SHIFT + ib;
      // The first (lowest-rank) merge of a pair wins, as in Hugging Face.
      if (!this.mergeRank.has(key)) this.mergeRank.set(key, rank);
      this.mergedId[rank] = iz;
    });

    const unk = model.unk_token;
    this.unkId = typeof unk === 'string' ? this.vocab.get(unk) ?? null : null;
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(BYTE_TO_CHAR[b]!) ?? -1;

    this.normalize = buildNormalizer(r, json.normalizer, 'normalizer');
    const pre = buildPreTokenizer(r, json.pre_tokenizer, 'pre_tokenizer');
    if (!pre.hasByteLevel) {
      r.fail('pre_tokenizer', 'byte-level BPE needs a ByteLevel pre-tokenizer (alone or last in a Sequence)');
    }
    this.preTokenize = pre.run;
    if (json.decoder !== undefined && json.decoder !== null) checkDecoder(r, json.decoder, 'decoder');

    this.addedDecorated = addedTokens.some((t) => t.lstrip || t.rstrip || t.singleWord);
    this.addedRe = this.buildAddedRegex(addedTokens);
    this.addedReNoSpecial = this.buildAddedRegex(addedTokens.filter((t) => !t.special));
  }

  /** Build from a parsed `tokenizer.json`; `file` names it in error messages. */
  static fromJSON(json: unknown, file = 'tokenizer.json'): Tokenizer {
    if (!isObject(json)) throw new Error(`${file}: expected a JSON object at the top level`);
    return new Tokenizer(json, file);
  }

  /** The `tokenizer.json` object (Hugging Face format), a copy the caller may change freely. */
  toJSON(): Json {
    return structuredClone(this.json);
  }

  private buildAddedRegex(tokens: readonly AddedToken[]): AddedMatcher | null {
    if (tokens.length === 0) return null;
    // Longest first: JavaScript alternation takes the first alternative that matches, so this
    // gives Hugging Face's leftmost-longest choice among tokens starting at the same place.
    const sorted = [...tokens].sort((a, b) => b.content.length - a.content.length);
    const alts = sorted.map((t) => {
      let p = `(${escapeRegExp(t.content)})`;
      if (t.singleWord) p = `(?<![\\p{L}\\p{N}_])${p}(?![\\p{L}\\p{N}_])`;
      if (t.lstrip) p = `\\s*${p}`;
      if (t.rstrip) p = `${p}\\s*`;
      return p;
    });
    return { re: new RegExp(alts.join('|'), 'gu'), tokens: sorted };
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenArr[id];
  }

  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special ?? false;
  }

  /** Token ids of `text`. Added tokens in the text become their ids; nothing is prepended. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const matcher = opts.splitSpecialTokens ? this.addedReNoSpecial : this.addedRe;
    if (matcher === null) {
      this.encodeOrdinary(text, out);
      return out;
    }
    const { re, tokens } = matcher;
    re.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) this.encodeOrdinary(text.slice(last, m.index), out);
      let tok: AddedToken | undefined;
      if (this.addedDecorated) {
        for (let g = 1; g < m.length; g++) if (m[g] !== undefined) { tok = tokens[g - 1]; break; }
      } else {
        tok = this.addedByContent.get(m[0]);
      }
      out.push(tok!.id);
      last = m.index + m[0].length;
    }
    if (last < text.length) this.encodeOrdinary(text.slice(last), out);
    return out;
  }

  /** Encode text that holds no added tokens (normalize, pre-tokenize, BPE each piece). */
  private encodeOrdinary(text: string, out: number[]): void {
    const s = this.normalize ? this.normalize(text) : text;
    const emit = (word: string): void => {
      const ids = this.encodeWord(word);
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    };
    if (this.preTokenize) this.preTokenize(s, emit);
    else emit(s);
  }

  private encodeWord(word: string): readonly number[] {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const bytes = utf8(word);
    let ids: number[] | undefined;
    if (this.ignoreMerges) {
      let spelled = '';
      for (const b of bytes) spelled += BYTE_TO_CHAR[b]!;
      const whole = this.vocab.get(spelled);
      if (whole !== undefined) ids = [whole];
    }
    if (ids === undefined) {
      ids = [];
      for (const b of bytes) {
        const id = this.byteIds[b]!;
        if (id >= 0) ids.push(id);
        else if (this.unkId !== null && ids[ids.length - 1] !== this.unkId) ids.push(this.unkId);
      }
      ids = ids.length > LONG_WORD ? this.mergeLong(ids) : this.mergeShort(ids);
    }
    // A bounded cache keeps memory flat on adversarial input; real text has a small vocabulary.
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  /** Repeatedly merge the lowest-rank pair (leftmost on ties): O(n^2), fastest for short words. */
  private mergeShort(ids: number[]): number[] {
    const ranks = this.mergeRank;
    while (ids.length > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = ranks.get(ids[i]! * SHIFT + ids[i + 1]!);
        if (r !== undefined && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      ids.splice(at, 2, this.mergedId[best]!);
    }
    return ids;
  }

  /** The same merge order with a heap over (rank, position) and a linked list: O(n log n). */
  private mergeLong(ids: number[]): number[] {
    const n = ids.length;
    const ranks = this.mergeRank;
    const sym = Int32Array.from(ids);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    const heap = new NumHeap();
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      if (i + 1 < n) {
        const r = ranks.get(sym[i]! * SHIFT + sym[i + 1]!);
        if (r !== undefined) heap.push(r * HEAP_POS + i);
      }
    }
    while (heap.size > 0) {
      const e = heap.pop();
      const rank = Math.floor(e / HEAP_POS);
      const pos = e - rank * HEAP_POS;
      const right = next[pos]!;
      if (!alive[pos] || right < 0) continue;
      if (ranks.get(sym[pos]! * SHIFT + sym[right]!) !== rank) continue; // stale entry
      sym[pos] = this.mergedId[rank]!;
      alive[right] = 0;
      const after = next[right]!;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos]!;
      if (before >= 0) {
        const r = ranks.get(sym[before]! * SHIFT + sym[pos]!);
        if (r !== undefined) heap.push(r * HEAP_POS + before);
      }
      if (after >= 0) {
        const r = ranks.get(sym[pos]! * SHIFT + sym[after]!);
        if (r !== undefined) heap.push(r * HEAP_POS + pos);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }

  /** The bytes a token stands for (an added token: its content's UTF-8). */
  tokenBytes(id: number): Uint8Array {
    let b = this.bytesById[id];
    if (b !== undefined) return b;
    const added = this.addedById.get(id);
    const tok = this.idToTokenArr[id];
    if (added) b = utf8(added.content);
    else if (tok !== undefined) b = tokenStringBytes(tok);
    else throw new RangeError(`decode: token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    this.bytesById[id] = b;
    return b;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      if (skip && this.addedById.get(id)?.special) continue;
      const b = this.tokenBytes(id);
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return new TextDecoder().decode(all);
  }

  /** A decoder for generation that yields text only once its UTF-8 bytes are complete. */
  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, opts);
  }
}

/**
 * Incremental decoding: a byte-level token may end mid-character (emoji, CJK), so bytes that could
 * still be completed are held back until the next token arrives.
 */
export class StreamDecoder {
  private pending = new Uint8Array(0);
  private readonly decoder = new TextDecoder();
  private readonly skip: boolean;

  constructor(private readonly tok: Tokenizer, opts: DecodeOptions = {}) {
    this.skip = opts.skipSpecialTokens ?? false;
  }

  /** Add one token; returns the newly complete text (possibly ""). */
  push(id: number): string {
    if (this.skip && this.tok.isSpecial(id)) return '';
    const b = this.tok.tokenBytes(id);
    const all = new Uint8Array(this.pending.length + b.length);
    all.set(this.pending);
    all.set(b, this.pending.length);
    const keep = incompleteUtf8Tail(all);
    this.pending = all.slice(all.length - keep);
    return this.decoder.decode(all.subarray(0, all.length - keep));
  }

  /** Whatever is held back, with U+FFFD for bytes that never completed a character. */
  flush(): string {
    const text = this.decoder.decode(this.pending);
    this.pending = new Uint8Array(0);
    return text;
  }
}
