// The kernel contract: every low-level routine the engine calls, as plain functions on typed arrays,
// with the TypeScript reference implementation of each. The native addon implements the same
// interface (src/kernels/native.ts); ops in ops.ts only ever call through `K()`.
//
// Conventions: row-major, contiguous; arrays may be subarrays (views) of larger buffers.
// "accumulate" means the kernel adds into the output (caller zeroes it); otherwise it overwrites.
import { bf16ToF32, f16BitsToF32, f16ToF32, f32ToBf16, f32ToF16, f32ToF16Bits } from './dtype.js';

export interface Kernels {
  readonly name: string;
  /**
   * Batched SGEMM: for b in [0, batch): C_b (M×N) = beta·C_b + op(A_b)·op(B_b).
   * A_b = A[aOff + b·strideA ...] stored M×K (K×M when transA); B_b stored K×N (N×K when transB).
   * beta is 0 (overwrite; C may hold garbage) or 1 (accumulate).
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, aOff: number, B: Float32Array, bOff: number, C: Float32Array, cOff: number,
    beta: number, batch: number, strideA: number, strideB: number, strideC: number): void;

  /** y = (x - mean)·rstd·w + b over the last dim C, for `rows` rows. mean/rstd: (rows). b may be null. */
  layernormFwd(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, C: number, eps: number): void;
  /** dx (overwrite); dw, db (accumulate; db may be null). */
  layernormBwd(dy: Float32Array, x: Float32Array, w: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dw: Float32Array, db: Float32Array | null, rows: number, C: number): void;
  /** y = x·rstd·w, rstd = 1/sqrt(mean(x²)+eps). */
  rmsnormFwd(x: Float32Array, w: Float32Array, y: Float32Array, rstd: Float32Array,
    rows: number, C: number, eps: number): void;
  /** dx (overwrite); dw (accumulate). */
  rmsnormBwd(dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array,
    dx: Float32Array, dw: Float32Array, rows: number, C: number): void;

