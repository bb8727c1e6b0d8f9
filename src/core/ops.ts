// The engine's ops: each computes its forward through the active kernels (kernels.ts) and records
// what its gradient rule (grad.ts) needs. Shapes are in each op's doc comment; a shape error names
// the op and the shapes involved.
import { Tensor, sizeOf, shapeStr } from './tensor.js';
import { isGradEnabled, record } from './autograd.js';
import { K } from './kernels.js';
import { broadcastShapes, broadcastKind, broadcastIndex, permuteCopy } from './shape.js';
import type { Rng } from './rng.js';
import { denseWeight, isNF4, type NF4Weight } from './quant.js';
import { dequantQ8, isQ8, type Q8Weight } from './q8.js';
import { UNARY, type UnaryKind } from './unary.js';

export { UNARY, type UnaryKind };

/** Up to this many rows, linear reads f16/bf16/q8_0 weights as stored instead of widening them for GEMM. */
const DECODE_ROWS = 16;

function fail(op: string, msg: string): never { throw new Error(`heed: ${op}: ${msg}`); }

function needF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') fail(op, `expected f32 tensors, got ${t.dtype} ${shapeStr(t.shape)}`);
}

// ---------------------------------------------------------------- elementwise, broadcasting

type BinKind = 'add' | 'sub' | 'mul' | 'div' | 'minimum' | 'maximum';
const BIN: Record<BinKind, (a: number, b: number) => number> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
  minimum: (a, b) => (a <= b ? a : b), maximum: (a, b) => (a >= b ? a : b),
};

function binary(op: BinKind, a: Tensor, b: Tensor): Tensor {
  needF32(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape), n = sizeOf(shape);
  const out = new Float32Array(n), x = a.f32, y = b.f32, f = BIN[op];
  const ka = broadcastKind(shape, a.shape), kb = broadcastKind(shape, b.shape);
  if (ka === 'same' && kb === 'same') {
    if (op === 'add') K().vadd(x, y, out, n);
    else if (op === 'mul') for (let i = 0; i < n; i++) out[i] = x[i]! * y[i]!;
    else if (op === 'sub') for (let i = 0; i < n; i++) out[i] = x[i]! - y[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(x[i]!, y[i]!);
  } else if (ka === 'same' && (kb === 'scalar' || kb === 'suffix')) {
    const m = y.length;
    for (let o = 0; o < n; o += m) for (let i = 0; i < m; i++) out[o + i] = f(x[o + i]!, y[i]!);
  } else if (kb === 'same' && (ka === 'scalar' || ka === 'suffix')) {
    const m = x.length;
    for (let o = 0; o < n; o += m) for (let i = 0; i < m; i++) out[o + i] = f(x[i]!, y[o + i]!);
  } else {
    const ia = broadcastIndex(shape, a.shape), ib = broadcastIndex(shape, b.shape);
    for (let i = 0; i < n; i++) out[i] = f(x[ia[i]!]!, y[ib[i]!]!);
  }
  return record(new Tensor(out, shape), op, [a, b], {});
}

/** a + b (broadcasting). */
export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
/** a − b (broadcasting). */
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
/** a · b elementwise (broadcasting). */
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
/** a / b elementwise (broadcasting). */
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
/** elementwise min (broadcasting); the gradient goes to the smaller (a on ties). */
export const minimum = (a: Tensor, b: Tensor) => binary('minimum', a, b);
/** elementwise max (broadcasting); the gradient goes to the larger (a on ties). */
export const maximum = (a: Tensor, b: Tensor) => binary('maximum', a, b);

/** x · s for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  needF32('scale', x);
  const d = x.f32, out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! * s;
  return record(new Tensor(out, x.shape), 'scale', [x], { s });
}

/** x + s for a number s. */
export function addScalar(x: Tensor, s: number): Tensor {
  needF32('addScalar', x);
  const d = x.f32, out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! + s;
  return record(new Tensor(out, x.shape), 'addScalar', [x], {});
}

export const neg = (x: Tensor) => scale(x, -1);



function unary(op: UnaryKind, x: Tensor): Tensor {
  needF32(op, x);
  const d = x.f32, out = new Float32Array(d.length), f = UNARY[op].f;
  for (let i = 0; i < d.length; i++) out[i] = f(d[i]!);
  return record(new Tensor(out, x.shape), op, [x], {});
}

export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const logsigmoid = (x: Tensor) => unary('logsigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const relu = (x: Tensor) => unary('relu', x);
export const silu = (x: Tensor) => unary('silu', x);
export const square = (x: Tensor) => unary('square', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const abs = (x: Tensor) => unary('abs', x);

/** Clamps to [lo, hi]; gradient 1 inside, 0 where clamped (as torch.clamp). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  needF32('clamp', x);
  const d = x.f32, out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Math.min(hi, Math.max(lo, d[i]!));
  return record(new Tensor(out, x.shape), 'clamp', [x], { lo, hi });
}

// ---------------------------------------------------------------- reductions

function splitDim(op: string, shape: readonly number[], dim: number): [number, number, number, number] {
  const nd = shape.length, d = dim < 0 ? nd + dim : dim;
  if (d < 0 || d >= nd) fail(op, `dim ${dim} out of range for shape ${shapeStr(shape)}`);
  return [sizeOf(shape.slice(0, d)), shape[d]!, sizeOf(shape.slice(d + 1)), d];
}

/** Sum of all elements (dim undefined) or along one dim. */
export function sum(x: Tensor, dim?: number, keepdim = false): Tensor {
  needF32('sum', x);
  const d = x.f32;
  if (dim === undefined) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]!;
    return record(new Tensor(new Float32Array([s]), keepdim ? x.shape.map(() => 1) : []), 'sum', [x], { dim: null });
  }
  const [outer, n, inner, dd] = splitDim('sum', x.shape, dim);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) {
    const src = (o * n + j) * inner, dst = o * inner;
    for (let i = 0; i < inner; i++) out[dst + i] = out[dst + i]! + d[src + i]!;
  }
  const shape = [...x.shape];
  if (keepdim) shape[dd] = 1; else shape.splice(dd, 1);
  return record(new Tensor(out, shape), 'sum', [x], { dim: dd });
}

