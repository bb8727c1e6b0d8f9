// `heed dpo`: Direct Preference Optimization (Rafailov et al. 2023) and IPO on preference pairs, or on
// rankings through all the pairs they imply, with the loss on response tokens only:
//
//   L_DPO = −E log σ(β·[(log π_θ(y_w|x) − log π_ref(y_w|x)) − (log π_θ(y_l|x) − log π_ref(y_l|x))])
//
// With rpoAlpha > 0, α times the chosen response's negative log-likelihood per token is added (RPO,
// Pang et al. 2024), which keeps DPO from lowering the likelihood of the answers it prefers.
// The reference log-probs are computed once per example before training (the policy at step 0 is
// the reference, so full fine-tuning needs no second copy of the model; LoRA's reference is the
// same weights with adapters off). One training loop, as every other stage.
import { join } from 'node:path';
import * as op from '../core/ops.js';
import { loadModel, saveModel } from '../models/load.js';
import { saveAdapter } from '../models/peft.js';
import { scoredBatch, sequenceLogprobs } from '../models/logprobs.js';
import type { Transformer } from '../models/transformer.js';
import type { TokenizerFolder } from '../tokenizer/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { RunDir } from '../train/checkpoint.js';
import { EpochOrder, trainLoop, type BatchSource, type LossReport } from '../train/loop.js';
import type { DpoRecipe, RunOptions } from '../train/recipes.js';
import { dpoLoss } from './algos.js';
import { encodeRanking, impliedPairs, type RankedPrompt } from './reward.js';
import { splitByPrompt } from './reward-train.js';

/** A preference pair as tokens, with its reference log-probs once computed. */
export interface EncodedPair { prompt: number[]; chosen: number[]; rejected: number[]; refChosen: number; refRejected: number }

/** Every pair the rankings imply, as tokens (ref log-probs still to compute). */
export function encodePairs(tok: TokenizerFolder, rankings: readonly RankedPrompt[], maxLength: number): EncodedPair[] {
  return rankings.flatMap((r) => {
    const e = encodeRanking(tok, r, maxLength);
    return impliedPairs(e.groups).map(([w, l]) => ({ prompt: e.prompt, chosen: e.responses[w]!, rejected: e.responses[l]!, refChosen: 0, refRejected: 0 }));
  });
}

/** Σ log π of chosen and rejected responses (2B rows in one batch); differentiable with grad. */
function pairLogprobs(model: Transformer, pairs: readonly EncodedPair[], o: { grad: boolean; adapters?: boolean; training?: boolean }) {
  const b = scoredBatch([...pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), ...pairs.map((p) => ({ prompt: p.prompt, response: p.rejected }))]);
  const s = sequenceLogprobs(model, b, { grad: o.grad, adapters: o.adapters ?? true, training: o.training ?? false });
  const n = pairs.length;
  return { chosen: op.narrow(s, 0, 0, n), rejected: op.narrow(s, 0, n, n), tokens: b.B * b.T };
}

/** Fills each pair's reference log-probs (no grad; adapters off), in batches. */
export function computeReference(model: Transformer, pairs: EncodedPair[], batch = 8): void {
  for (let i = 0; i < pairs.length; i += batch) {
    const part = pairs.slice(i, i + batch), lp = pairLogprobs(model, part, { grad: false, adapters: false });
    part.forEach((p, j) => { p.refChosen = lp.chosen.f32[j]!; p.refRejected = lp.rejected.f32[j]!; });
  }
}

/** DPO's loss over a micro-batch of pairs, summed; stats: implicit rewards, margin, accuracy. */
export function dpoBatchLoss(model: Transformer, pairs: readonly EncodedPair[], r: Pick<DpoRecipe, 'beta' | 'loss'> & { rpoAlpha?: number }, training: boolean): LossReport {
  const lp = pairLogprobs(model, pairs, { grad: training, training });
  const rpo = { alpha: r.rpoAlpha ?? 0, chosenLengths: Float32Array.from(pairs, (p) => p.chosen.length) };
  const d = dpoLoss(lp.chosen, lp.rejected, Float32Array.from(pairs, (p) => p.refChosen), Float32Array.from(pairs, (p) => p.refRejected), r.beta, r.loss, rpo);
  let acc = 0, margin = 0, rc = 0, rr = 0;
  for (let i = 0; i < pairs.length; i++) {
    const m = d.rewardsChosen[i]! - d.rewardsRejected[i]!;
    acc += m > 0 ? 1 : 0; margin += m; rc += d.rewardsChosen[i]!; rr += d.rewardsRejected[i]!;
  }
  return { loss: d.loss, count: pairs.length, tokens: lp.tokens, stats: { accuracy: acc, margin, reward_chosen: rc, reward_rejected: rr, chosen_nll: d.nll } };
}

class PairSource implements BatchSource<EncodedPair[]> {
  private readonly order: EpochOrder;
  constructor(private readonly pairs: readonly EncodedPair[], private readonly size: number, seed: number) { this.order = new EpochOrder(pairs.length, seed); }
  next(): EncodedPair[] { return Array.from({ length: this.size }, () => this.pairs[this.order.next()]!); }
  state(): unknown { return this.order.state(); }
  load(s: unknown): void { this.order.load(s); }
}

