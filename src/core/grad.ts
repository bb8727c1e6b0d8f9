// Every gradient rule in one table, one entry per op (ops.ts records the op name and what it saved).
// A rule gets the node, the output's gradient g (flat Float32Array) and the output tensor, and
// returns one gradient per input (null where none is needed). A rule may hand g itself to at most
// one input; any other input gets its own array.
import type { Node, Tensor } from './tensor.js';
import { K } from './kernels.js';
import { reduceTo, broadcastKind, broadcastIndex, permuteCopy } from './shape.js';
import type { RopeCache } from './ops.js';
import { UNARY, type UnaryKind } from './unary.js';
import { denseWeight, isNF4 } from './quant.js';

type Rule = (node: Node, g: Float32Array, out: Tensor) => Array<Float32Array | null>;
type Saved = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const inp = (n: Node, i: number) => n.inputs[i]!;
const S = (n: Node): Saved => n.saved as Saved;
const owned = (g: Float32Array, give: boolean) => (give ? g : g.slice());

function unaryRule(kind: UnaryKind): Rule {
  const df = UNARY[kind].df;
  return (n, g, out) => {
    const x = inp(n, 0).f32, y = out.f32, dx = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) dx[i] = g[i]! * df(x[i]!, y[i]!);
    return [dx];
  };
}

/** g (out shape) times f(a_i, b_i), reduced to each input's shape. */
function binaryGrad(n: Node, g: Float32Array, out: Tensor, fa: ((a: number, b: number) => number) | null, fb: ((a: number, b: number) => number) | null): Array<Float32Array | null> {
  const a = inp(n, 0), b = inp(n, 1), A = a.f32, B = b.f32, N = g.length;
  const ia = broadcastKind(out.shape, a.shape) === 'same' ? null : broadcastIndex(out.shape, a.shape);
  const ib = broadcastKind(out.shape, b.shape) === 'same' ? null : broadcastIndex(out.shape, b.shape);
  const res: Array<Float32Array | null> = [null, null];
  if (a.requiresGrad && fa) {
    const ga = new Float32Array(N);
    for (let i = 0; i < N; i++) ga[i] = g[i]! * fa(A[ia ? ia[i]! : i]!, B[ib ? ib[i]! : i]!);
    res[0] = reduceTo(ga, out.shape, a.shape);
  }
  if (b.requiresGrad && fb) {
    const gb = new Float32Array(N);
    for (let i = 0; i < N; i++) gb[i] = g[i]! * fb(A[ia ? ia[i]! : i]!, B[ib ? ib[i]! : i]!);
    res[1] = reduceTo(gb, out.shape, b.shape);
  }
  return res;
}

