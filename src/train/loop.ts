// The one training loop: parameters and a `lossOf(batch) → {loss, count}` over a batch source, so
// pretraining, SFT, the reward model and DPO are each a loss and a source. It does gradient
// accumulation (every micro-batch's summed loss backpropagated, the gradients divided once by the
// accumulated batch's count), warmup + cosine LR, clipping, periodic validation with the best step
// kept, checkpoints with exact resume, a time budget, metrics.jsonl and a progress bar with ETA.
import { backward, noGrad } from '../core/autograd.js';
import { Rng, type RngState } from '../core/rng.js';
import { crossEntropy, reshape } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { AdamW, clipGradNorm, cosineLR } from '../nn/optim.js';
import type { Transformer } from '../models/transformer.js';
import type { RunDir } from './checkpoint.js';
import { Progress } from './progress.js';

/** One LM micro-batch: B rows of T tokens; targets −100 where no loss is taken. */
export interface Batch {
  ids: Int32Array; targets: Int32Array; B: number; T: number;
  /** packed-sequence ids (B·T): attention and positions stay within each sequence */
  segments?: Int32Array;
}

/** A deterministic stream of batches whose position can be saved and restored. */
export interface BatchSource<B = Batch> {
  next(): B;
  state(): unknown;
  load(state: unknown): void;
}

/**
 * What a stage's loss reports for one micro-batch: the loss summed over its `count` items (tokens,
 * pairs, rankings), the tokens it processed, and optional statistics summed over the same items
 * (logged as their mean over the accumulated batch).
 */
export interface LossReport { loss: Tensor; count: number; tokens?: number; stats?: Record<string, number> }

/** Validation: a loss (lower is better, picks the best step) and other figures to log. */
export type EvalReport = number | { loss: number; [k: string]: number };

/**
 * Row indices 0..count−1 in a fresh seeded order each epoch (or in order, shuffle=false), with a
 * position that checkpoints save and restore: the data cursor of every batch source.
 */
export class EpochOrder {
  private epoch = 0; private pos = 0; private order = new Int32Array(0);
  constructor(readonly count: number, private readonly seed: number, private readonly shuffle = true) {
    if (!(count > 0)) throw new Error('heed: no training rows (the data is empty)');
    this.reorder();
  }
  private reorder(): void {
    const idx = Array.from({ length: this.count }, (_, i) => i);
    this.order = Int32Array.from(this.shuffle ? new Rng(this.seed + this.epoch).shuffle(idx) : idx);
  }
  next(): number {
    if (this.pos >= this.order.length) { this.epoch++; this.pos = 0; this.reorder(); }
    return this.order[this.pos++]!;
  }
  state(): unknown { return { epoch: this.epoch, pos: this.pos }; }
  load(s: unknown): void { const st = s as { epoch: number; pos: number }; this.epoch = st.epoch; this.pos = st.pos; this.reorder(); }
}

export interface LoopOptions<B> {
  run: RunDir;
  /** what the optimizer updates, by name (checkpoints store them under these names) */
  params: Array<[string, Tensor]>;
  data: BatchSource<B>;
  lossOf: (batch: B) => LossReport;
  /**
   * total optimizer steps; with timeBudgetSec and no steps, fixed from the speed of the first steps.
   * With both, the budget bounds the run: when the first steps show that `steps` will not fit, the
   * schedule is shortened to what fits (so the learning rate still decays to its end) and the run
   * says so; should it still overrun by a quarter, it stops there.
   */
  steps?: number;
  timeBudgetSec?: number;
  lr: number;
  warmup?: number;
  /** warm-up as a share of the steps (instead of warmup), kept when a time budget shortens the run */
  warmupRatio?: number;
  minLrRatio?: number;
  weightDecay?: number;
  betas?: [number, number];
  gradAccum?: number;
  clip?: number;
  evalEvery?: number;
  evaluate?: () => EvalReport;
  /** called with the step when validation improves (e.g. to export the best model) */
  onBest?: (step: number, val: number) => void;
  saveEvery?: number;
  resume?: boolean;
  /** random streams the loss draws from (LoRA dropout), saved and restored with checkpoints */
  rngs?: Record<string, Rng>;
  label?: string;
  quiet?: boolean;
}

export interface LoopResult { steps: number; lastLoss: number; bestVal: number | null; bestStep: number | null; seconds: number; tokensPerSec: number; tokens: number; stoppedEarly: boolean; plannedSteps?: number }

/**
 * Loss of an LM batch, summed over its target tokens, with logits computed only where there are
 * targets when they are sparse (SFT trains on answers, a quarter of the tokens or less; the LM head
 * is a large share of the step).
 */
