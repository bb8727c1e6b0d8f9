// The training loop shared by pretraining, SFT and reward modelling: gradient accumulation with the
// loss normalised over every target token of the accumulated batch, warmup + cosine LR, clipping,
// periodic validation with the best step kept, checkpoints with exact resume, a time budget,
// metrics.jsonl and a progress bar with ETA and tokens/s.
import { backward, noGrad } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { crossEntropy, reshape } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { AdamW, clipGradNorm, cosineLR } from '../nn/optim.js';
import type { Transformer } from '../models/transformer.js';
import { RunDir } from './checkpoint.js';
import { Progress } from './progress.js';

/** One micro-batch: B rows of T tokens; targets −100 where no loss is taken. */
export interface Batch {
  ids: Int32Array; targets: Int32Array; B: number; T: number;
  /** packed-sequence ids (B·T): attention and positions stay within each sequence */
  segments?: Int32Array;
}

/** A deterministic stream of batches whose position can be saved and restored. */
export interface BatchSource {
  next(): Batch;
  state(): unknown;
  load(state: unknown): void;
}

/**
 * Row indices 0..count−1 in a fresh seeded order each epoch (or in order, shuffle=false), with a
 * position that checkpoints save and restore: the data cursor of every batch source.
 */
export class EpochOrder {
  private epoch = 0; private pos = 0; private order = new Int32Array(0);
  constructor(readonly count: number, private readonly seed: number, private readonly shuffle = true) { this.reorder(); }
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

export interface LoopOptions {
  run: RunDir;
  model: Transformer;
  data: BatchSource;
  /** total optimizer steps; with timeBudgetSec and no steps, fixed from the speed of the first steps */
  steps?: number;
  timeBudgetSec?: number;
  lr: number;
  warmup?: number;
  minLrRatio?: number;
  weightDecay?: number;
  betas?: [number, number];
  gradAccum?: number;
  clip?: number;
  evalEvery?: number;
  /** validation loss (lower is better) */
  evaluate?: () => number;
  /** called with the step when validation improves (e.g. to export the best model) */
  onBest?: (step: number, val: number) => void;
  saveEvery?: number;
  resume?: boolean;
  label?: string;
  /** for tests: SIGKILL this process right after this step (after any checkpoint at it) */
  killAfterStep?: number;
  quiet?: boolean;
}

export interface LoopResult { steps: number; lastLoss: number; bestVal: number | null; bestStep: number | null; seconds: number; tokensPerSec: number; tokens: number }

function targetCount(b: Batch): number {
  let n = 0;
  for (let i = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) n++;
  return n;
}

/**
 * Loss of a batch, with logits computed only where there are targets when they are sparse (SFT
 * trains on answers, a quarter of the tokens or less; the LM head is a large share of the step).
 */
function batchLoss(model: Transformer, b: Batch, normalizer: number, training: boolean): Tensor {
  const seg = b.segments ? { segments: b.segments } : {};
  const n = targetCount(b);
  if (n === 0 || n === b.targets.length) {
    const { logits } = model.forward(b.ids, b.B, b.T, { training, ...seg });
    return crossEntropy(reshape(logits, [b.B * b.T, -1]), b.targets, normalizer);
  }
  const rows = new Int32Array(n), targets = new Int32Array(n);
  for (let i = 0, j = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) { rows[j] = i; targets[j++] = b.targets[i]!; }
  const { logits } = model.forward(b.ids, b.B, b.T, { training, ...seg, rows });
  return crossEntropy(logits, targets, normalizer);
}

/** Mean cross-entropy of the model over batches (no grad). */
export function evalLoss(model: Transformer, batches: Batch[]): number {
  return noGrad(() => {
    let sum = 0, n = 0;
    for (const b of batches) {
      const c = targetCount(b);
      if (!c) continue;
      sum += batchLoss(model, b, 1, false).item();
      n += c;
    }
    return n ? sum / n : NaN;
  });
}

export function trainLoop(o: LoopOptions): LoopResult {
  const { run, model, data } = o, accum = o.gradAccum ?? 1, label = o.label ?? 'train';
  const params = model.trainable();
  if (params.length === 0) throw new Error('heed: nothing to train (no parameter requires grad)');
  const opt = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay ?? 0, betas: o.betas ?? [0.9, 0.95] });
  let step = 0, bestVal: number | null = null, bestStep: number | null = null, total = o.steps ?? 0, tokens = 0;
  if (o.resume && run.hasCheckpoint()) {
    const st = run.loadCheckpoint(params, opt) as Record<string, unknown> & { step: number };
    step = st.step; total = st.total as number; tokens = st.tokens as number;
    bestVal = (st.bestVal as number | null) ?? null; bestStep = (st.bestStep as number | null) ?? null;
    data.load(st.data);
    if (st.dropRng) model.dropoutRng.setState(st.dropRng as ReturnType<typeof model.dropoutRng.getState>);
    run.truncateMetrics(step);
    if (!o.quiet) process.stderr.write(`${label}: resumed from step ${step} of ${total}\n`);
  } else if (o.resume && !o.quiet) process.stderr.write(`${label}: no checkpoint in ${run.dir}, starting fresh\n`);
  if (!total && !o.timeBudgetSec) throw new Error('heed: give the number of steps or a time budget');
  const warmup = o.warmup ?? Math.min(100, Math.max(1, Math.floor((total || 100) * 0.05)));
  const t0 = Date.now(), startStep = step, startTokens = tokens;
  const progress = o.quiet ? null : new Progress(label, total || 0);
  let lastLoss = NaN, warmT = 0;
  const checkpoint = () => run.saveCheckpoint(step, params, opt, { total, tokens, bestVal, bestStep, data: data.state(), dropRng: model.dropoutRng.getState() });
  while (!total || step < total) {
    opt.lr = cosineLR(step, total || 1e9, o.lr, warmup, o.minLrRatio ?? 0.1);
    const micro: Batch[] = [];
    for (let i = 0; i < accum; i++) micro.push(data.next());
    const denom = Math.max(1, micro.reduce((s, b) => s + targetCount(b), 0));
    let loss = 0;
    opt.zeroGrad();
    for (const b of micro) {
      const l = batchLoss(model, b, denom, true);
      backward(l);
      loss += l.item();
      tokens += b.B * b.T;
    }
    const gradNorm = clipGradNorm(params.map(([, t]) => t), o.clip ?? 1.0);
    opt.update();
    step++;
    lastLoss = loss;
    const secs = (Date.now() - t0) / 1000, tokS = (tokens - startTokens) / Math.max(secs, 1e-3);
    if (!total && o.timeBudgetSec) {
      // fix the schedule's length from the speed of steps 3..10 (the first ones pay for warm-up);
      // it is saved with the checkpoint, so a resume keeps the same schedule
      if (step - startStep === 3) warmT = secs;
      if (step - startStep === 10) {
        const rate = 7 / Math.max(secs - warmT, 1e-3);
        total = Math.max(step + 1, step + Math.floor((o.timeBudgetSec - secs) * rate));
        progress?.setTotal(total);
      }
    }
    const row: Record<string, number | null> = { loss: Number(loss.toFixed(5)), lr: Number(opt.lr.toExponential(4)), grad_norm: Number(gradNorm.toFixed(4)), tokens };
    let val: number | null = null;
    if (o.evaluate && o.evalEvery && (step % o.evalEvery === 0 || step === total)) {
      val = o.evaluate();
      row.val_loss = Number(val.toFixed(5));
      if (bestVal === null || val < bestVal) { bestVal = val; bestStep = step; o.onBest?.(step, val); }
    }
    run.log({ step, ...row });
    progress?.update(step, { loss, val, tokS });
    if ((o.saveEvery && step % o.saveEvery === 0) || step === total) checkpoint();
    if (o.killAfterStep === step) process.kill(process.pid, 'SIGKILL');
  }
  progress?.stop();
  const seconds = (Date.now() - t0) / 1000;
  return { steps: step, lastLoss, bestVal, bestStep, seconds, tokensPerSec: (tokens - startTokens) / Math.max(seconds, 1e-3), tokens };
}