/** Mean of all elements or along one dim. */
export function mean(x: Tensor, dim?: number, keepdim = false): Tensor {
  const n = dim === undefined ? x.size : x.shape[dim < 0 ? x.ndim + dim : dim]!;
  return scale(sum(x, dim, keepdim), 1 / n);
}

// ---------------------------------------------------------------- shapes

/** Same storage, new shape (one dim may be −1). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape], neg1 = s.indexOf(-1);
  if (neg1 >= 0) s[neg1] = x.size / sizeOf(s.filter((_, i) => i !== neg1));
  if (sizeOf(s) !== x.size || !s.every((d) => Number.isInteger(d) && d >= 0)) fail('reshape', `cannot reshape ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  return record(new Tensor(x.data, s, x.dtype), 'reshape', [x], {});
}

/** Swaps two dims (copies). */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  needF32('transpose', x);
  const nd = x.ndim, a = d0 < 0 ? nd + d0 : d0, b = d1 < 0 ? nd + d1 : d1;
  if (a < 0 || b < 0 || a >= nd || b >= nd) fail('transpose', `dims ${d0}, ${d1} out of range for ${shapeStr(x.shape)}`);
  const [out, shape] = permuteCopy(x.f32, x.shape, a, b);
  return record(new Tensor(out, shape), 'transpose', [x], { a, b });
}

