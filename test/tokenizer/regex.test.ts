// The HF (Oniguruma) -> JavaScript regex translation, on the splits where off-by-one whitespace
// handling and case-insensitive groups usually go wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT2_PATTERN, QWEN2_PATTERN, translatePattern } from '../../src/tokenizer/index.js';

function split(pattern: string, s: string): string[] {
  const { source, flags } = translatePattern(pattern, 'test');
  return s.match(new RegExp(source, flags)) ?? [];
}

test('Qwen2/GPT-4 pattern: whitespace runs leave their last space to the next word', () => {
  assert.deepEqual(split(QWEN2_PATTERN, 'a  b'), ['a', ' ', ' b']);
  assert.deepEqual(split(QWEN2_PATTERN, 'a   b  '), ['a', '  ', ' b', '  ']);
  assert.deepEqual(split(QWEN2_PATTERN, 'x\n\n  y'), ['x', '\n\n', ' ', ' y']);
  assert.deepEqual(split(QWEN2_PATTERN, 'end.\n'), ['end', '.\n']);
  assert.deepEqual(split(QWEN2_PATTERN, '\tfoo'), ['\tfoo']);
  assert.deepEqual(split(QWEN2_PATTERN, ' \t\n x'), [' \t\n', ' x']);
  assert.deepEqual(split(QWEN2_PATTERN, 'year 2024!'), ['year', ' ', '2', '0', '2', '4', '!']);
});

test('(?i:...) contractions match in any case; other letters stay case-sensitive', () => {
  assert.deepEqual(split(QWEN2_PATTERN, "I'LL we'Re DON'T"), ['I', "'LL", ' we', "'Re", ' DON', "'T"]);
  const { source, flags } = translatePattern("(?i:'s)|x", 'test');
  assert.equal(flags, 'gu');
  assert.ok(!new RegExp(source, flags).test('X'));
});

test('\\s means Unicode White_Space, as in Oniguruma (not JavaScript\'s \\s)', () => {
  // U+0085 (NEL) is White_Space; U+FEFF (BOM) is not, though JavaScript's \s includes it.
  assert.deepEqual(split('\\s+', 'a\u0085b\ufeffc\u3000d'), ['\u0085', '\u3000']);
  assert.deepEqual(split('\\d+', '12\u0663x'), ['12\u0663']);
});

test('GPT-2 pattern is unchanged in meaning', () => {
  assert.deepEqual(split(GPT2_PATTERN, "Hello  world's 42!!"), ['Hello', ' ', ' world', "'s", ' 42', '!!']);
});

test('unsupported syntax is named in the error', () => {
  assert.throws(() => translatePattern('a++', 'pre_tokenizer.pattern.Regex'), /pre_tokenizer\.pattern\.Regex: .*possessive/);
  assert.throws(() => translatePattern('[[:alpha:]]', 'f'), /nested character class/);
  assert.throws(() => translatePattern('\\p{NoSuchProperty}', 'f'), /Unicode property/);
  assert.equal(translatePattern('\\x{1F600}\\-\\/', 'f').source, '\\u{1F600}-\\/');
});
