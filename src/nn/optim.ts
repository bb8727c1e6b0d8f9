// AdamW (decoupled weight decay, one fused kernel per parameter), global grad-norm clipping, and
// the warmup + cosine learning-rate schedule.
import { Tensor } from '../core/tensor.js';
import { K } from '../core/kernels.js';

export interface AdamWOptions { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number }

export interface ParamEntry { name: string; param: Tensor; decay: boolean }

/** Serializable optimizer state: step count and first/second moments by parameter name. */
export interface AdamWState { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }

export class AdamW {
  readonly params: ParamEntry[];
  lr: number;
  readonly beta1: number; readonly beta2: number; readonly eps: number; readonly weightDecay: number;
  step = 0;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();

  /** Decay applies to matrices only (not norms, biases): the GPT-2/nanoGPT convention. */
  constructor(params: Array<[string, Tensor]>, opts: AdamWOptions) {
    this.params = params.map(([name, param]) => ({ name, param, decay: param.ndim >= 2 }));
    this.lr = opts.lr;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.0;
    for (const { name, param } of this.params) {
      this.m.set(name, new Float32Array(param.size));
      this.v.set(name, new Float32Array(param.size));
    }
  }

  /** One update from the accumulated .grad of every parameter (a missing grad counts as zero). */
  update(): void {
    this.step++;
    const k = K();
    for (const { name, param, decay } of this.params) {
      const g = param.grad ? param.grad.f32 : new Float32Array(param.size);
      k.adamw(param.f32, g, this.m.get(name)!, this.v.get(name)!, param.size, this.lr, this.beta1, this.beta2, this.eps, decay ? this.weightDecay : 0, this.step);
    }
  }

  zeroGrad(): void { for (const { param } of this.params) param.grad = null; }

  state(): AdamWState { return { step: this.step, m: this.m, v: this.v }; }

  load(st: AdamWState): void {
    this.step = st.step;
    for (const { name, param } of this.params) {
      const m = st.m.get(name), v = st.v.get(name);
      if (!m || !v || m.length !== param.size || v.length !== param.size) throw new Error(`heed: optimizer state has no matching moments for '${name}'`);
      this.m.set(name, m.slice()); this.v.set(name, v.slice());
    }
  }
}

/** Scales all grads so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  const k = K();
  let ss = 0;
  for (const p of params) if (p.grad) ss += k.sumSquares(p.grad.f32, p.size);
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad) { const g = p.grad.f32; for (let i = 0; i < g.length; i++) g[i] = g[i]! * s; }
  }
  return norm;
}

/** Linear warmup to `lr`, then cosine decay to `lr·minRatio` at `total` steps. */
export function cosineLR(step: number, total: number, lr: number, warmup: number, minRatio = 0.1): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