/** x[..., start:start+len, ...] along `dim` (shares storage when dim is the first non-1 dim). */
export function narrow(x: Tensor, dim: number, start: number, len: number): Tensor {
  const [outer, n, inner, d] = splitDim('narrow', x.shape, dim);
  if (start < 0 || len < 0 || start + len > n) fail('narrow', `range [${start}, ${start + len}) out of bounds for dim ${dim} of ${shapeStr(x.shape)}`);
  const shape = [...x.shape]; shape[d] = len;
  let data;
  if (outer === 1) data = x.data.subarray(start * inner, (start + len) * inner);
  else {
    const src = x.data;
    data = new (src.constructor as Float32ArrayConstructor)(outer * len * inner);
    for (let o = 0; o < outer; o++) data.set(src.subarray((o * n + start) * inner, (o * n + start + len) * inner) as Float32Array, o * len * inner);
  }
  return record(new Tensor(data, shape, x.dtype), 'narrow', [x], { outer, n, inner, start, len });
}

/** Concatenates along `dim`. */
export function concat(xs: Tensor[], dim: number): Tensor {
  if (xs.length === 0) fail('concat', 'no tensors');
  const first = xs[0]!, [outer, , inner, d] = splitDim('concat', first.shape, dim);
  let total = 0;
  for (const t of xs) {
    needF32('concat', t);
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) fail('concat', `shapes ${shapeStr(first.shape)} and ${shapeStr(t.shape)} differ outside dim ${dim}`);
    total += t.shape[d]!;
  }
  const out = new Float32Array(outer * total * inner), sizes = xs.map((t) => t.shape[d]!);
  let off = 0;
  for (let k = 0; k < xs.length; k++) {
    const src = xs[k]!.f32, n = sizes[k]!;
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * n * inner, (o + 1) * n * inner), (o * total + off) * inner);
    off += n;
  }
  const shape = [...first.shape]; shape[d] = total;
  return record(new Tensor(out, shape), 'concat', xs, { outer, inner, total, sizes });
}

/** Rows of a 2-D x (N, C) picked by idx → (len, C); the gradient scatter-adds back. */
export function selectRows(x: Tensor, idx: Int32Array | number[]): Tensor {
  needF32('selectRows', x);
  if (x.ndim !== 2) fail('selectRows', `expected a 2-D tensor, got ${shapeStr(x.shape)}`);
  const ids = idx instanceof Int32Array ? idx : Int32Array.from(idx), [N, C] = x.shape as [number, number];
  for (const i of ids) if (i < 0 || i >= N) fail('selectRows', `row ${i} out of range for ${shapeStr(x.shape)}`);
  const out = new Float32Array(ids.length * C);
  K().embeddingFwd(x.f32, ids, out, ids.length, C);
  return record(new Tensor(out, [ids.length, C]), 'selectRows', [x], { ids });
}

/** Sums of x's entries by group: x (n), group[i] in [0, G) → (G). The gradient broadcasts back. */
export function segmentSum(x: Tensor, group: Int32Array, G: number): Tensor {
  needF32('segmentSum', x);
  if (group.length !== x.size) fail('segmentSum', `${group.length} group ids for ${x.size} values`);
  const out = new Float32Array(G), d = x.f32;
  for (let i = 0; i < group.length; i++) {
    const g = group[i]!;
    if (!(g >= 0 && g < G)) fail('segmentSum', `group ${g} at ${i} is outside [0, ${G})`);
    out[g] = out[g]! + d[i]!;
  }
  return record(new Tensor(out, [G]), 'segmentSum', [x], { group });
}

// ---------------------------------------------------------------- matmul

