// The RL algorithms' pieces as small pure functions in one place (as verl's core_algos.py): advantage
// estimators, KL estimators, and the PPO, DPO/IPO and GRPO losses. PPO, GRPO and DPO are each a
// choice from these tables plus a short loop; nothing here knows about models or files.
import { Tensor } from '../core/tensor.js';
import * as op from '../core/ops.js';

// ---------------------------------------------------------------- advantages

/**
 * Generalised advantage estimation over one response (Schulman et al. 2016):
 *   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = Σ_l (γλ)^l δ_{t+l},   returns R_t = A_t + V_t,
 * with V after the last token = 0 (the episode ends with the response).
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, gamma = 1, lambda = 0.95): { advantages: Float32Array; returns: Float32Array } {
  const T = rewards.length, adv = new Float32Array(T), ret = new Float32Array(T);
  if (values.length !== T) throw new Error(`gae: ${T} rewards but ${values.length} values`);
  let last = 0;
  for (let t = T - 1; t >= 0; t--) {
    const next = t + 1 < T ? values[t + 1]! : 0;
    const delta = rewards[t]! + gamma * next - values[t]!;
    last = delta + gamma * lambda * last;
    adv[t] = last;
    ret[t] = last + values[t]!;
  }
  return { advantages: adv, returns: ret };
}

/** Whitening: (x − mean) / (std + 1e-8) over all entries (the batch's response tokens); shift=false keeps the mean. */
export function whiten(x: Float32Array, shift = true): Float32Array {
  const n = x.length;
  if (n === 0) return x;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) ** 2;
  // unbiased variance, as TRL's masked_whiten
  const std = Math.sqrt(v / Math.max(1, n - 1)), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i]! - mean) / (std + 1e-8) + (shift ? 0 : mean);
  return out;
}

/**
 * GRPO's group-relative advantages (Shao et al. 2024): each of the G samples of a prompt gets
 * (r − mean(group)), divided by std(group) + ε when `scaleStd` (Dr. GRPO drops the division).
 */
export function groupAdvantages(rewards: ArrayLike<number>, groupSize: number, scaleStd = true): Float32Array {
  const n = rewards.length, out = new Float32Array(n);
  if (groupSize < 2 || n % groupSize !== 0) throw new Error(`groupAdvantages: ${n} rewards do not form groups of ${groupSize} (G ≥ 2)`);
  for (let g = 0; g < n; g += groupSize) {
    let mean = 0;
    for (let i = 0; i < groupSize; i++) mean += rewards[g + i]!;
    mean /= groupSize;
    let v = 0;
    for (let i = 0; i < groupSize; i++) v += (rewards[g + i]! - mean) ** 2;
    const std = Math.sqrt(v / (groupSize - 1));
    for (let i = 0; i < groupSize; i++) out[g + i] = (rewards[g + i]! - mean) / (scaleStd ? std + 1e-4 : 1);
  }
  return out;
}

export const ADVANTAGE_ESTIMATORS = { gae, grpo: groupAdvantages } as const;

// ---------------------------------------------------------------- KL

export type KlEstimator = 'k1' | 'k3';

/**
 * Per-token KL(π‖π_ref) estimates from log-probs of the sampled tokens (Schulman's note):
 * k1 = log π − log π_ref (unbiased, can be negative); k3 = (r − 1) − log r with r = π_ref/π
 * (unbiased, never negative, lower variance).
 */
export function klEstimate(logp: number, refLogp: number, kind: KlEstimator): number {
  const d = refLogp - logp;
  return kind === 'k1' ? -d : Math.exp(d) - d - 1;
}

/** k3 as a differentiable tensor of the policy's log-probs: exp(ref − logp) − (ref − logp) − 1. */
export function klK3(logp: Tensor, refLogp: Float32Array): Tensor {
  const d = op.sub(Tensor.from(refLogp, logp.shape), logp);
  return op.addScalar(op.sub(op.exp(d), d), -1);
}

// ---------------------------------------------------------------- PPO

export interface ClipStats { clipFrac: number; approxKl: number }

/**
 * PPO's clipped surrogate (Schulman et al. 2017), summed over tokens:
 *   L = Σ_t max(−A_t·ρ_t, −A_t·clip(ρ_t, 1−ε, 1+ε)),   ρ_t = exp(log π_θ − log π_old).
 * Stats: the share of tokens clipped, and the approximate KL(old‖new) = mean ½(log ρ)².
 */
export function ppoPolicyLoss(logp: Tensor, oldLogp: Float32Array, adv: Float32Array, eps: number): { loss: Tensor; stats: ClipStats } {
  const n = logp.size, shape = logp.shape;
  const ratio = op.exp(op.sub(logp, Tensor.from(oldLogp, shape)));
  const A = Tensor.from(adv, shape);
  const l1 = op.mul(op.neg(A), ratio), l2 = op.mul(op.neg(A), op.clamp(ratio, 1 - eps, 1 + eps));
  const loss = op.sum(op.maximum(l1, l2));
  let clipped = 0, kl = 0;
  const lp = logp.f32;
  for (let i = 0; i < n; i++) {
    if (l2.f32[i]! > l1.f32[i]!) clipped++;
    const d = lp[i]! - oldLogp[i]!;
    kl += 0.5 * d * d;
  }
  return { loss, stats: { clipFrac: n ? clipped / n : 0, approxKl: n ? kl / n : 0 } };
}

