// Strict text reading: BOM dropped, invalid UTF-8 located by byte and line (the invalid sequences
// are the WHATWG decoder's), missing files and folders named, JSON errors located.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeText, firstInvalidUtf8, parseJson, readJson, readJsonObject, readText } from '../../src/util/text.js';

const dir = mkdtempSync(join(tmpdir(), 'heed-text-'));
const file = (name: string, data: string | Uint8Array) => { const p = join(dir, name); writeFileSync(p, data); return p; };

test('a BOM is dropped and the text is otherwise unchanged', () => {
  assert.equal(readText(file('bom.txt', '\uFEFFcafé\r\n')), 'café\r\n');
  assert.equal(readText(file('plain.txt', 'x')), 'x');
  assert.deepEqual(readJson(file('bom.json', '\uFEFF{"a": 1}')), { a: 1 });
});

test('invalid UTF-8 names the byte and line of the first bad sequence', () => {
  const bad = Buffer.concat([Buffer.from('ok\nline two caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]);
  assert.throws(() => readText(file('latin1.txt', bad)), /latin1\.txt: not valid UTF-8: byte 15 \(0xe9\), line 2$/);
  assert.throws(() => decodeText(Uint8Array.from([0xc3]), 'stdin'), /^Error: stdin: not valid UTF-8: byte 0 \(0xc3\), line 1$/);
});

test('firstInvalidUtf8 agrees with the fatal decoder on every edge case', () => {
  const cases: number[][] = [
    [0x41], [0xc2, 0x80], [0xc1, 0xbf], [0xe0, 0x9f, 0x80], [0xe0, 0xa0, 0x80], [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf],
    [0xf0, 0x8f, 0x80, 0x80], [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80],
    [0xff], [0x80], [0xe2, 0x82], [0x41, 0xe2, 0x82, 0xac, 0x42], [0xf0, 0x9f, 0x98, 0x80],
  ];
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (const c of cases) {
    const b = Uint8Array.from(c);
    let valid = true;
    try { dec.decode(b); } catch { valid = false; }
    assert.equal(firstInvalidUtf8(b) === -1, valid, c.map((x) => x.toString(16)).join(' '));
  }
  assert.equal(firstInvalidUtf8(Uint8Array.from([0x41, 0xe2, 0x82, 0x41])), 1);
});

test('a missing file and a folder are named', () => {
  assert.throws(() => readText(join(dir, 'nope.txt')), /nope\.txt: no such file$/);
  assert.throws(() => readText(dir), /: is a folder, expected a file$/);
  assert.throws(() => readText(join(file('f', 'x'), 'child')), /child: no such file \(a parent is not a folder\)$/);
});

test('JSON syntax errors give the line and column', () => {
  assert.throws(() => parseJson('{\n  "a": 1,\n}', 'c.json'), /^Error: c\.json: not valid JSON at line 3, column 1 \(/);
  assert.throws(() => parseJson('  \n', 'e.json'), /e\.json: not valid JSON \(the file is empty\)/);
  assert.throws(() => parseJson('{"a": 1', 't.json'), /t\.json: not valid JSON/);
  assert.throws(() => readJsonObject(file('arr.json', '[1]')), /arr\.json: expected a JSON object, got an array/);
  assert.deepEqual(readJsonObject(file('obj.json', '{"b": [true]}')), { b: [true] });
});

test('an unexpected token, which V8 reports without a position, is located too', () => {
  assert.throws(() => parseJson('{\n  "eos_token": }', 'tc.json'), /^Error: tc\.json: not valid JSON at line 2, column 16 \(Unexpected token '\}'\)$/);
  assert.throws(() => parseJson('{"a": tru}', 'x.json'), /x\.json: not valid JSON at line 1, column 10/);
  assert.throws(() => parseJson('{"a": 1} x', 'y.json'), /y\.json: not valid JSON at line 1, column 10 \(Unexpected non-whitespace character after JSON\)/);
});