/**
 * C = op(A)·op(B). a: (..., M, K) (stored (..., K, M) when transA); b: (K, N) shared across the batch,
 * or (..., K, N) with the same batch (stored transposed when transB). Out: (..., M, N).
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  needF32('matmul', a, b);
  if (a.ndim < 2 || b.ndim < 2) fail('matmul', `needs ≥2-D operands, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2) as [number, number], [br, bc] = b.shape.slice(-2) as [number, number];
  const M = transA ? ac : ar, Ka = transA ? ar : ac, Kb = transB ? bc : br, N = transB ? br : bc;
  const batch = sizeOf(a.shape.slice(0, -2)), bBatch = sizeOf(b.shape.slice(0, -2));
  if (Ka !== Kb || (bBatch !== 1 && bBatch !== batch) || (b.ndim > 2 && b.shape.slice(0, -2).join() !== a.shape.slice(0, -2).join()))
    fail('matmul', `shapes ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} and ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''} do not match`);
  const out = new Float32Array(batch * M * N), k = K();
  if (b.ndim === 2 && !transA) k.gemm(false, transB, batch * M, N, Ka, a.f32, 0, b.f32, 0, out, 0, 0, 1, 0, 0, 0);
  else k.gemm(transA, transB, M, N, Ka, a.f32, 0, b.f32, 0, out, 0, 0, batch, M * Ka, b.ndim === 2 ? 0 : Ka * N, M * N);
  return record(new Tensor(out, [...a.shape.slice(0, -2), M, N]), 'matmul', [a, b], { transA, transB, M, N, K: Ka, batch, shared: b.ndim === 2 });
}

/**
 * y = x·Wᵀ + bias. x: (..., in); w: (out, in): f32, or frozen in bf16/f16 or NF4 (QLoRA: dequantized
 * again in backward instead of kept, which is what makes it small); bias: (out) or null.
 * Out: (..., out).
 */
export function linear(x: Tensor, w: Tensor | NF4Weight | Q8Weight, bias: Tensor | null = null): Tensor {
  needF32('linear', x);
  const [O, I] = w.shape as [number, number];
  if (w.shape.length !== 2 || x.shape[x.ndim - 1] !== I) fail('linear', `input ${shapeStr(x.shape)} does not match weight ${shapeStr(w.shape)}`);
  checkBias(bias, w);
  const rows = x.size / I, out = new Float32Array(rows * O);
  if (isQ8(w)) {
    if (x.requiresGrad) fail('linear', 'q8_0 weights are for inference; no gradient flows through them');
    // Decoding (a few rows) reads the blocks as stored: the bytes of weights bound its speed.
    if (rows <= DECODE_ROWS) K().linearQ8(x.f32, w.blocks, out, rows, O, I);
    else K().gemm(false, true, rows, O, I, x.f32, 0, dequantQ8(w), 0, out, 0, 0, 1, 0, 0, 0);
    if (bias) K().addBias(out, bias.f32, rows, O);
    return record(new Tensor(out, [...x.shape.slice(0, -1), O]), 'linear', [x, ...(bias ? [bias] : [])], { w, rows, I, O });
  }
  // Half weights read as stored when no gradient is wanted (decoding); training keeps the widened GEMM.
  const decoding = rows <= DECODE_ROWS && !isNF4(w) && (!isGradEnabled() || (!x.requiresGrad && !w.requiresGrad));
  if (decoding && w.dtype !== 'f32') K().linearHalf(x.f32, w.data as Uint16Array, w.dtype === 'bf16', out, rows, O, I);
  // f32 too streams W once through the matrix-vector kernel (the LM head of a decode step)
  else if (decoding && w.dtype === 'f32') K().linearMulti(x.f32, [w.f32], 0, [out], rows, I);
  else K().gemm(false, true, rows, O, I, x.f32, 0, denseWeight(w), 0, out, 0, 0, 1, 0, 0, 0);
  if (bias) K().addBias(out, bias.f32, rows, O);
  const inputs = [x, ...(isNF4(w) ? [] : [w]), ...(bias ? [bias] : [])];
  return record(new Tensor(out, [...x.shape.slice(0, -1), O]), 'linear', inputs, { w, rows, I, O });
}

function checkBias(bias: Tensor | null, w: Tensor | NF4Weight | Q8Weight): void {
  if (bias && bias.size !== w.shape[0]) fail('linear', `bias ${shapeStr(bias.shape)} does not match weight ${shapeStr(w.shape)}`);
}