  /** GELU, tanh approximation. */
  geluFwd(x: Float32Array, y: Float32Array, n: number): void;
  /** dx = dy·gelu'(x) (overwrite). */
  geluBwd(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void;
  /** y = silu(gate)·up */
  swigluFwd(gate: Float32Array, up: Float32Array, y: Float32Array, n: number): void;
  /** dgate, dup (overwrite). */
  swigluBwd(gate: Float32Array, up: Float32Array, dy: Float32Array, dgate: Float32Array, dup: Float32Array, n: number): void;

  /**
   * Rotary embedding, rotate-half convention (Hugging Face Llama). x, y: (rows, H, D), rows = B·T;
   * positions: (rows); cos, sin: (maxPos, D/2) tables. inverse=true rotates by −angle (the backward).
   * y may alias x.
   */
  rope(x: Float32Array, y: Float32Array, rows: number, H: number, D: number, positions: Int32Array,
    cos: Float32Array, sin: Float32Array, inverse: boolean): void;

  /**
   * Fused causal attention with grouped-query heads.
   * q: (B, T, H, D); k, v: (B, Tk, Hkv, D); out: (B, T, H, D); lse: (B, H, T) log-sum-exp of the
   * scaled scores (saved for backward). Query t sits at absolute position qOffset + t and sees keys
   * j ≤ qOffset + t. keyMask (B, Tk), 1 = real token, 0 = padding (never attended); may be null.
   * Head h reads kv head floor(h / (H / Hkv)). A query with no visible key gets out = 0, lse = -inf.
   * keyStart (B, T), may be null: query t of row b sees only keys j ≥ keyStart[b·T + t] (packed
   * sequences attend within their own sequence).
   */
  attentionFwd(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    B: number, T: number, Tk: number, H: number, Hkv: number, D: number, qOffset: number, scale: number,
    keyMask: Uint8Array | null, keyStart?: Int32Array | null): void;
  /** dq (B,T,H,D), dk, dv (B,Tk,Hkv,D): overwrite. */
  attentionBwd(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    dout: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array,
    B: number, T: number, Tk: number, H: number, Hkv: number, D: number, qOffset: number, scale: number,
    keyMask: Uint8Array | null, keyStart?: Int32Array | null): void;

  /** Row softmax over the last dim. y may alias x. */
  softmax(x: Float32Array, y: Float32Array, rows: number, C: number): void;
  /** Row log-softmax over the last dim. y may alias x. */
  logSoftmax(x: Float32Array, y: Float32Array, rows: number, C: number): void;

  /**
   * Per-row cross-entropy: loss[i] = lse_i − logits[i, t_i]; rows with t_i < 0 are ignored (loss 0,
   * lse still written). Returns the number of rows not ignored.
   */
  crossEntropyFwd(logits: Float32Array, targets: Int32Array, loss: Float32Array, lse: Float32Array,
    rows: number, V: number): number;
  /** dlogits[i] = g_i·(softmax(logits_i) − onehot(t_i)); ignored rows get 0. g: per-row scale (rows). Overwrite. */
  crossEntropyBwd(logits: Float32Array, targets: Int32Array, lse: Float32Array, g: Float32Array,
    dlogits: Float32Array, rows: number, V: number): void;

  /** out[i, :] = table[ids[i], :]. */
  embeddingFwd(table: Float32Array, ids: Int32Array, out: Float32Array, n: number, C: number): void;
  /** dtable[ids[i], :] += dout[i, :] (accumulate). */
  embeddingBwd(dout: Float32Array, ids: Int32Array, dtable: Float32Array, n: number, C: number): void;

  /**
   * One AdamW step (decoupled weight decay, bias-corrected), in place on p, m, v:
   * p ← p − lr·wd·p;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
   * p ← p − lr · (m / (1−β1^step)) / (sqrt(v / (1−β2^step)) + eps).
   */
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, wd: number, step: number): void;

