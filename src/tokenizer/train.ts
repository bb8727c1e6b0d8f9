// GPT-2-style byte-level BPE training: pre-tokenize with a GPT-4-style regex, count unique words,
// then merge the most frequent pair repeatedly, updating pair counts incrementally with a heap.
import { BYTE_TO_CHAR, utf8 } from './bytes.js';
import { QWEN2_PATTERN, compilePattern } from './regex.js';
import { Tokenizer } from './tokenizer.js';

/** heed's control tokens: documents end with `<|endoftext|>`, chat turns are ChatML. */
export const CHATML_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

export interface TrainProgress {
  merges: number;
  totalMerges: number;
  /** Count of the pair merged last. */
  count: number;
}

export interface TrainBPEOptions {
  /** Final vocabulary size: 256 bytes + merges + special tokens. */
  vocabSize: number;
  /** Special tokens, given the last ids in order (default: ChatML's three). */
  specialTokens?: readonly string[];
  /** Stop merging when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Pre-tokenizer regex in tokenizer.json's dialect (default: Qwen2's). */
  pattern?: string;
  /**
   * A finer split to learn merges within (default: `pattern` itself); the tokenizer still splits
   * text with `pattern`. SPLIT_SPACES uses it: merges learned within WORDS_PATTERN's pieces never
   * join a space to a word, so under Qwen2's pattern " word" is " " + "word" as well, and the
   * tokenizer is one llama.cpp can reproduce.
   */
  learnWithin?: string;
  onProgress?: (p: TrainProgress) => void;
}

const SHIFT = 0x200000;

/**
 * Max-heap of (count, pair key) with ties to the smaller key, so training is deterministic.
 * Entries go stale when counts drop; the caller re-checks on pop (lazy deletion).
 */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.keys.length;
  }
  private above(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }
  push(count: number, key: number): void {
    const c = this.counts;
    const k = this.keys;
    let i = c.length;
    c.push(count);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(count, key, c[p]!, k[p]!)) break;
      c[i] = c[p]!;
      k[i] = k[p]!;
      i = p;
    }
    c[i] = count;
    k[i] = key;
  }
  /** Removes the top; read it first with topCount/topKey. */
  pop(): void {
    const c = this.counts;
    const k = this.keys;
    const lc = c.pop()!;
    const lk = k.pop()!;
    const n = c.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const best = r < n && this.above(c[r]!, k[r]!, c[l]!, k[l]!) ? r : l;
      if (!this.above(c[best]!, k[best]!, lc, lk)) break;
      c[i] = c[best]!;
      k[i] = k[best]!;
      i = best;
    }
    c[i] = lc;
    k[i] = lk;
  }
  get topCount(): number {
    return this.counts[0]!;
  }
  get topKey(): number {
    return this.keys[0]!;
  }
}

