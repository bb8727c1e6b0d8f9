// `heed reward`: trains a reward model on rankings with the shared training loop, measures its
// pairwise accuracy on prompts it never trained on, sets the bias that centres the SFT model's
// responses at 0, and saves it as a Hugging Face …ForSequenceClassification folder.
import { join } from 'node:path';
import { Rng } from '../core/rng.js';
import { loadModel, saveModel } from '../models/load.js';
import type { Transformer } from '../models/transformer.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { RunDir } from '../train/checkpoint.js';
import { evalLoss, trainLoop } from '../train/loop.js';
import type { RewardRecipe, RunOptions } from '../train/recipes.js';
import {
  encodeRanking, pairwiseAccuracy, RankingSource, rankingLoss, scoreRankings, summarize, toRewardModel,
  type PairAccuracy, type RankedPrompt, type ScoreSummary,
} from './reward.js';

export interface RewardResult {
  outDir: string; steps: number; seconds: number; tokensPerSec: number;
  trainRankings: number; heldoutRankings: number;
  trainAccuracy: PairAccuracy; heldoutAccuracy: PairAccuracy;
  /** the bias added so the SFT responses' mean score is 0 */
  bias: number;
  /** scores of every response (train and held-out) after the bias */
  scores: ScoreSummary;
  bestVal: number | null; bestStep: number | null;
}

/** Prompts held out by a seeded draw over distinct prompts (all rankings of a prompt stay together). */
export function splitByPrompt<T extends { messages: unknown }>(items: readonly T[], fraction: number, seed: number): { train: T[]; heldout: T[] } {
  const keys = [...new Set(items.map((r) => JSON.stringify(r.messages)))];
  const held = new Set(new Rng(seed).shuffle(keys).slice(0, Math.round(keys.length * fraction)));
  return { train: items.filter((r) => !held.has(JSON.stringify(r.messages))), heldout: items.filter((r) => held.has(JSON.stringify(r.messages))) };
}

export function trainRewardModel(r: RewardRecipe, modelDir: string, rankings: readonly RankedPrompt[], run0: RunOptions, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): RewardResult {
  const usable = rankings.filter((x) => x.groups.length > 1);
  if (usable.length < 2) throw new Error(`${r.data || 'the rankings'}: ${usable.length} ranking${usable.length === 1 ? '' : 's'} with a preference; the reward model needs at least 2`);
  const { train, heldout } = splitByPrompt(usable, r.heldoutFraction, r.seed);
  if (!train.length) throw new Error(`heldoutFraction ${r.heldoutFraction} leaves no prompt to train on`);
  const run = new RunDir(run0.out), record = { ...r, model: modelDir, rankings: usable.length };
  run.check(record, run0);
  const loaded = loadModel(modelDir);
  const model: Transformer = toRewardModel(loaded.model, r.seed), tok = loaded.tok;
  const enc = (xs: readonly RankedPrompt[]) => xs.map((x) => encodeRanking(tok, x, r.maxLength));
  const trainEnc = enc(train), heldEnc = enc(heldout);
  run.start(record, run0);
  if (r.method === 'full') model.trainAll();
  else {
    model.addLora(r.lora, r.seed);
    model.params.get('score.weight')!.requiresGrad = true;
  }
  const source = new RankingSource(trainEnc, r.batchSize, r.seed, r.mode);
  const steps = r.steps || Math.max(1, Math.ceil((r.epochs * source.length) / (r.batchSize * r.gradAccum)));
  log(`reward: ${train.length} training rankings (${source.length} ${r.mode === 'kway' ? 'rankings' : 'pairs'} as examples), ${heldout.length} held-out; ${r.method}, ${steps} steps`);
  const lossOpts = { centerCoef: r.centerCoef, margin: r.margin };
  const valSet = heldEnc.length ? heldEnc : trainEnc.slice(0, 32);
  const evaluate = () => ({ loss: evalLoss([valSet], (b) => rankingLoss(model, b, lossOpts, false)), accuracy: pairwiseAccuracy(model, valSet).accuracy });
  const save = (dir: string, bias: number) => {
    const m = model.lora.size ? mergedCopy(model) : model;
    m.cfg.scoreBias = bias;
    saveModel(dir, m, tok.tokenizer, { chatTemplate: tok.chatTemplate?.source ?? null });
  };
  const res = trainLoop({
    run, params: model.trainable(), data: source, lossOf: (b) => rankingLoss(model, b, lossOpts, true), steps, lr: r.lr,
    warmup: Math.max(1, Math.floor(steps * r.warmupRatio)), weightDecay: r.weightDecay, betas: [0.9, 0.999], gradAccum: r.gradAccum,
    evalEvery: r.evalEvery, evaluate, saveEvery: r.evalEvery, resume: run0.resume ?? false,
    rngs: { dropout: model.dropoutRng }, label: `reward ${r.mode}`, quiet: run0.quiet ?? false,
  });
  // InstructGPT: a bias so that the SFT model's own responses score 0 on average
  const all = [...trainEnc, ...heldEnc];
  const raw = scoreRankings(model, all).flat();
  const bias = r.normalize ? -raw.reduce((a, b) => a + b, 0) / raw.length : 0;
  model.cfg.scoreBias = bias;
  const trainAccuracy = pairwiseAccuracy(model, trainEnc), heldoutAccuracy = heldEnc.length ? pairwiseAccuracy(model, heldEnc) : { accuracy: NaN, pairs: 0, rankings: 0, meanMargin: NaN };
  const dist = summarize(raw.map((x) => x + bias));
  save(join(run0.out, 'final'), bias);
  const out: RewardResult = {
    outDir: run0.out, steps: res.steps, seconds: res.seconds, tokensPerSec: res.tokensPerSec, trainRankings: train.length, heldoutRankings: heldout.length,
    trainAccuracy, heldoutAccuracy, bias, scores: dist, bestVal: res.bestVal, bestStep: res.bestStep,
  };
  writeJsonAtomic(join(run0.out, 'result.json'), out);
  log(`reward: ${res.steps} steps in ${res.seconds.toFixed(0)}s; pairwise accuracy train ${(100 * trainAccuracy.accuracy).toFixed(1)}% (${trainAccuracy.pairs} pairs), held-out ${(100 * heldoutAccuracy.accuracy).toFixed(1)}% (${heldoutAccuracy.pairs} pairs on ${heldout.length} prompts never trained on); bias ${bias.toFixed(3)}; scores mean ${dist.mean.toFixed(3)} sd ${dist.std.toFixed(3)}; model in ${join(run0.out, 'final')}`);
  return out;
}

/** A copy of a LoRA reward model with its adapters folded in (the training model keeps them). */
function mergedCopy(m: Transformer): Transformer {
  const params = new Map([...m.params].map(([k, t]) => [k, t.clone()]));
  const c = new (m.constructor as typeof Transformer)({ ...m.cfg }, params, new Map(m.frozenNF4));
  for (const [k, l] of m.lora) c.lora.set(k, { A: l.A.clone(), B: l.B.clone(), scale: l.scale });
  c.loraConfig = m.loraConfig;
  c.mergeLora();
  return c;
}