  /** y[r, :] += b for each of `rows` rows of C. */
  addBias(y: Float32Array, b: Float32Array, rows: number, C: number): void;
  /** out[c] += Σ_r g[r, c] (the bias gradient). */
  sumRows(g: Float32Array, out: Float32Array, rows: number, C: number): void;
  /** out = a + b elementwise (out may alias a or b). */
  vadd(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;

  /** out[i] = levels[code_i]·absmax[i / blockSize] for NF4 codes packed two per byte, element 2j in the high nibble of byte j (bitsandbytes' order). */
  nf4Dequant(codes: Uint8Array, absmax: Float32Array, levels: Float32Array, blockSize: number, out: Float32Array, n: number): void;

  /** Σ x² (in double precision). */
  sumSquares(x: Float32Array, n: number): number;
  /** [count, first index or −1] of the elements whose `mask` bits are all set: NaN/±Inf among f32 (mask 0x7f800000), bf16 (0x7f80) or f16 (0x7c00) bit patterns. */
  nonFinite(bits: Uint32Array | Uint16Array, mask: number): [number, number];
  /** y[i] += alpha·x[i] */
  axpy(alpha: number, x: Float32Array, y: Float32Array, n: number): void;

  /** out (rows×O) = x (rows×I)·Wᵀ, W (O×I) f16 or bf16 bit patterns read as stored (decoding's few rows). */
  linearHalf(x: Float32Array, w: Uint16Array, bf16: boolean, out: Float32Array, rows: number, O: number, I: number): void;
  /**
   * out (rows×O) = x (rows×I)·Wᵀ, W (O×I) in q8_0 blocks (I a multiple of 32; see q8.ts), with x
   * quantized to q8_0 first as llama.cpp does (quantizeRowsQ8): Σ_b dw_b·dx_b·Σ_j qw_j·qx_j.
   */
  linearQ8(x: Float32Array, blocks: Uint8Array, out: Float32Array, rows: number, O: number, I: number): void;
  /** out (n) = the values of n weights in q8_0 blocks. */
  dequantQ8(blocks: Uint8Array, out: Float32Array, n: number): void;
  /** out = n values (a multiple of 32) as q8_0 blocks, as ggml's quantize_row_q8_0_ref writes them (see q8.ts). */
  quantizeQ8(src: Float32Array, out: Uint8Array, n: number): void;
  /** out = f16 (IEEE binary16) or bf16 bit patterns of n values, rounded to nearest even (dtype.ts's conversions). */
  toHalf(src: Float32Array, out: Uint16Array, n: number, bf16: boolean): void;
  /** out = the f32 values of n f16 or bf16 bit patterns (exact). */
  fromHalf(src: Uint16Array, out: Float32Array, n: number, bf16: boolean): void;
  /**
   * outs[i] (rows×O_i) = x (rows×I)·W_iᵀ for several weights that read the same x (q/k/v, gate/up),
   * all stored alike (kind 0 f32, 1 f16, 2 bf16, 3 q8_0), rows ≤ 16: one pass of the threads over all.
   */
  linearMulti(x: Float32Array, ws: Array<Float32Array | Uint16Array | Uint8Array>, kind: 0 | 1 | 2 | 3, outs: Float32Array[], rows: number, I: number): void;
  /**
   * One transformer block of a decode step, x (B×d) updated in place: norm → q/k/v (+ bias) → RoPE
   * (when cos/sin are given) → each row's k, v written at position lens[b] of its cache slot →
   * attention over positions ≤ lens[b] → o → residual → norm → MLP (SwiGLU or GELU) → residual.
   * dims: B, d, H, Hkv, D, ffn, norm (0 rms, 1 layer), mlp (0 swiglu, 1 gelu). weights (DECODE_WEIGHTS
   * order): n1.w, n1.b, q, k, v, q.b, k.b, v.b, o, o.b, n2.w, n2.b, gate, up, down, gate.b, up.b,
   * down.b, null where absent; kinds: storage of q, k, v, o, gate, up, down (linearMulti's, −1 none).
   */
  decodeLayer(x: Float32Array, dims: Int32Array, eps: number, positions: Int32Array, cos: Float32Array | null, sin: Float32Array | null,
    weights: Array<Float32Array | Uint16Array | Uint8Array | null>, kinds: Int32Array, kCache: Float32Array[], vCache: Float32Array[], lens: Int32Array, scale: number): void;
}

/**
 * Rows of activations as q8_0, the way llama.cpp quantizes a q8_0 product's input (quantize_row_q8_0,
 * its SIMD form): per block of 32, d = max|x|/127 rounded to f16, codes round(x·127/max|x|) with ties
 * to even, in f32 arithmetic. (x.length a multiple of 32.)
 */
export function quantizeRowsQ8(x: Float32Array): { q: Int8Array; d: Float32Array } {
  const nb = x.length / 32, q = new Int8Array(x.length), d = new Float32Array(nb), f = Math.fround;
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const id = amax > 0 ? f(127 / amax) : 0;
    for (let j = 0; j < 32; j++) {
      const v = f(x[b * 32 + j]! * id), r = Math.round(v);
      q[b * 32 + j] = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;   // Math.round takes ties up; to even instead
    }
    d[b] = f16BitsToF32(f32ToF16Bits(f(amax / 127)));
  }
  return { q, d };
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** The TypeScript reference kernels: simple, obviously correct, slow. */
export const refKernels: Kernels = {
  name: 'ref',

  gemm(tA, tB, M, N, K, A, aOff, B, bOff, C, cOff, beta, batch, sA, sB, sC) {
    for (let b = 0; b < batch; b++) {
      const a0 = aOff + b * sA, b0 = bOff + b * sB, c0 = cOff + b * sC;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let p = 0; p < K; p++) {
            const a = tA ? A[a0 + p * M + i]! : A[a0 + i * K + p]!;
            const bb = tB ? B[b0 + j * K + p]! : B[b0 + p * N + j]!;
            s += a * bb;
          }
          const ci = c0 + i * N + j;
          C[ci] = beta === 0 ? s : beta * C[ci]! + s;
        }
      }
    }
  },

  layernormFwd(x, w, b, y, mean, rstd, rows, C, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let m = 0;
      for (let i = 0; i < C; i++) m += x[o + i]!;
      m /= C;
      let v = 0;
      for (let i = 0; i < C; i++) { const d = x[o + i]! - m; v += d * d; }
      const s = 1 / Math.sqrt(v / C + eps);
      mean[r] = m; rstd[r] = s;
      for (let i = 0; i < C; i++) y[o + i] = (x[o + i]! - m) * s * w[i]! + (b ? b[i]! : 0);
    }
  },

  layernormBwd(dy, x, w, mean, rstd, dx, dw, db, rows, C) {
    for (let r = 0; r < rows; r++) {
      const o = r * C, m = mean[r]!, s = rstd[r]!;
      let dnMean = 0, dnXhat = 0;
      for (let i = 0; i < C; i++) {
        const xhat = (x[o + i]! - m) * s, dn = dy[o + i]! * w[i]!;
        dnMean += dn; dnXhat += dn * xhat;
        dw[i] = dw[i]! + dy[o + i]! * xhat;
        if (db) db[i] = db[i]! + dy[o + i]!;
      }
      dnMean /= C; dnXhat /= C;
      for (let i = 0; i < C; i++) {
        const xhat = (x[o + i]! - m) * s, dn = dy[o + i]! * w[i]!;
        dx[o + i] = (dn - dnMean - xhat * dnXhat) * s;
      }
    }
  },

  rmsnormFwd(x, w, y, rstd, rows, C, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let ss = 0;
      for (let i = 0; i < C; i++) ss += x[o + i]! * x[o + i]!;
      const s = 1 / Math.sqrt(ss / C + eps);
      rstd[r] = s;
      for (let i = 0; i < C; i++) y[o + i] = x[o + i]! * s * w[i]!;
    }
  },

  rmsnormBwd(dy, x, w, rstd, dx, dw, rows, C) {
    for (let r = 0; r < rows; r++) {
      const o = r * C, s = rstd[r]!;
      let dot = 0;
      for (let i = 0; i < C; i++) {
        const dn = dy[o + i]! * w[i]!;
        dot += dn * x[o + i]!;
        dw[i] = dw[i]! + dy[o + i]! * x[o + i]! * s;
      }
      const c = (dot * s * s * s) / C;
      for (let i = 0; i < C; i++) dx[o + i] = dy[o + i]! * w[i]! * s - x[o + i]! * c;
    }
  },

  geluFwd(x, y, n) {
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      y[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
    }
  },

  geluBwd(x, dy, dx, n) {
    for (let i = 0; i < n; i++) {
      const v = x[i]!, u = GELU_C * (v + 0.044715 * v * v * v), t = Math.tanh(u);
      const du = GELU_C * (1 + 3 * 0.044715 * v * v);
      dx[i] = dy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
    }
  },

  swigluFwd(gate, up, y, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!, sg = 1 / (1 + Math.exp(-g));
      y[i] = g * sg * up[i]!;
    }
  },

  swigluBwd(gate, up, dy, dgate, dup, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!, sg = 1 / (1 + Math.exp(-g)), d = dy[i]!;
      dup[i] = d * g * sg;
      dgate[i] = d * up[i]! * sg * (1 + g * (1 - sg));
    }
  },

  rope(x, y, rows, H, D, positions, cos, sin, inverse) {
    const half = D >> 1, sgn = inverse ? -1 : 1;
    for (let r = 0; r < rows; r++) {
      const p = positions[r]! * half;
      for (let h = 0; h < H; h++) {
        const o = (r * H + h) * D;
        for (let i = 0; i < half; i++) {
          const c = cos[p + i]!, s = sgn * sin[p + i]!;
          const x1 = x[o + i]!, x2 = x[o + half + i]!;
          y[o + i] = x1 * c - x2 * s;
          y[o + half + i] = x2 * c + x1 * s;
        }
      }
    }
  },

  attentionFwd(q, k, v, out, lse, B, T, Tk, H, Hkv, D, qOffset, scale, keyMask, keyStart) {
    const grp = H / Hkv, sc = new Float64Array(Tk);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / grp);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * H + h) * D, last = Math.min(Tk - 1, qOffset + t);
        let mx = -Infinity;
        const first = keyStart ? keyStart[b * T + t]! : 0;
        for (let j = 0; j <= last; j++) {
          if ((keyMask && !keyMask[b * Tk + j]) || j < first) { sc[j] = -Infinity; continue; }
          const ko = ((b * Tk + j) * Hkv + kh) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qo + d]! * k[ko + d]!;
          sc[j] = s * scale;
          if (sc[j]! > mx) mx = sc[j]!;
        }
        const lo = (b * H + h) * T + t;
        for (let d = 0; d < D; d++) out[qo + d] = 0;
        if (mx === -Infinity) { lse[lo] = -Infinity; continue; }
        let sum = 0;
        for (let j = 0; j <= last; j++) { const e = sc[j] === -Infinity ? 0 : Math.exp(sc[j]! - mx); sc[j] = e; sum += e; }
        for (let j = 0; j <= last; j++) {
          const p = sc[j]! / sum;
          if (p === 0) continue;
          const vo = ((b * Tk + j) * Hkv + kh) * D;
          for (let d = 0; d < D; d++) out[qo + d] = out[qo + d]! + p * v[vo + d]!;
        }
        lse[lo] = mx + Math.log(sum);
      }
    }
  },

  attentionBwd(q, k, v, out, lse, dout, dq, dk, dv, B, T, Tk, H, Hkv, D, qOffset, scale, keyMask, keyStart) {
    dq.fill(0, 0, B * T * H * D); dk.fill(0, 0, B * Tk * Hkv * D); dv.fill(0, 0, B * Tk * Hkv * D);
    const grp = H / Hkv, P = new Float64Array(Tk);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / grp);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * H + h) * D, last = Math.min(Tk - 1, qOffset + t);
        const L = lse[(b * H + h) * T + t]!;
        if (L === -Infinity) continue;
        let dsum = 0; // Σ_d dout·out = Σ_j P_j dP_j
        for (let d = 0; d < D; d++) dsum += dout[qo + d]! * out[qo + d]!;
        const first = keyStart ? keyStart[b * T + t]! : 0;
        for (let j = 0; j <= last; j++) {
          if ((keyMask && !keyMask[b * Tk + j]) || j < first) { P[j] = 0; continue; }
          const ko = ((b * Tk + j) * Hkv + kh) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qo + d]! * k[ko + d]!;
          P[j] = Math.exp(s * scale - L);
        }
        for (let j = 0; j <= last; j++) {
          const p = P[j]!;
          if (p === 0) continue;
          const ko = ((b * Tk + j) * Hkv + kh) * D;
          let dp = 0;
          for (let d = 0; d < D; d++) { dp += dout[qo + d]! * v[ko + d]!; dv[ko + d] = dv[ko + d]! + p * dout[qo + d]!; }
          const ds = p * (dp - dsum) * scale;
          for (let d = 0; d < D; d++) {
            dq[qo + d] = dq[qo + d]! + ds * k[ko + d]!;
            dk[ko + d] = dk[ko + d]! + ds * q[qo + d]!;
          }
        }
      }
    }
  },

  softmax(x, y, rows, C) {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let mx = -Infinity;
      for (let i = 0; i < C; i++) if (x[o + i]! > mx) mx = x[o + i]!;
      let s = 0;
      for (let i = 0; i < C; i++) { const e = Math.exp(x[o + i]! - mx); y[o + i] = e; s += e; }
      for (let i = 0; i < C; i++) y[o + i] = y[o + i]! / s;
    }
  },

  logSoftmax(x, y, rows, C) {
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      let mx = -Infinity;
      for (let i = 0; i < C; i++) if (x[o + i]! > mx) mx = x[o + i]!;
      let s = 0;
      for (let i = 0; i < C; i++) s += Math.exp(x[o + i]! - mx);
      const l = mx + Math.log(s);
      for (let i = 0; i < C; i++) y[o + i] = x[o + i]! - l;
    }
  },

  crossEntropyFwd(logits, targets, loss, lse, rows, V) {
    let n = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * V;
      let mx = -Infinity;
      for (let i = 0; i < V; i++) if (logits[o + i]! > mx) mx = logits[o + i]!;
      let s = 0;
      for (let i = 0; i < V; i++) s += Math.exp(logits[o + i]! - mx);
      const l = mx + Math.log(s);
      lse[r] = l;
      const t = targets[r]!;
      if (t < 0) { loss[r] = 0; continue; }
      loss[r] = l - logits[o + t]!;
      n++;
    }
    return n;
  },

  crossEntropyBwd(logits, targets, lse, g, dlogits, rows, V) {
    for (let r = 0; r < rows; r++) {
      const o = r * V, t = targets[r]!;
      if (t < 0) { dlogits.fill(0, o, o + V); continue; }
      const l = lse[r]!, gr = g[r]!;
      for (let i = 0; i < V; i++) dlogits[o + i] = gr * Math.exp(logits[o + i]! - l);
      dlogits[o + t] = dlogits[o + t]! - gr;
    }
  },

  embeddingFwd(table, ids, out, n, C) {
    for (let i = 0; i < n; i++) out.set(table.subarray(ids[i]! * C, ids[i]! * C + C), i * C);
  },

  embeddingBwd(dout, ids, dtable, n, C) {
    for (let i = 0; i < n; i++) {
      const o = ids[i]! * C;
      for (let c = 0; c < C; c++) dtable[o + c] = dtable[o + c]! + dout[i * C + c]!;
    }
  },

  adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step) {
    const bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      let pi = p[i]! * (1 - lr * wd);
      const mi = b1 * m[i]! + (1 - b1) * gi, vi = b2 * v[i]! + (1 - b2) * gi * gi;
      m[i] = mi; v[i] = vi;
      pi -= lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
      p[i] = pi;
    }
  },

  addBias(y, b, rows, C) {
    for (let r = 0; r < rows; r++) { const o = r * C; for (let j = 0; j < C; j++) y[o + j] = y[o + j]! + b[j]!; }
  },

  sumRows(g, out, rows, C) {
    for (let r = 0; r < rows; r++) { const o = r * C; for (let j = 0; j < C; j++) out[j] = out[j]! + g[o + j]!; }
  },

  vadd(a, b, out, n) {
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  },

  nf4Dequant(codes, absmax, levels, blockSize, out, n) {
    for (let i = 0; i < n; i++) {
      const c = (i & 1) ? codes[i >> 1]! & 15 : codes[i >> 1]! >> 4;
      out[i] = levels[c]! * absmax[(i / blockSize) | 0]!;
    }
  },

  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  },

  axpy(alpha, x, y, n) {
    for (let i = 0; i < n; i++) y[i] = y[i]! + alpha * x[i]!;
  },

  linearHalf(x, w, bf16, out, rows, O, I) {
    const wf = bf16 ? bf16ToF32(w.subarray(0, O * I)) : f16ToF32(w.subarray(0, O * I));
    for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) {
      let s = 0;
      for (let i = 0; i < I; i++) s += x[r * I + i]! * wf[o * I + i]!;
      out[r * O + o] = s;
    }
  },

  linearMulti(x, ws, kind, outs, rows, I) {
    ws.forEach((w, i) => {
      const out = outs[i]!, O = out.length / rows;
      if (kind === 3) refKernels.linearQ8(x, w as Uint8Array, out, rows, O, I);
      else if (kind !== 0) refKernels.linearHalf(x, w as Uint16Array, kind === 2, out, rows, O, I);
      else for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) {
        let s = 0;
        for (let j = 0; j < I; j++) s += x[r * I + j]! * (w as Float32Array)[o * I + j]!;
        out[r * O + o] = s;
      }
    });
  },

  decodeLayer(x, dims, eps, positions, cos, sin, w, kinds, kCache, vCache, lens, scale) {
    const [B, d, H, Hkv, D, F, normKind, mlpKind] = dims as unknown as number[] as [number, number, number, number, number, number, number, number];
    const k = refKernels, f = (j: number) => w[j] as Float32Array, qd = H * D, kvd = Hkv * D;
    const lin = (kind: number, input: Float32Array, I: number, ws: number[], Os: number[]): Float32Array[] => {
      const outs = Os.map((O) => new Float32Array(B * O));
      k.linearMulti(input, ws.map((j) => w[j]!), kind as 0 | 1 | 2 | 3, outs, B, I);
      return outs;
    };
    const bias = (y: Float32Array, j: number, C: number) => { if (w[j]) k.addBias(y, f(j), B, C); };
    const h = new Float32Array(B * d), stat = new Float32Array(B), stat2 = new Float32Array(B);
    const norm = (wj: number, bj: number) => normKind === 0 ? k.rmsnormFwd(x, f(wj), h, stat, B, d, eps) : k.layernormFwd(x, f(wj), w[bj] as Float32Array | null, h, stat, stat2, B, d, eps);
    norm(0, 1);
    const [q, kk, v] = [lin(kinds[0]!, h, d, [2], [qd])[0]!, lin(kinds[1]!, h, d, [3], [kvd])[0]!, lin(kinds[2]!, h, d, [4], [kvd])[0]!];
    bias(q, 5, qd); bias(kk, 6, kvd); bias(v, 7, kvd);
    if (cos && sin) { k.rope(q, q, B, H, D, positions, cos, sin, false); k.rope(kk, kk, B, Hkv, D, positions, cos, sin, false); }
    const att = new Float32Array(B * qd), lse = new Float32Array(H);
    for (let b = 0; b < B; b++) {
      const p = lens[b]!;
      if (kCache[b]!.length < (p + 1) * kvd || vCache[b]!.length < (p + 1) * kvd) throw new RangeError(`decodeLayer: cache slot of row ${b} has no room for position ${p}`);
      kCache[b]!.set(kk.subarray(b * kvd, (b + 1) * kvd), p * kvd);
      vCache[b]!.set(v.subarray(b * kvd, (b + 1) * kvd), p * kvd);
      const out = new Float32Array(qd);
      k.attentionFwd(q.subarray(b * qd, (b + 1) * qd), kCache[b]!.subarray(0, (p + 1) * kvd), vCache[b]!.subarray(0, (p + 1) * kvd), out, lse, 1, 1, p + 1, H, Hkv, D, p, scale, null, null);
      att.set(out, b * qd);
    }
    const o = lin(kinds[3]!, att, qd, [8], [d])[0]!;
    bias(o, 9, d);
    k.vadd(x, o, x, B * d);
    norm(10, 11);
    const m = new Float32Array(B * F);
    if (mlpKind === 0) {
      const g = lin(kinds[4]!, h, d, [12], [F])[0]!, u = lin(kinds[5]!, h, d, [13], [F])[0]!;
      bias(g, 15, F); bias(u, 16, F);
      k.swigluFwd(g, u, m, B * F);
    } else {
      const u = lin(kinds[5]!, h, d, [13], [F])[0]!;
      bias(u, 16, F);
      k.geluFwd(u, m, B * F);
    }
    const down = lin(kinds[6]!, m, F, [14], [d])[0]!;
    bias(down, 17, d);
    k.vadd(x, down, x, B * d);
  },

  linearQ8(x, blocks, out, rows, O, I) {
    // the input quantized as llama.cpp does for a q8_0 weight; a block is then an integer dot product
    const nb = I / 32, xq = quantizeRowsQ8(x.subarray(0, rows * I)), dv = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
    for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) {
      let s = 0;
      for (let b = 0; b < nb; b++) {
        const at = (o * nb + b) * 34;
        let dot = 0;
        for (let j = 0; j < 32; j++) dot += dv.getInt8(at + 2 + j) * xq.q[r * I + b * 32 + j]!;
        s += Math.fround(f16BitsToF32(dv.getUint16(at, true)) * xq.d[r * nb + b]!) * dot;
      }
      out[r * O + o] = s;
    }
  },

  dequantQ8(blocks, out, n) {
    const dv = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
    for (let b = 0; b < n / 32; b++) {
      const d = f16BitsToF32(dv.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(b * 34 + 2 + j);
    }
  },

  nonFinite(bits, mask) {
    let count = 0, first = -1;
    for (let i = 0; i < bits.length; i++) if ((bits[i]! & mask) === mask) { if (count++ === 0) first = i; }
    return [count, first];
  },

  // ggml's quantize_row_q8_0_ref, in f32 as the C code computes: d = max|x| / 127 stored as f16,
  // codes round(x / d) with ties away from zero (C's roundf)
  quantizeQ8(src, out, n) {
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength), f = Math.fround;
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[b * 32 + j]!));
      const d = f(amax / 127), id = d ? f(1 / d) : 0;
      dv.setUint16(b * 34, f32ToF16Bits(d), true);
      for (let j = 0; j < 32; j++) {
        const x = f(src[b * 32 + j]! * id);
        dv.setInt8(b * 34 + 2 + j, Math.sign(x) * Math.round(Math.abs(x)));
      }
    }
  },

  fromHalf(src, out, n, bf16) {
    const s = n === src.length ? src : src.subarray(0, n);
    if (bf16) bf16ToF32(s, out); else f16ToF32(s, out);
  },

  toHalf(src, out, n, bf16) {
    const s = n === src.length ? src : src.subarray(0, n);
    if (bf16) f32ToBf16(s, out); else f32ToF16(s, out);
  },
};