export const gradRules: Record<string, Rule> = {
  add: (n, g, out) => [
    inp(n, 0).requiresGrad ? owned(reduceTo(g, out.shape, inp(n, 0).shape), true) : null,
    inp(n, 1).requiresGrad ? owned(reduceTo(g, out.shape, inp(n, 1).shape), !inp(n, 0).requiresGrad || broadcastKind(out.shape, inp(n, 0).shape) !== 'same') : null,
  ],
  sub: (n, g, out) => {
    const gb = inp(n, 1).requiresGrad ? reduceTo(g, out.shape, inp(n, 1).shape).map((v) => -v) : null;
    return [inp(n, 0).requiresGrad ? reduceTo(g, out.shape, inp(n, 0).shape) : null, gb];
  },
  mul: (n, g, out) => binaryGrad(n, g, out, (_a, b) => b, (a) => a),
  div: (n, g, out) => binaryGrad(n, g, out, (_a, b) => 1 / b, (a, b) => -a / (b * b)),
  minimum: (n, g, out) => binaryGrad(n, g, out, (a, b) => (a <= b ? 1 : 0), (a, b) => (a <= b ? 0 : 1)),
  maximum: (n, g, out) => binaryGrad(n, g, out, (a, b) => (a >= b ? 1 : 0), (a, b) => (a >= b ? 0 : 1)),
  scale: (n, g) => { const s = S(n).s as number, d = new Float32Array(g.length); for (let i = 0; i < g.length; i++) d[i] = g[i]! * s; return [d]; },
  addScalar: (_n, g) => [g],
  clamp: (n, g) => {
    const x = inp(n, 0).f32, { lo, hi } = S(n), d = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) d[i] = x[i]! >= lo && x[i]! <= hi ? g[i]! : 0;
    return [d];
  },
  exp: unaryRule('exp'), log: unaryRule('log'), sigmoid: unaryRule('sigmoid'), logsigmoid: unaryRule('logsigmoid'),
  tanh: unaryRule('tanh'), relu: unaryRule('relu'), silu: unaryRule('silu'), square: unaryRule('square'),
  sqrt: unaryRule('sqrt'), abs: unaryRule('abs'),

  sum: (n, g) => {
    const x = inp(n, 0), dim = S(n).dim as number | null, dx = new Float32Array(x.size);
    if (dim === null) { dx.fill(g[0]!); return [dx]; }
    const outer = x.shape.slice(0, dim).reduce((a, b) => a * b, 1), len = x.shape[dim]!, inner = x.size / (outer * len);
    for (let o = 0; o < outer; o++) for (let j = 0; j < len; j++) dx.set(g.subarray(o * inner, (o + 1) * inner), (o * len + j) * inner);
    return [dx];
  },

  segmentSum: (n, g) => {
    const group = S(n).group as Int32Array, dx = new Float32Array(group.length);
    for (let i = 0; i < group.length; i++) dx[i] = g[group[i]!]!;
    return [dx];
  },

  reshape: (_n, g) => [g],
  // the transpose of a swap is the same swap, applied to g in the output's shape
  transpose: (n, g, out) => [permuteCopy(g, out.shape, S(n).a, S(n).b)[0]],
  narrow: (n, g) => {
    const { outer, n: len0, inner, start, len } = S(n), dx = new Float32Array(outer * len0 * inner);
    for (let o = 0; o < outer; o++) dx.set(g.subarray(o * len * inner, (o + 1) * len * inner), (o * len0 + start) * inner);
    return [dx];
  },
  concat: (n, g) => {
    const { outer, inner, total, sizes } = S(n) as { outer: number; inner: number; total: number; sizes: number[] };
    let off = 0;
    return sizes.map((len, k) => {
      const o0 = off; off += len;
      if (!inp(n, k).requiresGrad) return null;
      const dx = new Float32Array(outer * len * inner);
      for (let o = 0; o < outer; o++) dx.set(g.subarray((o * total + o0) * inner, (o * total + o0 + len) * inner), o * len * inner);
      return dx;
    });
  },
  selectRows: (n, g) => {
    const x = inp(n, 0), ids = S(n).ids as Int32Array, C = x.shape[1]!, dx = new Float32Array(x.size);
    K().embeddingBwd(g, ids, dx, ids.length, C);
    return [dx];
  },

  matmul: (n, g) => {
    const a = inp(n, 0), b = inp(n, 1), { transA: tA, transB: tB, M, N, K: Kd, batch, shared } = S(n), k = K();
    let da: Float32Array | null = null, db: Float32Array | null = null;
    const sA = M * Kd, sB = shared ? 0 : Kd * N, sC = M * N;
    if (a.requiresGrad) {
      da = new Float32Array(a.size);
      // dop(A) = g·op(B)ᵀ; when A is stored transposed, its gradient is op(B)·gᵀ
      if (!tA && shared) k.gemm(false, !tB, batch * M, Kd, N, g, 0, b.f32, 0, da, 0, 0, 1, 0, 0, 0);
      else if (!tA) k.gemm(false, !tB, M, Kd, N, g, 0, b.f32, 0, da, 0, 0, batch, sC, sB, sA);
      else k.gemm(tB, true, Kd, M, N, b.f32, 0, g, 0, da, 0, 0, batch, sB, sC, sA);
    }
    if (b.requiresGrad) {
      db = new Float32Array(b.size);
      if (shared && !tA) {
        // the batch folds into the rows: one gemm over batch·M rows
        if (!tB) k.gemm(true, false, Kd, N, batch * M, a.f32, 0, g, 0, db, 0, 0, 1, 0, 0, 0);
        else k.gemm(true, false, N, Kd, batch * M, g, 0, a.f32, 0, db, 0, 0, 1, 0, 0, 0);
      } else {
        const bs = shared ? 0 : Kd * N;
        for (let i = 0; i < batch; i++) {
          const beta = shared && i > 0 ? 1 : 0;
          if (!tB) k.gemm(!tA, false, Kd, N, M, a.f32, i * sA, g, i * sC, db, i * bs, beta, 1, 0, 0, 0);
          else k.gemm(true, tA, N, Kd, M, g, i * sC, a.f32, i * sA, db, i * bs, beta, 1, 0, 0, 0);
        }
      }
    }
    return [da, db];
  },

  linear: (n, g) => {
    // inputs are [x, w?, bias?]: an NF4 weight is not a tensor and never trains
    const { w, rows, I, O } = S(n), x = inp(n, 0), wt = isNF4(w) ? null : (w as Tensor), bias = n.inputs[wt ? 2 : 1], k = K();
    let dx: Float32Array | null = null, dw: Float32Array | null = null, db: Float32Array | null = null;
    if (x.requiresGrad) { dx = new Float32Array(rows * I); k.gemm(false, false, rows, I, O, g, 0, denseWeight(w), 0, dx, 0, 0, 1, 0, 0, 0); }
    if (wt?.requiresGrad) { dw = new Float32Array(O * I); k.gemm(true, false, O, I, rows, g, 0, x.f32, 0, dw, 0, 0, 1, 0, 0, 0); }
    if (bias?.requiresGrad) { db = new Float32Array(O); k.sumRows(g, db, rows, O); }
    return [dx, ...(wt ? [dw] : []), ...(bias ? [db] : [])];
  },

  loraLinear: (n, g) => {
    const x = inp(n, 0), A = inp(n, 1), B = inp(n, 2), bias = n.inputs[3], k = K();
    const { w, xd, mask, keep, u, s, rows, I, O, r } = S(n);
    const dB = new Float32Array(O * r), dt = new Float32Array(rows * r), dA = new Float32Array(r * I);
    k.gemm(true, false, O, r, rows, g, 0, u, 0, dB, 0, 0, 1, 0, 0, 0); // dB = gᵀ·u
    k.gemm(false, false, rows, r, O, g, 0, B.f32, 0, dt, 0, 0, 1, 0, 0, 0); // du = g·B
    for (let i = 0; i < dt.length; i++) dt[i] = dt[i]! * s; // dt = s·du
    const xin: Float32Array = xd ?? x.f32;
    k.gemm(true, false, r, I, rows, dt, 0, xin, 0, dA, 0, 0, 1, 0, 0, 0); // dA = dtᵀ·drop(x)
    let dx: Float32Array | null = null;
    if (x.requiresGrad) {
      dx = new Float32Array(rows * I);
      k.gemm(false, false, rows, I, O, g, 0, denseWeight(w), 0, dx, 0, 0, 1, 0, 0, 0); // g·W
      if (!mask) k.gemm(false, false, rows, I, r, dt, 0, A.f32, 0, dx, 0, 1, 1, 0, 0, 0); // + dt·A
      else {
        const dxd = new Float32Array(rows * I);
        k.gemm(false, false, rows, I, r, dt, 0, A.f32, 0, dxd, 0, 0, 1, 0, 0, 0);
        for (let i = 0; i < dxd.length; i++) if (mask[i]) dx[i] = dx[i]! + dxd[i]! * keep;
      }
    }
    let db: Float32Array | null = null;
    if (bias?.requiresGrad) { db = new Float32Array(O); k.sumRows(g, db, rows, O); }
    return bias ? [dx, dA, dB, db] : [dx, dA, dB];
  },

  embedding: (n, g) => {
    const t = inp(n, 0), { ids, C } = S(n), dt = new Float32Array(t.size);
    K().embeddingBwd(g, ids, dt, ids.length, C);
    return [dt];
  },

  layerNorm: (n, g) => {
    const x = inp(n, 0), w = inp(n, 1), b = n.inputs[2], { mean, rstd, rows, C } = S(n);
    const dx = new Float32Array(x.size), dw = new Float32Array(C), db = b ? new Float32Array(C) : null;
    K().layernormBwd(g, x.f32, w.f32, mean, rstd, dx, dw, db, rows, C);
    return b ? [dx, dw, db] : [dx, dw];
  },
  rmsNorm: (n, g) => {
    const x = inp(n, 0), w = inp(n, 1), { rstd, rows, C } = S(n), dx = new Float32Array(x.size), dw = new Float32Array(C);
    K().rmsnormBwd(g, x.f32, w.f32, rstd, dx, dw, rows, C);
    return [dx, dw];
  },
  gelu: (n, g) => { const x = inp(n, 0), dx = new Float32Array(x.size); K().geluBwd(x.f32, g, dx, x.size); return [dx]; },
  swiglu: (n, g) => {
    const gate = inp(n, 0), up = inp(n, 1), dg = new Float32Array(gate.size), du = new Float32Array(up.size);
    K().swigluBwd(gate.f32, up.f32, g, dg, du, gate.size);
    return [dg, du];
  },

  rope: (n, g) => {
    const { positions, cache, H, D } = S(n) as { positions: Int32Array; cache: RopeCache; H: number; D: number };
    const dx = new Float32Array(g.length);
    K().rope(g, dx, positions.length, H, D, positions, cache.cos, cache.sin, true);
    return [dx];
  },
  attention: (n, g) => {
    const q = inp(n, 0), k = inp(n, 1), v = inp(n, 2), s = S(n);
    const dq = new Float32Array(q.size), dk = new Float32Array(k.size), dv = new Float32Array(v.size);
    K().attentionBwd(q.f32, k.f32, v.f32, s.out, s.lse, g, dq, dk, dv, s.B, s.T, s.Tk, s.H, s.Hkv, s.D, s.qOffset, s.scale, s.mask, s.ks);
    return [dq, dk, dv];
  },

  softmax: (n, g) => {
    const { y, C } = S(n) as { y: Float32Array; C: number }, dx = new Float32Array(g.length);
    for (let o = 0; o < g.length; o += C) {
      let dot = 0;
      for (let i = 0; i < C; i++) dot += g[o + i]! * y[o + i]!;
      for (let i = 0; i < C; i++) dx[o + i] = y[o + i]! * (g[o + i]! - dot);
    }
    return [dx];
  },
  logSoftmax: (n, g) => {
    const { y, C } = S(n) as { y: Float32Array; C: number }, dx = new Float32Array(g.length);
    for (let o = 0; o < g.length; o += C) {
      let s = 0;
      for (let i = 0; i < C; i++) s += g[o + i]!;
      for (let i = 0; i < C; i++) dx[o + i] = g[o + i]! - Math.exp(y[o + i]!) * s;
    }
    return [dx];
  },
  crossEntropy: (n, g) => {
    const { t, lse, rows, V, norm } = S(n), gr = new Float32Array(rows).fill(g[0]! / norm), d = new Float32Array(rows * V);
    K().crossEntropyBwd(inp(n, 0).f32, t, lse, gr, d, rows, V);
    return [d];
  },
  tokenLogprobs: (n, g) => {
    // d log p_t / d logits = onehot − softmax = −(CE gradient)
    const { t, lse, rows, V } = S(n), gr = new Float32Array(rows), d = new Float32Array(rows * V);
    for (let i = 0; i < rows; i++) gr[i] = -g[i]!;
    K().crossEntropyBwd(inp(n, 0).f32, t, lse, gr, d, rows, V);
    return [d];
  },

  dropout: (n, g) => {
    const { mask, s } = S(n) as { mask: Uint8Array; s: number }, dx = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) dx[i] = mask[i] ? g[i]! * s : 0;
    return [dx];
  },
};
