// Shape helpers: broadcasting (numpy rules), and reducing a broadcast gradient back to an input's shape.
import { shapeStr, sizeOf } from './tensor.js';

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`heed: ${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** For each element of `out`, the flat index into an input of shape `inp` broadcast to `out`. */
export function broadcastIndex(out: readonly number[], inp: readonly number[]): Int32Array {
  const n = sizeOf(out), idx = new Int32Array(n), nd = out.length;
  const strides = new Array<number>(nd).fill(0);
  let s = 1;
  for (let i = nd - 1; i >= 0; i--) {
    const d = inp[inp.length - nd + i] ?? 1;
    strides[i] = d === 1 ? 0 : s;
    s *= d;
  }
  const coord = new Array<number>(nd).fill(0);
  let cur = 0;
  for (let f = 0; f < n; f++) {
    idx[f] = cur;
    for (let d = nd - 1; d >= 0; d--) {
      coord[d]!++;
      cur += strides[d]!;
      if (coord[d]! < out[d]!) break;
      cur -= strides[d]! * out[d]!;
      coord[d] = 0;
    }
  }
  return idx;
}

/** How `inp` broadcasts against `out`: 'same', 'scalar', 'suffix' (inp equals out's trailing dims), or 'general'. */
export function broadcastKind(out: readonly number[], inp: readonly number[]): 'same' | 'scalar' | 'suffix' | 'general' {
  const n = sizeOf(inp);
  if (n === sizeOf(out)) return 'same';
  if (n === 1) return 'scalar';
  // trailing dims equal (ignoring leading 1s of inp)
  let k = inp.length;
  while (k > 0 && inp[inp.length - k] === 1) k--;
  const tail = inp.slice(inp.length - k);
  const otail = out.slice(out.length - k);
  if (tail.length === otail.length && tail.every((d, i) => d === otail[i])) return 'suffix';
  return 'general';
}

/** Sums a gradient of shape `out` down to shape `inp` (the transpose of broadcasting). */
export function reduceTo(g: Float32Array, out: readonly number[], inp: readonly number[]): Float32Array {
  const kind = broadcastKind(out, inp), n = sizeOf(inp);
  if (kind === 'same') return g;
  const r = new Float32Array(n);
  if (kind === 'scalar') {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i]!;
    r[0] = s;
  } else if (kind === 'suffix') {
    for (let o = 0; o < g.length; o += n) for (let i = 0; i < n; i++) r[i] = r[i]! + g[o + i]!;
  } else {
    const idx = broadcastIndex(out, inp);
    for (let i = 0; i < g.length; i++) r[idx[i]!] = r[idx[i]!]! + g[i]!;
  }
  return r;
}

/** A copy of src (shape) with dims d0 and d1 swapped; returns the data and the new shape. */
export function permuteCopy(src: Float32Array, shape: readonly number[], d0: number, d1: number): [Float32Array, number[]] {
  const nd = shape.length, out = new Float32Array(src.length), oshape = [...shape];
  oshape[d0] = shape[d1]!; oshape[d1] = shape[d0]!;
  const istr = new Array<number>(nd);
  let s = 1;
  for (let i = nd - 1; i >= 0; i--) { istr[i] = s; s *= shape[i]!; }
  const pstr = [...istr]; pstr[d0] = istr[d1]!; pstr[d1] = istr[d0]!;
  // iterate output in order; the last two dims in an inner loop for speed
  const coord = new Array<number>(nd).fill(0);
  let cur = 0;
  for (let f = 0; f < out.length; f++) {
    out[f] = src[cur]!;
    for (let d = nd - 1; d >= 0; d--) {
      coord[d]!++;
      cur += pstr[d]!;
      if (coord[d]! < oshape[d]!) break;
      cur -= pstr[d]! * oshape[d]!;
      coord[d] = 0;
    }
  }
  return [out, oshape];
}