let active: Kernels = refKernels;
let native: Kernels | null = null;

/** The kernels ops call now. */
export function K(): Kernels { return active; }
/** f16 or bf16 bit patterns widened to f32 by the active kernels (into `out` when given). */
export function fromHalfBits(src: Uint16Array, bf16: boolean, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`fromHalfBits: output holds ${out.length} < ${src.length}`);
  active.fromHalf(src, out, src.length, bf16);
  return out.length === src.length ? out : out.subarray(0, src.length);
}
/** f32 values as f16 or bf16 bit patterns (rounded to nearest even) by the active kernels. */
export function toHalfBits(src: Float32Array, bf16: boolean): Uint16Array {
  const out = new Uint16Array(src.length);
  active.toHalf(src, out, src.length, bf16);
  return out;
}
/** Registers the native kernels (called once by src/kernels/native.ts when the addon loads). */
export function registerNative(k: Kernels): void { native = k; active = k; }
/** The native kernels, or null when the addon is not loaded. */
export function nativeKernels(): Kernels | null { return native; }
/** Switches backend: 'ref' (TypeScript) or 'native'. Returns the previous name. Used by tests. */
export function useBackend(name: 'ref' | 'native'): string {
  const prev = active.name;
  if (name === 'native') {
    if (!native) throw new Error('heed: the native addon is not loaded');
    active = native;
  } else active = refKernels;
  return prev;
}
