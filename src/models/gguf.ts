// The GGUF v3 container (llama.cpp's model file): typed metadata, tensor infos and 32-byte aligned
// tensor data, with f32, f16, bf16 and q8_0 tensors encoded as ggml lays them out.
import { toHalfBits } from '../core/kernels.js';
import { Q8_0_BLOCK, Q8_0_BYTES, quantizeQ8_0 } from '../core/q8.js';
import { writeFileAtomic } from '../util/atomic.js';

/** The tensor element types heed writes. */
export type GgufTensorType = 'f32' | 'f16' | 'bf16' | 'q8_0';

/** ggml_type ids (ggml.h). */
export const GGML_TYPE: Readonly<Record<GgufTensorType, number>> = { f32: 0, f16: 1, q8_0: 8, bf16: 30 };

/** llama_ftype ids (llama.h) for general.file_type: what most tensors of a file are. */
export const LLAMA_FTYPE: Readonly<Record<GgufTensorType, number>> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

export { Q8_0_BLOCK, quantizeQ8_0 };

/** GGUF metadata value types (gguf.h). */
const VT = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

/** One metadata value, tagged with its GGUF type (a JS number alone does not say u32 or f32). */
export type GgufValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: 'string'; value: readonly string[] }
  | { type: 'array'; of: 'i32' | 'u32' | 'f32'; value: ArrayLike<number> };

export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });

export interface GgufTensor {
  name: string;
  /** Row-major shape as PyTorch and safetensors give it; GGUF stores it reversed (ne[0] innermost). */
  shape: readonly number[];
  type: GgufTensorType;
  /** Encoded bytes (see encodeTensor). */
  data: Uint8Array;
}

const ALIGNMENT = 32;

/** Byte writer that grows as needed (the header holds the vocabulary: megabytes for big ones). */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): void { this.room(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  i32(v: number): void { this.room(4); this.view.setInt32(this.len, v, true); this.len += 4; }
  f32(v: number): void { this.room(4); this.view.setFloat32(this.len, v, true); this.len += 4; }
  u64(v: number): void { this.room(8); this.view.setBigUint64(this.len, BigInt(v), true); this.len += 8; }
  u8(v: number): void { this.room(1); this.buf[this.len++] = v; }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  pad(to: number): void { const n = (to - (this.len % to)) % to; this.room(n); this.len += n; }
  bytes(): Uint8Array { return this.buf.subarray(0, this.len); }
}

function writeValue(b: Bytes, key: string, v: GgufValue): void {
  const num = (t: 'u32' | 'i32' | 'f32' | 'u64', x: number): void => {
    if (!Number.isFinite(x)) throw new Error(`gguf: metadata "${key}" is not a finite number (${x})`);
    if (t !== 'f32' && (!Number.isInteger(x) || (t !== 'i32' && x < 0))) throw new Error(`gguf: metadata "${key}" must be a ${t}, got ${x}`);
    if (t === 'u32') b.u32(x); else if (t === 'i32') b.i32(x); else if (t === 'f32') b.f32(x); else b.u64(x);
  };
  switch (v.type) {
    case 'u32': case 'i32': case 'f32': case 'u64': b.u32(VT[v.type]); num(v.type, v.value); return;
    case 'bool': b.u32(VT.bool); b.u8(v.value ? 1 : 0); return;
    case 'string': b.u32(VT.string); b.string(v.value); return;
    case 'array':
      b.u32(VT.array);
      b.u32(VT[v.of]);
      b.u64(v.value.length);
      if (v.of === 'string') for (const s of v.value as readonly string[]) b.string(s);
      else for (let i = 0; i < v.value.length; i++) num(v.of, (v.value as ArrayLike<number>)[i]!);
  }
}

/** Bytes per tensor of `shape` stored as `type`. */
export function tensorBytes(shape: readonly number[], type: GgufTensorType): number {
  const n = shape.reduce((a, d) => a * d, 1);
  if (type === 'q8_0') return (n / Q8_0_BLOCK) * Q8_0_BYTES;
  return n * (type === 'f32' ? 4 : 2);
}

/** Encodes f32 values as `type`. The result may share memory with `src` for f32. */
export function encodeTensor(src: Float32Array, type: GgufTensorType): Uint8Array {
  switch (type) {
    case 'f32': return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
    case 'f16': { const h = toHalfBits(src, false); return new Uint8Array(h.buffer); }
    case 'bf16': { const h = toHalfBits(src, true); return new Uint8Array(h.buffer); }
    case 'q8_0': return quantizeQ8_0(src);
  }
}

/**
 * The GGUF file as a list of byte chunks: header, metadata, tensor infos, then each tensor's data at
 * a 32-byte aligned offset. Chunks are written in order without concatenating the tensors.
 */
export function encodeGguf(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): Uint8Array[] {
  const h = new Bytes();
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(tensors.length);
  h.u64(metadata.length);
  const seen = new Set<string>();
  for (const [key, v] of metadata) {
    if (seen.has(key)) throw new Error(`gguf: metadata key "${key}" written twice`);
    seen.add(key);
    h.string(key);
    writeValue(h, key, v);
  }
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`gguf: tensor "${t.name}" written twice`);
    names.add(t.name);
    if (t.type === 'q8_0' && t.shape[t.shape.length - 1]! % Q8_0_BLOCK !== 0) {
      throw new Error(`gguf: tensor "${t.name}" [${t.shape}] cannot be q8_0: its rows are not a multiple of ${Q8_0_BLOCK}`);
    }
    const want = tensorBytes(t.shape, t.type);
    if (t.data.byteLength !== want) throw new Error(`gguf: tensor "${t.name}" [${t.shape}] ${t.type} needs ${want} bytes, got ${t.data.byteLength}`);
    h.string(t.name);
    h.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) h.u64(t.shape[i]!);
    h.u32(GGML_TYPE[t.type]);
    h.u64(offset);
    offset += Math.ceil(want / ALIGNMENT) * ALIGNMENT;
  }
  h.pad(ALIGNMENT);
  const chunks: Uint8Array[] = [h.bytes()];
  for (const t of tensors) {
    chunks.push(t.data);
    const pad = (ALIGNMENT - (t.data.byteLength % ALIGNMENT)) % ALIGNMENT;
    if (pad) chunks.push(new Uint8Array(pad));
  }
  return chunks;
}

/** Writes a GGUF file atomically (temporary name, fsync, rename). */
export function writeGguf(path: string, metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): void {
  writeFileAtomic(path, encodeGguf(metadata, tensors));
}
