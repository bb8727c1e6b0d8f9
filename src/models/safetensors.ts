// The safetensors format (https://github.com/huggingface/safetensors): read with the reference
// implementation's full header validation, write byte-for-byte as the Python library does, and read
// a Hugging Face model folder's single or sharded checkpoint.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import { K, fromHalfBits, toHalfBits } from '../core/kernels.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readJson } from '../util/text.js';

export type SafeDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8' | 'I8' | 'F64' | 'BOOL';
export type TensorArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Float64Array;

/** One tensor as stored on disk. F16/BF16 are kept as raw bit patterns in a Uint16Array. */
export interface TensorData {
  dtype: SafeDType;
  shape: number[];
  data: TensorArray;
}

export interface SafetensorsFile {
  tensors: Map<string, TensorData>;
  /** The header's `__metadata__` (string → string); empty when the file has none. */
  metadata: Record<string, string>;
}

interface DTypeInfo { size: number; make: (buf: ArrayBuffer, off: number, n: number) => TensorArray; ctor: Function }

const DTYPES: Record<SafeDType, DTypeInfo> = {
  F64: { size: 8, make: (b, o, n) => new Float64Array(b, o, n), ctor: Float64Array },
  I64: { size: 8, make: (b, o, n) => new BigInt64Array(b, o, n), ctor: BigInt64Array },
  F32: { size: 4, make: (b, o, n) => new Float32Array(b, o, n), ctor: Float32Array },
  I32: { size: 4, make: (b, o, n) => new Int32Array(b, o, n), ctor: Int32Array },
  BF16: { size: 2, make: (b, o, n) => new Uint16Array(b, o, n), ctor: Uint16Array },
  F16: { size: 2, make: (b, o, n) => new Uint16Array(b, o, n), ctor: Uint16Array },
  I8: { size: 1, make: (b, o, n) => new Int8Array(b, o, n), ctor: Int8Array },
  U8: { size: 1, make: (b, o, n) => new Uint8Array(b, o, n), ctor: Uint8Array },
  BOOL: { size: 1, make: (b, o, n) => new Uint8Array(b, o, n), ctor: Uint8Array },
};

// The Rust library orders tensors on write by this rank (its Dtype enum order, descending), then by
// name: larger elements first keeps every tensor aligned to its element size. We match it so a
// file heed writes is byte-identical to the one `safetensors.torch.save_file` would write.
const RUST_DTYPE_RANK: Record<SafeDType, number> = { BOOL: 0, U8: 1, I8: 2, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13 };

// The reference implementation refuses headers above 100 MB; so do we, before allocating anything.
const MAX_HEADER = 100_000_000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('safetensors: heed needs a little-endian platform');