/** How the decode kernels (linearMulti, decodeLayer) read a weight: 0 f32, 1 f16, 2 bf16, 3 q8_0; −1 they cannot. */
export function storageKind(w: Tensor | NF4Weight | Q8Weight): 0 | 1 | 2 | 3 | -1 {
  return isQ8(w) ? 3 : isNF4(w) ? -1 : w.dtype === 'f32' ? 0 : w.dtype === 'f16' ? 1 : w.dtype === 'bf16' ? 2 : -1;
}

/**
 * Several linears on one input, [x·W_iᵀ + b_i]: decoding's q/k/v and gate/up. With no gradient to
 * record, a few rows and weights stored alike (f32, f16, bf16 or q8_0), one kernel call runs them all
 * (one pass of the threads over every W); otherwise each is a linear() of its own.
 */
export function linears(x: Tensor, ws: ReadonlyArray<Tensor | NF4Weight | Q8Weight>, biases: ReadonlyArray<Tensor | null>): Tensor[] {
  const I = x.shape[x.ndim - 1]!, rows = x.size / I;
  const kind = storageKind(ws[0]!), noRecord = !isGradEnabled() || (!x.requiresGrad && ws.every((w) => isQ8(w) || !(w as Tensor).requiresGrad));
  const fused = ws.length > 1 && rows <= DECODE_ROWS && kind >= 0 && noRecord && x.dtype === 'f32'
    && ws.every((w) => storageKind(w) === kind && w.shape.length === 2 && w.shape[1] === I && (kind !== 3 || I % 32 === 0));
  if (!fused) return ws.map((w, i) => linear(x, w, biases[i] ?? null));
  const outs = ws.map((w) => new Float32Array(rows * w.shape[0]!));
  K().linearMulti(x.f32, ws.map((w) => (isQ8(w) ? w.blocks : (w as Tensor).data as Float32Array | Uint16Array)), kind as 0 | 1 | 2 | 3, outs, rows, I);
  return ws.map((w, i) => {
    const O = w.shape[0]!, b = biases[i] ?? null;
    if (b) {
      checkBias(b, w);
      K().addBias(outs[i]!, b.f32, rows, O);
    }
    return new Tensor(outs[i]!, [...x.shape.slice(0, -1), O]);
  });
}

// ---------------------------------------------------------------- embedding, norms, activations

/** table: (V, C); ids: i32 of any shape. Out: (...ids.shape, C). */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  needF32('embedding', table);
  const [V, C] = table.shape as [number, number], id = ids.i32;
  for (let i = 0; i < id.length; i++) if (id[i]! < 0 || id[i]! >= V) fail('embedding', `id ${id[i]} at position ${i} is outside the vocabulary of ${V}`);
  const out = new Float32Array(id.length * C);
  K().embeddingFwd(table.f32, id, out, id.length, C);
  return record(new Tensor(out, [...ids.shape, C]), 'embedding', [table], { ids: id, C });
}

/** LayerNorm over the last dim. x: (..., C); w, b: (C). */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor | null, eps = 1e-5): Tensor {
  needF32('layerNorm', x, w);
  const C = x.shape[x.ndim - 1]!, rows = x.size / C;
  if (w.size !== C || (b && b.size !== C)) fail('layerNorm', `input ${shapeStr(x.shape)} does not match weight ${shapeStr(w.shape)}`);
  const y = new Float32Array(x.size), mean = new Float32Array(rows), rstd = new Float32Array(rows);
  K().layernormFwd(x.f32, w.f32, b ? b.f32 : null, y, mean, rstd, rows, C, eps);
  return record(new Tensor(y, x.shape), 'layerNorm', b ? [x, w, b] : [x, w], { mean, rstd, rows, C });
}

