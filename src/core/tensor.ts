// Tensor: a shape, a dtype and JS-owned typed-array storage (so the garbage collector frees it),
// plus the autograd fields. Tensors are contiguous; reshape and narrow on the first dim share
// storage, other layout changes copy (matmul takes transpose flags instead of strided views).
import type { Rng } from './rng.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'i32';
export type Storage = Float32Array | Uint16Array | Int32Array;

/** One recorded op on the tape: which rule, its inputs and what the rule needs from the forward. */
export interface Node {
  op: string;
  inputs: Tensor[];
  saved: Record<string, unknown> | null;
  freed: boolean;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string { return `[${shape.join(', ')}]`; }

function alloc(dtype: DType, n: number): Storage {
  if (dtype === 'f32') return new Float32Array(n);
  if (dtype === 'i32') return new Int32Array(n);
  return new Uint16Array(n);
}

export class Tensor {
  data: Storage;
  shape: number[];
  dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: Node | null = null;
  name: string | undefined;

  constructor(data: Storage, shape: readonly number[], dtype?: DType) {
    const n = sizeOf(shape);
    if (data.length !== n) throw new Error(`heed: tensor storage has ${data.length} elements but shape ${shapeStr(shape)} needs ${n}`);
    this.data = data;
    this.shape = [...shape];
    this.dtype = dtype ?? (data instanceof Float32Array ? 'f32' : data instanceof Int32Array ? 'i32' : 'bf16');
  }

  get size(): number { return this.data.length; }
  get ndim(): number { return this.shape.length; }

  /** The f32 storage; throws for other dtypes. */
  get f32(): Float32Array {
    if (!(this.data instanceof Float32Array)) throw new Error(`heed: expected an f32 tensor, got ${this.dtype}`);
    return this.data;
  }

  /** The i32 storage; throws for other dtypes. */
  get i32(): Int32Array {
    if (!(this.data instanceof Int32Array)) throw new Error(`heed: expected an i32 tensor, got ${this.dtype}`);
    return this.data;
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor { return new Tensor(alloc(dtype, sizeOf(shape)), shape, dtype); }

  static full(shape: readonly number[], value: number): Tensor {
    const t = Tensor.zeros(shape);
    t.f32.fill(value);
    return t;
  }

  static ones(shape: readonly number[]): Tensor { return Tensor.full(shape, 1); }

  static from(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length], 'f32');
  }

  static ints(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
    return new Tensor(Int32Array.from(values), shape ?? [values.length], 'i32');
  }

  static randn(shape: readonly number[], rng: Rng, std = 1): Tensor {
    const t = Tensor.zeros(shape), d = t.f32;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    return t;
  }

  static uniform(shape: readonly number[], rng: Rng, lo: number, hi: number): Tensor {
    const t = Tensor.zeros(shape), d = t.f32;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.uniform();
    return t;
  }

  /** A trainable leaf (sets requiresGrad). */
  param(): this { this.requiresGrad = true; return this; }

  item(): number {
    if (this.size !== 1) throw new Error(`heed: item() needs a tensor with one element, got shape ${shapeStr(this.shape)}`);
    return this.data[0]!;
  }

  toArray(): number[] { return Array.from(this.data); }

  /** A new leaf sharing this storage, outside the graph. */
  detach(): Tensor { return new Tensor(this.data, this.shape, this.dtype); }

  /** A new leaf with its own copy of the storage. */
  clone(): Tensor { return new Tensor(this.data.slice() as Storage, this.shape, this.dtype); }

  toString(): string { return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', grad' : ''})`; }
}