export function lmLoss(model: Transformer, b: Batch, training = true): LossReport {
  const seg = b.segments ? { segments: b.segments } : {};
  let n = 0;
  for (let i = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) n++;
  const tokens = b.B * b.T;
  if (n === 0 || n === b.targets.length) {
    const { logits } = model.forward(b.ids, b.B, b.T, { training, ...seg });
    return { loss: crossEntropy(reshape(logits, [b.B * b.T, -1]), b.targets, 1), count: n, tokens };
  }
  const rows = new Int32Array(n), targets = new Int32Array(n);
  for (let i = 0, j = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) { rows[j] = i; targets[j++] = b.targets[i]!; }
  const { logits } = model.forward(b.ids, b.B, b.T, { training, ...seg, rows });
  return { loss: crossEntropy(logits, targets, 1), count: n, tokens };
}

/** Mean loss per item over batches (no grad, not training). */
export function evalLoss<B>(batches: readonly B[], lossOf: (b: B) => LossReport): number {
  return noGrad(() => {
    let sum = 0, n = 0;
    for (const b of batches) {
      const r = lossOf(b);
      if (!r.count) continue;
      sum += r.loss.item();
      n += r.count;
    }
    return n ? sum / n : NaN;
  });
}

/** Mean LM cross-entropy of the model over batches. */
export function evalLmLoss(model: Transformer, batches: readonly Batch[]): number {
  return evalLoss(batches, (b) => lmLoss(model, b, false));
}

export const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * The optimizer step every loop shares: the accumulated gradients of summed losses are divided by
 * their item count and clipped (one pass), non-finite values stop the run with a clear message,
 * then AdamW updates. Returns the gradient norm before clipping.
 */
export function optimizerStep(opt: AdamW, tensors: readonly Tensor[], count: number, clip: number, what: { label: string; step: number; loss: number }): number {
  const gradNorm = clipGradNorm([...tensors], clip, 1 / Math.max(count, 1));
  if (!Number.isFinite(what.loss) || !Number.isFinite(gradNorm)) throw new Error(`${what.label}: the loss became ${what.loss} (gradient norm ${gradNorm}) at step ${what.step}; lower the learning rate (${opt.lr}) or check the data`);
  opt.update();
  return gradNorm;
}