/** RMSNorm over the last dim. x: (..., C); w: (C). */
export function rmsNorm(x: Tensor, w: Tensor, eps = 1e-5): Tensor {
  needF32('rmsNorm', x, w);
  const C = x.shape[x.ndim - 1]!, rows = x.size / C;
  if (w.size !== C) fail('rmsNorm', `input ${shapeStr(x.shape)} does not match weight ${shapeStr(w.shape)}`);
  const y = new Float32Array(x.size), rstd = new Float32Array(rows);
  K().rmsnormFwd(x.f32, w.f32, y, rstd, rows, C, eps);
  return record(new Tensor(y, x.shape), 'rmsNorm', [x, w], { rstd, rows, C });
}

/** GELU, tanh approximation (GPT-2's gelu_new). */
export function gelu(x: Tensor): Tensor {
  needF32('gelu', x);
  const y = new Float32Array(x.size);
  K().geluFwd(x.f32, y, x.size);
  return record(new Tensor(y, x.shape), 'gelu', [x], {});
}

/** silu(gate) · up, elementwise (the SwiGLU MLP's gate). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  needF32('swiglu', gate, up);
  if (gate.size !== up.size) fail('swiglu', `gate ${shapeStr(gate.shape)} and up ${shapeStr(up.shape)} differ`);
  const y = new Float32Array(gate.size);
  K().swigluFwd(gate.f32, up.f32, y, gate.size);
  return record(new Tensor(y, gate.shape), 'swiglu', [gate, up], {});
}

// ---------------------------------------------------------------- RoPE and attention

/** cos/sin tables for rotary embeddings: (maxPos, D/2) each, inv_freq = θ^(−2i/D). */
export interface RopeCache { cos: Float32Array; sin: Float32Array; maxPos: number; D: number; theta: number }

export function ropeCache(D: number, maxPos: number, theta = 10000): RopeCache {
  const half = D >> 1, cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) {
    const inv = 1 / Math.pow(theta, (2 * i) / D), a = p * inv;
    cos[p * half + i] = Math.cos(a); sin[p * half + i] = Math.sin(a);
  }
  return { cos, sin, maxPos, D, theta };
}

/** Rotary embedding (rotate-half). x: (B, T, H, D); positions: (B·T) absolute positions. */
export function rope(x: Tensor, positions: Int32Array, cache: RopeCache): Tensor {
  needF32('rope', x);
  const [B, T, H, D] = x.shape as [number, number, number, number];
  if (x.ndim !== 4 || D !== cache.D || positions.length !== B * T) fail('rope', `x ${shapeStr(x.shape)}, ${positions.length} positions, table for D=${cache.D}`);
  for (const p of positions) if (p < 0 || p >= cache.maxPos) fail('rope', `position ${p} outside the table (max ${cache.maxPos})`);
  const y = new Float32Array(x.size);
  K().rope(x.f32, y, B * T, H, D, positions, cache.cos, cache.sin, false);
  return record(new Tensor(y, x.shape), 'rope', [x], { positions, cache, H, D });
}

export interface AttentionOptions {
  /** absolute position of the first query (KV cache); default Tk − T */
  qOffset?: number;
  /** (B, Tk): 1 = real token, 0 = padding */
  keyMask?: Uint8Array | null;
  /** (B, T): query t sees only keys j ≥ keyStart[b·T + t] (block-diagonal attention over packed sequences) */
  keyStart?: Int32Array | null;
  scale?: number;
}