/** The tokenizer.json pieces heed's own tokenizers use (Qwen2's layout). */
export function heedTokenizerJSON(
  vocab: readonly string[],
  merges: ReadonlyArray<readonly [string, string]>,
  specialTokens: readonly string[],
  pattern: string = QWEN2_PATTERN,
): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const vocabObj: Record<string, number> = {};
  vocab.forEach((t, i) => (vocabObj[t] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content, i) => ({
      id: vocab.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: vocabObj,
      // "left right" strings: every reader of tokenizer.json accepts them, and byte-level tokens
      // never hold a literal space.
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Train a byte-level BPE tokenizer on `texts`. Same texts and options give the same tokenizer. */
export function trainBPE(texts: Iterable<string>, opts: TrainBPEOptions): Tokenizer {
  const specials = [...(opts.specialTokens ?? CHATML_SPECIAL_TOKENS)];
  const minFrequency = opts.minFrequency ?? 2;
  const pattern = opts.pattern ?? QWEN2_PATTERN;
  const totalMerges = opts.vocabSize - 256 - specials.length;
  if (!Number.isInteger(opts.vocabSize) || totalMerges < 0) {
    throw new Error(`trainBPE: vocabSize ${opts.vocabSize} must be an integer of at least 256 + ${specials.length} special tokens`);
  }
  if (new Set(specials).size !== specials.length) throw new Error('trainBPE: specialTokens has duplicates');

  // 1. Unique pre-token words and their counts. Special tokens in the text are not learned from.
  const re = compilePattern(opts.learnWithin ?? pattern, opts.learnWithin ? 'trainBPE learnWithin' : 'trainBPE pattern');
  const specialRe = specials.length
    ? new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'u')
    : null;
  const counts = new Map<string, number>();
  for (const raw of texts) {
    for (const chunk of specialRe ? raw.split(specialRe) : [raw]) {
      const s = chunk.normalize('NFC');
      re.lastIndex = 0;
      for (let m = re.exec(s); m !== null; m = re.exec(s)) {
        const w = m[0];
        if (w.length === 0) { re.lastIndex++; continue; }
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
    }
  }

  // 2. Words as byte-id sequences (ids 0..255 are the bytes), and pair statistics.
  const nWords = counts.size;
  const words: Int32Array[] = [];
  const lens = new Int32Array(nWords);
  const freq = new Float64Array(nWords);
  let w = 0;
  for (const [word, c] of counts) {
    const bytes = utf8(word);
    words.push(Int32Array.from(bytes));
    lens[w] = bytes.length;
    freq[w] = c;
    w++;
  }
  counts.clear();
  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>();
  const addWhere = (key: number, wi: number): void => {
    const list = where.get(key);
    if (list === undefined) where.set(key, [wi]);
    else if (list[list.length - 1] !== wi) list.push(wi);
  };
  for (let wi = 0; wi < nWords; wi++) {
    const s = words[wi]!;
    const f = freq[wi]!;
    for (let i = 0; i + 1 < lens[wi]!; i++) {
      const key = s[i]! * SHIFT + s[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      addWhere(key, wi);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  // 3. Merge loop.
  const vocab: string[] = BYTE_TO_CHAR.slice();
  const merges: Array<[string, string]> = [];
  const stamp = new Int32Array(nWords).fill(-1);
  const add = (key: number, delta: number): void => {
    const c = (pairCount.get(key) ?? 0) + delta;
    if (c <= 0) pairCount.delete(key);
    else pairCount.set(key, c);
  };
  while (merges.length < totalMerges && heap.size > 0) {
    const c = heap.topCount;
    const key = heap.topKey;
    heap.pop();
    const cur = pairCount.get(key) ?? 0;
    if (cur !== c) {
      // Stale entry: its count dropped since it was pushed; requeue at the current count.
      if (cur > 0) heap.push(cur, key);
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(key / SHIFT);
    const b = key - a * SHIFT;
    const z = vocab.length;
    vocab.push(vocab[a]! + vocab[b]!);
    merges.push([vocab[a]!, vocab[b]!]);
    const fresh = new Set<number>();
    for (const wi of where.get(key) ?? []) {
      if (stamp[wi] === z) continue;
      stamp[wi] = z;
      const s = words[wi]!;
      const n = lens[wi]!;
      const f = freq[wi]!;
      let j = 0;
      for (let i = 0; i < n; ) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          // Left neighbour: (old, a) becomes (new left, z). When the previous symbol was itself
          // just merged, old is b and new left is z: (b, a) -> (z, z).
          if (j > 0) {
            add(s[i - 1]! * SHIFT + a, -f);
            const k = s[j - 1]! * SHIFT + z;
            add(k, f);
            fresh.add(k);
            addWhere(k, wi);
          }
          // Right neighbour, unless it starts another occurrence (handled as that one's left).
          if (i + 2 < n && !(s[i + 2] === a && i + 3 < n && s[i + 3] === b)) {
            add(b * SHIFT + s[i + 2]!, -f);
            const k = z * SHIFT + s[i + 2]!;
            add(k, f);
            fresh.add(k);
            addWhere(k, wi);
          }
          s[j++] = z;
          i += 2;
        } else {
          s[j++] = s[i++]!;
        }
      }
      lens[wi] = j;
    }
    pairCount.delete(key);
    where.delete(key);
    for (const k of fresh) {
      const fc = pairCount.get(k);
      if (fc !== undefined) heap.push(fc, k);
    }
    if (opts.onProgress && (merges.length % 256 === 0 || merges.length === totalMerges)) {
      opts.onProgress({ merges: merges.length, totalMerges, count: c });
    }
  }
  return Tokenizer.fromJSON(heedTokenizerJSON(vocab, merges, specials, pattern), 'trainBPE');
}
