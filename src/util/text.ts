// Strict reading of the text files users hand to heed (JSONL, JSON configs, recipes, tokenizer
// input): a UTF-8 BOM is dropped, invalid UTF-8 is an error naming the file, byte and line, and
// a missing file or a folder where a file belongs is an error naming the path.
import { readFileSync, statSync } from 'node:fs';

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Offset of the first byte that does not begin a well-formed UTF-8 sequence (WHATWG rules). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) { n = 2; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/**
 * Decodes UTF-8 bytes strictly; `name` labels errors (a path, or "stdin"). A leading BOM is
 * dropped: editors on Windows write one, and JSON.parse would report it as a bad token.
 */
export function decodeText(bytes: Uint8Array, name: string): string {
  try {
    return fatal.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    const hex = at >= 0 ? ` (0x${bytes[at]!.toString(16).padStart(2, '0')})` : '';
    throw new Error(`${name}: not valid UTF-8: byte ${at}${hex}, line ${line}`);
  }
}

/** Why `path` cannot be read as a file, in words; null when it can be tried. */
function fileProblem(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file';
    if (code === 'ENOTDIR') return 'no such file (a parent is not a folder)';
    if (code === 'EACCES') return 'permission denied';
    return `cannot read (${code ?? (e as Error).message})`;
  }
  return st.isDirectory() ? 'is a folder, expected a file' : null;
}

/** The bytes of a user's file, or an error naming it and saying why they cannot be read. */
export function readBytes(path: string): Uint8Array {
  const problem = fileProblem(path);
  if (problem) throw new Error(`${path}: ${problem}`);
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read (${code === 'EACCES' ? 'permission denied' : code ?? (e as Error).message})`);
  }
}

/** A user's text file: BOM dropped, invalid UTF-8 an error with its byte offset and line. */
export function readText(path: string): string {
  return decodeText(readBytes(path), path);
}

/**
 * Where JSON.parse first fails on `text`. V8 gives a position for most errors but not for an
 * unexpected token, so that one is found by bisection: a prefix is fine while it fails only for
 * ending too early.
 */
function jsonErrorOffset(text: string, message: string): number {
  const at = /at position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  const fine = (p: number): boolean => {
    try { JSON.parse(text.slice(0, p)); return true; } catch (e) {
      const m = (e as Error).message, pos = /at position (\d+)/.exec(m);
      return /end of JSON input/.test(m) || (pos !== null && Number(pos[1]) >= p);
    }
  };
  let lo = 0, hi = text.length;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (fine(mid)) lo = mid; else hi = mid; }
  return hi - 1;
}

/** `text` parsed as JSON; a syntax error names the file, line and column. */
export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (text.trim() === '') throw new Error(`${name}: not valid JSON (the file is empty)`);
    const msg = (e as Error).message;
    const at = jsonErrorOffset(text, msg);
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const col = at - before.lastIndexOf('\n');
    const what = msg.replace(/ at position \d+.*$/s, '').replace(/ in JSON$/, '').replace(/, ".*" is not valid JSON$/s, '');
    throw new Error(`${name}: not valid JSON at line ${line}, column ${col} (${what})`);
  }
}

/** A user's JSON file, read strictly (readText) and parsed with a located error. */
export function readJson(path: string): unknown {
  return parseJson(readText(path), path);
}

/** A user's JSON file that must hold an object. */
export function readJsonObject(path: string): Record<string, unknown> {
  const v = readJson(path);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`);
  return v as Record<string, unknown>;
}