/**
 * Causal grouped-query attention. q: (B, T, H, D); k, v: (B, Tk, Hkv, D). Out: (B, T, H, D).
 * Query t sees keys j ≤ qOffset + t.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  needF32('attention', q, k, v);
  const [B, T, H, D] = q.shape as [number, number, number, number], [Bk, Tk, Hkv, Dk] = k.shape as [number, number, number, number];
  if (q.ndim !== 4 || k.ndim !== 4 || Bk !== B || Dk !== D || H % Hkv !== 0 || v.shape.join() !== k.shape.join())
    fail('attention', `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} do not fit (B,T,H,D)/(B,Tk,Hkv,D) with H divisible by Hkv`);
  const qOffset = opts.qOffset ?? Tk - T, scale = opts.scale ?? 1 / Math.sqrt(D), mask = opts.keyMask ?? null;
  if (mask && mask.length !== B * Tk) fail('attention', `keyMask has ${mask.length} entries, expected B·Tk = ${B * Tk}`);
  const ks = opts.keyStart ?? null;
  if (ks && ks.length !== B * T) fail('attention', `keyStart has ${ks.length} entries, expected B·T = ${B * T}`);
  const out = new Float32Array(q.size), lse = new Float32Array(B * H * T);
  K().attentionFwd(q.f32, k.f32, v.f32, out, lse, B, T, Tk, H, Hkv, D, qOffset, scale, mask, ks);
  return record(new Tensor(out, q.shape), 'attention', [q, k, v], { out, lse, B, T, Tk, H, Hkv, D, qOffset, scale, mask, ks });
}

// ---------------------------------------------------------------- softmax and losses

/** Softmax over the last dim. */
export function softmax(x: Tensor): Tensor {
  needF32('softmax', x);
  const C = x.shape[x.ndim - 1]!, y = new Float32Array(x.size);
  K().softmax(x.f32, y, x.size / C, C);
  return record(new Tensor(y, x.shape), 'softmax', [x], { y, C });
}

/** Log-softmax over the last dim. */
export function logSoftmax(x: Tensor): Tensor {
  needF32('logSoftmax', x);
  const C = x.shape[x.ndim - 1]!, y = new Float32Array(x.size);
  K().logSoftmax(x.f32, y, x.size / C, C);
  return record(new Tensor(y, x.shape), 'logSoftmax', [x], { y, C });
}

function targetsOf(op: string, logits: Tensor, targets: Tensor | Int32Array): [Int32Array, number, number] {
  needF32(op, logits);
  const V = logits.shape[logits.ndim - 1]!, rows = logits.size / V;
  const t = targets instanceof Int32Array ? targets : targets.i32;
  if (t.length !== rows) fail(op, `logits ${shapeStr(logits.shape)} have ${rows} rows but there are ${t.length} targets`);
  for (let i = 0; i < t.length; i++) if (t[i]! >= V) fail(op, `target ${t[i]} at row ${i} is outside the vocabulary of ${V}`);
  return [t, rows, V];
}

/**
 * Fused cross-entropy. logits: (..., V); targets: (rows) with −100 (any negative) = ignored.
 * Returns Σ loss / normalizer, normalizer defaulting to the number of unmasked targets (so the
 * mean); pass the token count of a whole accumulated batch to normalise across micro-batches.
 */
export function crossEntropy(logits: Tensor, targets: Tensor | Int32Array, normalizer?: number): Tensor {
  const [t, rows, V] = targetsOf('crossEntropy', logits, targets);
  const loss = new Float32Array(rows), lse = new Float32Array(rows);
  const count = K().crossEntropyFwd(logits.f32, t, loss, lse, rows, V);
  const norm = normalizer ?? Math.max(count, 1);
  let s = 0;
  for (let i = 0; i < rows; i++) s += loss[i]!;
  return record(new Tensor(new Float32Array([s / norm]), []), 'crossEntropy', [logits], { t, lse, rows, V, norm, count });
}

/** log p(target) for each row: (rows); ignored targets (negative) give 0. For PPO and DPO. */
export function tokenLogprobs(logits: Tensor, targets: Tensor | Int32Array): Tensor {
  const [t, rows, V] = targetsOf('tokenLogprobs', logits, targets);
  const loss = new Float32Array(rows), lse = new Float32Array(rows);
  K().crossEntropyFwd(logits.f32, t, loss, lse, rows, V);
  for (let i = 0; i < rows; i++) loss[i] = -loss[i]!;
  return record(new Tensor(loss, [rows]), 'tokenLogprobs', [logits], { t, lse, rows, V });
}