export interface PreferenceAccuracy { accuracy: number; pairs: number; loss: number; margin: number }

/** How often the implicit reward prefers the chosen response, on pairs (no grad). */
export function implicitAccuracy(model: Transformer, pairs: readonly EncodedPair[], r: Pick<DpoRecipe, 'beta' | 'loss'>, batch = 8): PreferenceAccuracy {
  let acc = 0, loss = 0, margin = 0;
  for (let i = 0; i < pairs.length; i += batch) {
    const rep = dpoBatchLoss(model, pairs.slice(i, i + batch), r, false);
    acc += rep.stats!.accuracy!; loss += rep.loss.item(); margin += rep.stats!.margin!;
  }
  const n = Math.max(1, pairs.length);
  return { accuracy: acc / n, pairs: pairs.length, loss: loss / n, margin: margin / n };
}

export interface DpoResult { outDir: string; steps: number; plannedSteps: number; seconds: number; tokensPerSec: number; trainPairs: number; heldoutPairs: number; heldout: PreferenceAccuracy; train: PreferenceAccuracy; before: PreferenceAccuracy; bestVal: number | null; bestStep: number | null }

export function trainDpo(r: DpoRecipe, modelDir: string, rankings: readonly RankedPrompt[], run0: RunOptions, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): DpoResult {
  const { train, heldout } = splitByPrompt(rankings.filter((x) => x.groups.length > 1), r.heldoutFraction, r.seed);
  const run = new RunDir(run0.out), record = { ...r, model: modelDir, rankings: rankings.length };
  run.check(record, run0);
  const { model, tok } = loadModel(modelDir, { nf4: r.method === 'qlora' });
  const trainPairs = encodePairs(tok, train, r.maxLength), heldPairs = encodePairs(tok, heldout, r.maxLength);
  if (trainPairs.length < 1) throw new Error(`${r.data || 'the data'}: no preference pair to train on (${rankings.length} rankings)`);
  run.start(record, run0);
  if (r.method === 'full') model.trainAll(); else model.addLora(r.lora, r.seed);
  // before any step the policy is the reference: its log-probs are the reference's, computed once
  computeReference(model, trainPairs);
  computeReference(model, heldPairs);
  const evalPairs = heldPairs.length ? heldPairs : trainPairs.slice(0, 64);
  const before = implicitAccuracy(model, evalPairs, r);
  const steps = r.steps || Math.max(1, Math.ceil((r.epochs * trainPairs.length) / (r.batchSize * r.gradAccum)));
  log(`dpo (${r.loss}${r.rpoAlpha ? ` + RPO α=${r.rpoAlpha}` : ''}, β=${r.beta}): ${trainPairs.length} training pairs, ${heldPairs.length} held-out; ${r.method}, ${steps} steps`);
  const save = (dir: string) => (r.method === 'full' ? saveModel(dir, model, tok.tokenizer, { chatTemplate: tok.chatTemplate?.source ?? null }) : saveAdapter(dir, model, modelDir));
  const res = trainLoop({
    run, params: model.trainable(), data: new PairSource(trainPairs, r.batchSize, r.seed), lossOf: (b) => dpoBatchLoss(model, b, r, true), steps, lr: r.lr,
    ...(r.timeBudgetSec ? { timeBudgetSec: r.timeBudgetSec } : {}), warmupRatio: r.warmupRatio, weightDecay: r.weightDecay, betas: [0.9, 0.999], gradAccum: r.gradAccum,
    evalEvery: r.evalEvery, evaluate: () => { const a = implicitAccuracy(model, evalPairs, r); return { loss: a.loss, accuracy: a.accuracy, margin: a.margin }; },
    onBest: () => save(join(run0.out, 'best')), saveEvery: r.evalEvery, resume: run0.resume ?? false, rngs: { dropout: model.dropoutRng },
    label: `dpo ${r.method}`, quiet: run0.quiet ?? false,
  });
  save(join(run0.out, 'final'));
  const out: DpoResult = {
    outDir: run0.out, steps: res.steps, plannedSteps: res.plannedSteps ?? steps, seconds: res.seconds, tokensPerSec: res.tokensPerSec, trainPairs: trainPairs.length, heldoutPairs: heldPairs.length,
    heldout: implicitAccuracy(model, evalPairs, r), train: implicitAccuracy(model, trainPairs.slice(0, 256), r), before, bestVal: res.bestVal, bestStep: res.bestStep,
  };
  writeJsonAtomic(join(run0.out, 'result.json'), out);
  log(`dpo: ${res.steps} steps in ${res.seconds.toFixed(0)}s; implicit-reward accuracy on held-out pairs ${(100 * before.accuracy).toFixed(1)}% → ${(100 * out.heldout.accuracy).toFixed(1)}% (${heldPairs.length} pairs), train ${(100 * out.train.accuracy).toFixed(1)}%; ${r.method === 'full' ? 'model' : 'adapter'} in ${join(run0.out, 'final')}`);
  return out;
}