export function isSafeDType(s: unknown): s is SafeDType {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

export function dtypeSize(dtype: SafeDType): number {
  return DTYPES[dtype].size;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Decode any floating dtype to a fresh-or-shared Float32Array (F32 data is returned as is). */
export function toF32(t: TensorData): Float32Array {
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array;
    case 'BF16': return fromHalfBits(t.data as Uint16Array, true);
    case 'F16': return fromHalfBits(t.data as Uint16Array, false);
    case 'F64': return Float32Array.from(t.data as Float64Array);
    case 'I32': case 'I8': case 'U8': case 'BOOL': return Float32Array.from(t.data as Int32Array);
    case 'I64': return Float32Array.from(t.data as BigInt64Array, (v) => Number(v));
  }
}

/** Re-encode a floating tensor as F32, BF16 or F16 (round-to-nearest-even). Same dtype → same object. */
export function castFloat(t: TensorData, dtype: 'F32' | 'BF16' | 'F16'): TensorData {
  if (t.dtype === dtype) return t;
  const f = toF32(t);
  const data = dtype === 'F32' ? (f === t.data ? f.slice() : f) : toHalfBits(f, dtype === 'BF16');
  return { dtype, shape: [...t.shape], data };
}

function fail(file: string, what: string): never {
  throw new Error(`${file}: invalid safetensors file: ${what}`);
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parse and validate a safetensors image. Tensors are zero-copy views into `bytes` when the offset
 * is aligned for the element type (always, for files written by the reference library) and copies
 * otherwise.
 */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  if (bytes.length < 8) fail(file, `only ${bytes.length} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(file, `header length ${n64} exceeds ${MAX_HEADER} bytes`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(file, `header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(file, 'header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__ value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (dtype === undefined) fail(file, `${where}: missing dtype`);
    if (!isSafeDType(dtype)) fail(file, `${where}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isDim)) fail(file, `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isDim)) fail(file, `${where}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) fail(file, `${where}: data_offsets [${begin}, ${end}] run past the data region (${dataLen} bytes)`);
    const want = numel(shape) * DTYPES[dtype].size;
    if (end - begin !== want) fail(file, `${where}: ${dtype} ${JSON.stringify(shape)} needs ${want} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    entries.push({ name, dtype, shape: [...shape], begin, end });
  }

  // As in the reference `validate`: sorted by offset, each tensor starts where the previous ended
  // and the last ends at the end of the file, so no byte is shared or unaccounted for.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const e of byOffset) {
    if (e.begin < cursor) fail(file, `tensor "${e.name}" (bytes ${e.begin}..${e.end}) overlaps tensor "${prev}" (ends at ${cursor})`);
    if (e.begin > cursor) fail(file, `gap of ${e.begin - cursor} bytes before tensor "${e.name}" (starts at ${e.begin}, previous data ends at ${cursor})`);
    cursor = e.end;
    prev = e.name;
  }
  if (cursor !== dataLen) fail(file, `data region is ${dataLen} bytes but tensors cover ${cursor}${prev ? ` (last: "${prev}")` : ''}`);

  const tensors = new Map<string, TensorData>();
  for (const e of entries) {
    const info = DTYPES[e.dtype];
    const count = (e.end - e.begin) / info.size;
    const abs = bytes.byteOffset + dataStart + e.begin;
    let data: TensorArray;
    if (abs % info.size === 0) data = info.make(bytes.buffer as ArrayBuffer, abs, count);
    else {
      const copy = bytes.slice(dataStart + e.begin, dataStart + e.end);
      data = info.make(copy.buffer, 0, count);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Read and validate a .safetensors file. Errors name the file and, where one is at fault, the tensor. */
export function readSafetensors(path: string): SafetensorsFile {
  // Read into a buffer we own (never Node's shared pool) so tensor views start at known alignment.
  let fd: number;
  try {
    fd = openSync(path, 'r');
    if (fstatSync(fd).isDirectory()) { closeSync(fd); throw new Error('EISDIR'); }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code})`}`);
  }
  let bytes: Uint8Array;
  try {
    const size = fstatSync(fd).size;
    bytes = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const got = readSync(fd, bytes, off, size - off, off);
      if (got === 0) break;
      off += got;
    }
    if (off < size) bytes = bytes.subarray(0, off);
  } finally {
    closeSync(fd);
  }
  return parseSafetensors(bytes, path);
}

/** Where a floating tensor holds NaN or ±Inf: the count and the first one; null when all are finite. */
export function nonFinite(t: TensorData): { count: number; index: number; value: number } | null {
  const d = t.data;
  let count = 0, index = -1;
  // exponent bits all ones ⇔ NaN or Inf, tested on the raw bits (no decoding of half precision)
  if (t.dtype === 'F32') [count, index] = K().nonFinite(new Uint32Array(d.buffer, d.byteOffset, d.length), 0x7f800000);
  else if (t.dtype === 'BF16') [count, index] = K().nonFinite(d as Uint16Array, 0x7f80);
  else if (t.dtype === 'F16') [count, index] = K().nonFinite(d as Uint16Array, 0x7c00);
  else if (t.dtype === 'F64') (d as Float64Array).forEach((v, i) => { if (!Number.isFinite(v)) { if (count++ === 0) index = i; } });
  if (count === 0) return null;
  const one = (d as Float32Array).subarray(index, index + 1) as TensorData['data'];
  return { count, index, value: toF32({ dtype: t.dtype, shape: [1], data: one })[0]! };
}

/**
 * Throws, naming `file` and the tensor, if any floating tensor holds NaN or ±Inf: weights like
 * that make a model that generates nothing, and they come from corrupt files or diverged runs.
 */