// ---------------------------------------------------------------- dropout

/** A keep-mask for dropout: one draw from `rng` seeds an inline xorshift32, so the mask is
 * reproducible without a method call per element. */
function dropoutMask(n: number, p: number, rng: Rng): Uint8Array {
  const mask = new Uint8Array(n), cut = Math.floor(p * 4294967296);
  let st = rng.u32() | 1;
  for (let i = 0; i < n; i++) {
    st ^= st << 13; st ^= st >>> 17; st ^= st << 5;
    if ((st >>> 0) >= cut) mask[i] = 1;
  }
  return mask;
}

/** Inverted dropout with a seeded mask; identity when p = 0 or not training. */
export function dropout(x: Tensor, p: number, rng: Rng, training = true): Tensor {
  if (p <= 0 || !training) return x;
  needF32('dropout', x);
  const d = x.f32, out = new Float32Array(d.length), mask = dropoutMask(d.length, p, rng), s = 1 / (1 - p);
  for (let i = 0; i < d.length; i++) if (mask[i]) out[i] = d[i]! * s;
  return record(new Tensor(out, x.shape), 'dropout', [x], { mask, s });
}

/**
 * A LoRA linear, fused: y = x·Wᵀ + bias + s·(drop(x)·Aᵀ)·Bᵀ with W frozen (f32, bf16/f16 or NF4).
 * x: (..., in); W: (out, in); A: (r, in); B: (out, r). One output buffer; only the small
 * u = s·drop(x)·Aᵀ (rows, r) is kept for backward (and the dropout mask, when there is one), so an
 * adapter costs almost no activation memory beyond the layer it wraps.
 */
export function loraLinear(x: Tensor, w: Tensor | NF4Weight, bias: Tensor | null, A: Tensor, B: Tensor, s: number, p = 0, rng: Rng | null = null, training = false): Tensor {
  needF32('loraLinear', x, A, B);
  const [O, I] = w.shape as [number, number], r = A.shape[0]!;
  if (x.shape[x.ndim - 1] !== I || A.shape[1] !== I || B.shape[0] !== O || B.shape[1] !== r)
    fail('loraLinear', `input ${shapeStr(x.shape)}, weight ${shapeStr(w.shape)}, A ${shapeStr(A.shape)}, B ${shapeStr(B.shape)} do not fit`);
  if (w instanceof Tensor && w.requiresGrad) fail('loraLinear', 'the base weight must be frozen');
  const k = K(), rows = x.size / I, out = new Float32Array(rows * O);
  k.gemm(false, true, rows, O, I, x.f32, 0, denseWeight(w), 0, out, 0, 0, 1, 0, 0, 0);
  if (bias) k.addBias(out, bias.f32, rows, O);
  let xd = x.f32, mask: Uint8Array | null = null;
  if (p > 0 && training && rng) {
    mask = dropoutMask(x.size, p, rng);
    const src = x.f32, keep = 1 / (1 - p);
    xd = new Float32Array(x.size);
    for (let i = 0; i < xd.length; i++) if (mask[i]) xd[i] = src[i]! * keep;
  }
  const u = new Float32Array(rows * r);
  k.gemm(false, true, rows, r, I, xd, 0, A.f32, 0, u, 0, 0, 1, 0, 0, 0);
  for (let i = 0; i < u.length; i++) u[i] = u[i]! * s;
  k.gemm(false, true, rows, O, r, u, 0, B.f32, 0, out, 0, 1, 1, 0, 0, 0);
  return record(new Tensor(out, [...x.shape.slice(0, -1), O]), 'loraLinear', bias ? [x, A, B, bias] : [x, A, B],
    { w, xd: mask ? xd : null, mask, keep: 1 / (1 - p), u, s, rows, I, O, r });
}