export function trainLoop<B>(o: LoopOptions<B>): LoopResult {
  const { run, data, params } = o, accum = o.gradAccum ?? 1, label = o.label ?? 'train';
  if (params.length === 0) throw new Error('heed: nothing to train (no parameter requires grad)');
  if (!(accum >= 1 && Number.isInteger(accum))) throw new Error(`heed: gradAccum must be a positive integer, got ${accum}`);
  const opt = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay ?? 0, betas: o.betas ?? [0.9, 0.95] });
  const rngs = o.rngs ?? {};
  let step = 0, bestVal: number | null = null, bestStep: number | null = null, total = o.steps ?? 0, tokens = 0;
  if (o.resume && run.hasCheckpoint()) {
    const st = run.loadCheckpoint(params, opt);
    step = st.step; total = st.total as number; tokens = st.tokens as number;
    bestVal = (st.bestVal as number | null) ?? null; bestStep = (st.bestStep as number | null) ?? null;
    data.load(st.data);
    const saved = (st.rngs ?? {}) as Record<string, RngState>;
    for (const [k, r] of Object.entries(rngs)) if (saved[k]) r.setState(saved[k]);
    run.truncateMetrics(step);
    if (!o.quiet) process.stderr.write(`${label}: resumed from step ${step} of ${total}\n`);
  } else {
    // a fresh start (or a resume with nothing to resume): rows a killed earlier attempt logged go
    run.truncateMetrics(0);
    if (o.resume && !o.quiet) process.stderr.write(`${label}: no checkpoint in ${run.dir}, starting fresh\n`);
  }
  if (!total && !o.timeBudgetSec) throw new Error('heed: give the number of steps or a time budget');
  const warmupOf = (n: number) => (o.warmupRatio !== undefined ? Math.max(1, Math.floor(n * o.warmupRatio)) : o.warmup ?? Math.min(100, Math.max(1, Math.floor((n || 100) * 0.05))));
  let warmup = warmupOf(total);
  const t0 = Date.now(), startStep = step, startTokens = tokens;
  const progress = o.quiet ? null : new Progress(label, total || 0);
  let lastLoss = NaN, warmT = 0, stoppedEarly = false, evalSecs = 0, evals = 0;
  const cap = o.steps && o.timeBudgetSec ? 1.25 * o.timeBudgetSec : 0;
  let shortened = 0;
  const rngStates = () => Object.fromEntries(Object.entries(rngs).map(([k, r]) => [k, r.getState()]));
  const checkpoint = () => run.saveCheckpoint(step, params, opt, { total, tokens, bestVal, bestStep, data: data.state(), rngs: rngStates() });
  const tensors = params.map(([, t]) => t);
  // the schedule cut to `fits` steps (its learning rate still decays to the end); a run given its
  // steps says so once and records them as planned. `why` ends the message.
  const shortenTo = (fits: number, why: string) => {
    if (o.steps && !shortened) {
      shortened = total;
      if (!o.quiet) process.stderr.write(`\n${label}: ${total} steps do not fit the time budget of ${o.timeBudgetSec}s${why}: the schedule is shortened to ${fits} steps\n`);
    }
    total = fits;
    if (o.warmupRatio !== undefined) warmup = warmupOf(total);
    progress?.setTotal(total);
  };
  while (!total || step < total) {
    opt.lr = cosineLR(step, total || 1e9, o.lr, warmup, o.minLrRatio ?? 0.1);
    opt.zeroGrad();
    let lossSum = 0, count = 0;
    const stats: Record<string, number> = {};
    for (let i = 0; i < accum; i++) {
      const r = o.lossOf(data.next());
      if (r.count > 0) backward(r.loss);
      lossSum += r.loss.item();
      count += r.count;
      tokens += r.tokens ?? r.count;
      for (const [k, v] of Object.entries(r.stats ?? {})) stats[k] = (stats[k] ?? 0) + v;
    }
    // every micro-batch's loss was a sum: one division by the accumulated count makes it the mean
    const loss = lossSum / Math.max(count, 1);
    const gradNorm = optimizerStep(opt, tensors, count, o.clip ?? 1.0, { label, step: step + 1, loss });
    step++;
    lastLoss = loss;
    const secs = (Date.now() - t0) / 1000, tokS = (tokens - startTokens) / Math.max(secs, 1e-3);
    if (o.timeBudgetSec && (!total || startStep === 0)) {
      // fix (or, with steps given, shorten) the schedule's length from the speed of steps 3..10 (the
      // first ones pay for warm-up); it is saved with the checkpoint, so a resume keeps the schedule
      if (step - startStep === 3) warmT = secs;
      if (step - startStep === 10) {
        const rate = 7 / Math.max(secs - warmT, 1e-3), fits = Math.max(step + 1, step + Math.floor((o.timeBudgetSec - secs) * rate));
        if (!total || fits < total) shortenTo(fits, ' at this machine\'s speed');
      }
    }
    const row: Record<string, number | null> = { loss: round(loss, 5), lr: Number(opt.lr.toExponential(4)), grad_norm: round(gradNorm, 4), tokens };
    for (const [k, v] of Object.entries(stats)) row[k] = round(v / Math.max(count, 1), 5);
    let val: number | null = null;
    if (o.evaluate && o.evalEvery && (step % o.evalEvery === 0 || step === total)) {
      const e0 = Date.now(), ev = o.evaluate();
      if (step - startStep > 3) { evalSecs += (Date.now() - e0) / 1000; evals++; }
      // the plan made at step 10 timed steps only: once evaluations are seen, it counts them too
      if (o.timeBudgetSec && total && startStep === 0 && evals > 0 && step - startStep > 10 && step < total) {
        const now = (Date.now() - t0) / 1000, perStep = (now - warmT - evalSecs) / (step - startStep - 3) + evalSecs / evals / o.evalEvery;
        const fits = Math.max(step + 1, step + Math.floor((o.timeBudgetSec - now) / Math.max(perStep, 1e-6)));
        if (fits < total) shortenTo(fits, ' with its evaluations');
      }
      val = typeof ev === 'number' ? ev : ev.loss;
      row.val_loss = round(val, 5);
      if (typeof ev !== 'number') for (const [k, v] of Object.entries(ev)) if (k !== 'loss') row[`val_${k}`] = round(v, 5);
      if (bestVal === null || val < bestVal) { bestVal = val; bestStep = step; o.onBest?.(step, val); }
    }
    run.log({ step, ...row });
    progress?.update(step, { loss, val, tokS });
    if ((o.saveEvery && step % o.saveEvery === 0) || step === total) checkpoint();
    if (cap && step < total && secs > cap) {
      stoppedEarly = true;
      checkpoint();
      if (!o.quiet) process.stderr.write(`\n${label}: the time budget of ${o.timeBudgetSec}s is overrun by a quarter: stopping at step ${step} of ${total}\n`);
      break;
    }
  }
  progress?.stop();
  const seconds = (Date.now() - t0) / 1000;
  return { steps: step, lastLoss, bestVal, bestStep, seconds, tokensPerSec: (tokens - startTokens) / Math.max(seconds, 1e-3), tokens, stoppedEarly: stoppedEarly || shortened > 0, ...(shortened ? { plannedSteps: shortened } : {}) };
}