/**
 * The clipped value loss, summed over tokens: ½ max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²).
 * Stat: the share of tokens where the clipped term was the larger.
 */
export function ppoValueLoss(values: Tensor, oldValues: Float32Array, returns: Float32Array, eps: number): { loss: Tensor; clipFrac: number } {
  const shape = values.shape, R = Tensor.from(returns, shape), Vold = Tensor.from(oldValues, shape);
  const vClip = op.add(Vold, op.clamp(op.sub(values, Vold), -eps, eps));
  const a = op.square(op.sub(values, R)), b = op.square(op.sub(vClip, R));
  let clipped = 0;
  for (let i = 0; i < a.size; i++) if (b.f32[i]! > a.f32[i]!) clipped++;
  return { loss: op.scale(op.sum(op.maximum(a, b)), 0.5), clipFrac: a.size ? clipped / a.size : 0 };
}

/** Fraction of the variance of `returns` that `values` explain: 1 − Var(R − V)/Var(R). */
export function explainedVariance(values: ArrayLike<number>, returns: ArrayLike<number>): number {
  const n = returns.length;
  if (n < 2) return NaN;
  let mr = 0, md = 0;
  for (let i = 0; i < n; i++) { mr += returns[i]!; md += returns[i]! - values[i]!; }
  mr /= n; md /= n;
  let vr = 0, vd = 0;
  for (let i = 0; i < n; i++) { vr += (returns[i]! - mr) ** 2; vd += (returns[i]! - values[i]! - md) ** 2; }
  return vr === 0 ? NaN : 1 - vd / vr;
}

/**
 * Adaptive KL coefficient (Ziegler et al. 2019): β ← β·(1 + clip((KL − target)/target, −0.2, 0.2)·n/horizon),
 * n the responses since the last update.
 */
export function adaptKl(beta: number, kl: number, target: number, n: number, horizon: number): number {
  const e = Math.max(-0.2, Math.min(0.2, (kl - target) / target));
  return beta * (1 + (e * n) / horizon);
}

// ---------------------------------------------------------------- DPO

export type DpoLossType = 'sigmoid' | 'ipo';

/**
 * DPO (Rafailov et al. 2023), summed over pairs, with h = (log π_c − log π_ref,c) − (log π_r − log π_ref,r):
 *   sigmoid: −log σ(β·h)        IPO (Azar et al. 2023): (h − 1/(2β))²
 * With rpo, α times the chosen response's negative log-likelihood per token is added (RPO). Implicit
 * rewards β·(log π − log π_ref) of each side, and Σ of that per-token NLL, are returned for the logs.
 */
export function dpoLoss(chosen: Tensor, rejected: Tensor, refChosen: Float32Array, refRejected: Float32Array, beta: number, type: DpoLossType = 'sigmoid', rpo?: { alpha: number; chosenLengths: Float32Array }): { loss: Tensor; rewardsChosen: Float32Array; rewardsRejected: Float32Array; nll: number } {
  const shape = chosen.shape;
  const lc = op.sub(chosen, Tensor.from(refChosen, shape)), lr = op.sub(rejected, Tensor.from(refRejected, shape));
  const h = op.sub(lc, lr);
  let loss = type === 'sigmoid' ? op.neg(op.sum(op.logsigmoid(op.scale(h, beta)))) : op.sum(op.square(op.addScalar(h, -1 / (2 * beta))));
  // RPO (Pang et al. 2024, eq. 3): + α · Σ −log π(y_w|x) / |y_w|; the sum is logged even at α = 0
  const perToken = rpo ? rpo.chosenLengths.map((n) => -1 / n) : null;
  if (rpo && rpo.alpha > 0) loss = op.add(loss, op.scale(op.sum(op.mul(chosen, Tensor.from(perToken!, shape))), rpo.alpha));
  const nll = perToken ? perToken.reduce((a, w, i) => a + w * chosen.f32[i]!, 0) : 0;
  return { loss, rewardsChosen: lc.f32.map((x) => beta * x), rewardsRejected: lr.f32.map((x) => beta * x), nll };
}

// ---------------------------------------------------------------- GRPO

/**
 * GRPO's per-token objective, summed over tokens: the clipped ratio loss with each response's
 * advantage on its tokens, plus β·k3 KL to the reference when β > 0 (β = 0 needs no reference).
 */
export function grpoLoss(logp: Tensor, oldLogp: Float32Array, adv: Float32Array, eps: number, beta: number, refLogp: Float32Array | null): { loss: Tensor; stats: ClipStats & { kl: number } } {
  const pol = ppoPolicyLoss(logp, oldLogp, adv, eps);
  if (!(beta > 0) || !refLogp) return { loss: pol.loss, stats: { ...pol.stats, kl: 0 } };
  const kl = klK3(logp, refLogp);
  let mean = 0;
  for (let i = 0; i < kl.size; i++) mean += kl.f32[i]!;
  return { loss: op.add(pol.loss, op.scale(op.sum(kl), beta)), stats: { ...pol.stats, kl: kl.size ? mean / kl.size : 0 } };
}