export function checkFinite(tensors: Map<string, TensorData>, file: string): void {
  for (const [name, t] of tensors) {
    const bad = nonFinite(t);
    if (!bad) continue;
    const what = Number.isNaN(bad.value) ? 'NaN' : bad.value > 0 ? 'Inf' : '-Inf';
    throw new Error(`${file}: tensor "${name}" holds ${what} at element ${bad.index}` +
      `${bad.count > 1 ? ` (${bad.count} non-finite values of ${t.data.length})` : ''}; the weights are corrupt or come from a run that diverged`);
  }
}

function checkTensor(name: string, t: TensorData): void {
  const where = `safetensors: tensor "${name}"`;
  if (name === '__metadata__') throw new Error(`${where}: the name is reserved`);
  if (!isSafeDType(t.dtype)) throw new Error(`${where}: unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every(isDim)) throw new Error(`${where}: bad shape ${JSON.stringify(t.shape)}`);
  const info = DTYPES[t.dtype];
  if (!(t.data instanceof (info.ctor as new () => TensorArray))) {
    throw new Error(`${where}: dtype ${t.dtype} needs a ${info.ctor.name}, got ${t.data.constructor.name}`);
  }
  if (t.data.length !== numel(t.shape)) {
    throw new Error(`${where}: shape ${JSON.stringify(t.shape)} has ${numel(t.shape)} elements but data has ${t.data.length}`);
  }
}

/** Serialise to the exact bytes the Python library writes (header parts + data views, no copies). */
export function encodeSafetensors(tensors: Map<string, TensorData>, metadata?: Record<string, string>): Uint8Array[] {
  const names = [...tensors.keys()];
  for (const name of names) checkTensor(name, tensors.get(name)!);
  names.sort((a, b) => {
    const d = RUST_DTYPE_RANK[tensors.get(b)!.dtype] - RUST_DTYPE_RANK[tensors.get(a)!.dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata value for "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let off = 0;
  const parts: Uint8Array[] = [];
  for (const name of names) {
    const t = tensors.get(name)!;
    const len = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + len] };
    parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, len));
    off += len;
  }
  let json = JSON.stringify(header);
  const raw = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (raw % 8)) % 8); // pad so the data region starts 8-byte aligned
  const hbytes = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  return [len, hbytes, ...parts];
}

/** Write a .safetensors file atomically. */
export function writeSafetensors(path: string, tensors: Map<string, TensorData>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Read a folder's checkpoint: `model.safetensors`, or `model.safetensors.index.json` and the shards
 * its weight_map names. A tensor the index lists but its shard lacks, a missing shard, a tensor
 * stored twice, or a NaN or infinite weight is an error.
 */
export function readSafetensorsFolder(dir: string): SafetensorsFile {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) {
    const f = readSafetensors(single);
    checkFinite(f.tensors, single);
    return f;
  }
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!existsSync(indexPath)) throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const index = readJson(indexPath);
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${indexPath}: missing "weight_map" object`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '..' || shard === '.') {
      throw new Error(`${indexPath}: weight_map["${name}"] = ${JSON.stringify(shard)} is not a file name in this folder`);
    }
    const list = shards.get(shard) ?? [];
    list.push(name);
    shards.set(shard, list);
  }
  const tensors = new Map<string, TensorData>();
  const metadata: Record<string, string> = {};
  const from = new Map<string, string>();
  for (const [shard, names] of [...shards].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const p = join(dir, shard);
    if (!existsSync(p)) throw new Error(`${indexPath}: shard "${shard}" (holding "${names[0]}") does not exist in ${dir}`);
    const f = readSafetensors(p);
    checkFinite(f.tensors, p);
    for (const name of names) {
      if (!f.tensors.has(name)) throw new Error(`${p}: tensor "${name}" listed in ${basename(indexPath)} is not in this shard`);
    }
    for (const [name, t] of f.tensors) {
      if (tensors.has(name)) throw new Error(`${p}: tensor "${name}" is also stored in ${from.get(name)}`);
      tensors.set(name, t);
      from.set(name, shard);
    }
    Object.assign(metadata, f.metadata);
  }
  return { tensors, metadata };
}
