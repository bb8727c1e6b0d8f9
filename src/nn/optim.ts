// AdamW (decoupled weight decay, one fused kernel per parameter), global grad-norm clipping, and
// the warmup + cosine learning-rate schedule.
import { Tensor } from '../core/tensor.js';
import { K } from '../core/kernels.js';

export interface AdamWOptions { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number }

export interface ParamEntry { name: string; param: Tensor; decay: boolean }

/**
 * Serializable optimizer state: update count, and per parameter its own step count (for bias
 * correction: a parameter counts only the updates it took part in, as in torch.optim.AdamW) and
 * its first and second moments.
 */
export interface AdamWState { step: number; steps: Map<string, number>; m: Map<string, Float32Array>; v: Map<string, Float32Array> }

export class AdamW {
  readonly params: ParamEntry[];
  lr: number;
  readonly beta1: number; readonly beta2: number; readonly eps: number; readonly weightDecay: number;
  step = 0;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();
  private steps = new Map<string, number>();

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
      this.steps.set(name, 0);
    }
  }

  /**
   * One update from the accumulated .grad of every parameter. A parameter without a gradient is
   * skipped, as PyTorch skips it: its moments, step count and weight decay stay where they are.
   */
  update(): void {
    this.step++;
    const k = K();
    for (const { name, param, decay } of this.params) {
      if (!param.grad) continue;
      const t = this.steps.get(name)! + 1;
      this.steps.set(name, t);
      k.adamw(param.f32, param.grad.f32, this.m.get(name)!, this.v.get(name)!, param.size, this.lr, this.beta1, this.beta2, this.eps, decay ? this.weightDecay : 0, t);
    }
  }

  zeroGrad(): void { for (const { param } of this.params) param.grad = null; }

  state(): AdamWState { return { step: this.step, steps: this.steps, m: this.m, v: this.v }; }

  load(st: AdamWState): void {
    this.step = st.step;
    for (const { name, param } of this.params) {
      const m = st.m.get(name), v = st.v.get(name), t = st.steps.get(name);
      if (!m || !v || t === undefined || m.length !== param.size || v.length !== param.size) throw new Error(`heed: optimizer state has no matching moments for '${name}'`);
      this.m.set(name, m.slice()); this.v.set(name, v.slice()); this.steps.set(name, t);
    }
  }
}

/**
 * Scales all grads by `prescale` (1/N turns summed losses into a mean), then so that their global
 * L2 norm is at most maxNorm (0 = no clipping), in one pass; returns the norm after the prescale
 * and before clipping, as torch.nn.utils.clip_grad_norm_ does.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, prescale = 1): number {
  const k = K();
  let ss = 0;
  for (const p of params) if (p.grad) ss += k.sumSquares(p.grad.f32, p.size);
  const norm = Math.sqrt(ss) * Math.abs(prescale);
  // torch's rule: scale by min(1, maxNorm / (norm + 1e-6))
  const s = prescale * (maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1);
  if (s !== 1) for (const p of params) if (p.grad) { const g = p.grad.f32; for (let i = 0; i < g.length; i++) g[i] = g[i]! * s; }
  return norm;
}

/** Linear warmup to `lr`, then cosine decay to `lr·minRatio` at `total` steps. */
export function cosineLR(step: number, total: number, lr: number, warmup: number, minRatio = 0.1): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
