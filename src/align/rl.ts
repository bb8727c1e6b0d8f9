// PPO (InstructGPT's RLHF) and GRPO: one short loop that alternates rollouts and updates, sharing
// the rollout path, the log-prob path, the optimizer step, metrics.jsonl and checkpoints with every
// other stage. InstructGPT's objective (eq. 2), maximised:
//
//   objective(φ) = E_{(x,y)~π_φ}[ r_θ(x, y) − β·log(π_φ(y|x) / π_SFT(y|x)) ] + γ·E_{x~D_pretrain}[ log π_φ(x) ]
//
// PPO: per-token reward −β·KL_t with the reward-model score added at the end-of-turn token, GAE
// advantages from a value model initialised from the reward model, clipped policy and value
// losses, several minibatch epochs per rollout batch, a fixed or adaptive β, and PPO-ptx (γ > 0).
// GRPO: G samples per prompt, group-relative advantages on every token of a response, the clipped
// ratio loss plus β·k3 KL to the reference (β = 0 allowed).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backward, noGrad } from '../core/autograd.js';
import * as op from '../core/ops.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { AdamW } from '../nn/optim.js';
import { loadModel, saveModel, type LoadedModel } from '../models/load.js';
import { saveAdapter } from '../models/peft.js';
import { scoredBatch, tokenLogprobs, type ScoredBatch } from '../models/logprobs.js';
import type { Transformer } from '../models/transformer.js';
import { buildCorpus, releaseDataCaches } from '../data/index.js';
import { chunkDocuments } from '../data/pack.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { RunDir } from '../train/checkpoint.js';
import { EpochOrder, evalLmLoss, lmLoss, optimizerStep, round, type Batch } from '../train/loop.js';
import { Progress } from '../train/progress.js';
import type { GrpoRecipe, PpoRecipe, RunOptions } from '../train/recipes.js';
import { replayRows } from '../train/sft.js';
import { adaptKl, explainedVariance, gae, groupAdvantages, klEstimate, ppoPolicyLoss, ppoValueLoss, whiten, grpoLoss } from './algos.js';
import { loadConstitution, RULE_SCORES, type Candidate } from './judges.js';
import { answerCorrect } from '../data/score.js';
import { builtinPrompts, readTaskPrompts } from './prompts.js';
import { scoreBatch, scores, toRewardModel } from './reward.js';
import { promptIds, rollouts, type Rollout, type TaskPrompt } from './rollout.js';

type RlRecipe = PpoRecipe | GrpoRecipe;

/** One sampled response with everything the update needs, per response token. */
export interface Sample {
  prompt: number; roll: Rollout; ended: boolean;
  score: number;
  oldLogp: Float32Array; refLogp: Float32Array;
  /** PPO: value estimates, advantages and returns; GRPO: the response's advantage on every token */
  values: Float32Array; adv: Float32Array; returns: Float32Array;
}

// ---------------------------------------------------------------- rewards

/** A response's score from the recipe's reward sources (summed), before clipping and penalties. */
export function makeScorer(r: RlRecipe, rm: Transformer | null): (p: TaskPrompt, rolls: readonly Rollout[]) => number[] {
  const rules = r.rewards.includes('rules') ? loadConstitution().principles.filter((x) => x.rule) : [];
  return (p, rolls) => {
    const out = new Array<number>(rolls.length).fill(0);
    const cands: Candidate[] = rolls.map((x) => ({ text: x.text, endedTurn: x.finish === 'stop' }));
    if (r.rewards.includes('verifiable')) {
      if (p.answer === undefined) throw new Error('rewards "verifiable" needs prompts with known answers (the built-in mixture, or JSONL with "answer")');
      cands.forEach((c, i) => { out[i]! += c.endedTurn && verifiableCorrect(p, c) ? 1 : 0; });
    }
    if (rules.length) cands.forEach((c, i) => { out[i]! += rules.reduce((s, pr) => s + RULE_SCORES[pr.rule!](c, p, pr), 0) / rules.length; });
    if (rm) {
      const s = noGrad(() => scores(rm, scoreBatch(rolls.map((x) => ({ prompt: x.promptIds, response: x.response.length ? x.response : [x.promptIds[x.promptIds.length - 1]!] })))).f32);
      s.forEach((v, i) => { out[i]! += v; });
    }
    return out;
  };
}

/** The task's answer, by its family's metric (the verifiable judge's test, for one response). */
function verifiableCorrect(p: TaskPrompt, c: Candidate): boolean {
  return p.answer !== undefined && answerCorrect(c.text, p.answer, p.accept, p.metric ?? 'normalized');
}

// ---------------------------------------------------------------- measurements

export interface RlEval { score: number; kl: number; length: number; ended: number; accuracy: number | null; n: number }

/**
 * Greedy responses to held-out prompts: mean score (the recipe's reward sources), mean per-response
 * KL to the reference Σ_t (log π − log π_ref), length, share that ended their turn, and accuracy
 * where answers are known.
 */
export function evaluatePolicy(policy: Transformer, ref: Transformer, refAdapters: boolean, tok: LoadedModel['tok'], prompts: readonly TaskPrompt[], scorer: ReturnType<typeof makeScorer>, maxNewTokens: number): RlEval {
  const rolls = rollouts(policy, tok, prompts, { k: 1, sampling: { temperature: 0, maxNewTokens }, seed: 0, batch: 32 }).map((x) => x[0]!);
  const sc = prompts.map((p, i) => scorer(p, [rolls[i]!])[0]!);
  const kl = perResponseKl(policy, ref, refAdapters, rolls);
  let acc = 0, known = 0;
  prompts.forEach((p, i) => { if (p.answer !== undefined) { known++; if (rolls[i]!.finish === 'stop' && verifiableCorrect(p, { text: rolls[i]!.text, endedTurn: true })) acc++; } });
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return { score: mean(sc), kl: mean(kl), length: mean(rolls.map((x) => x.response.length)), ended: mean(rolls.map((x) => (x.finish === 'stop' ? 1 : 0))), accuracy: known ? acc / known : null, n: prompts.length };
}

/** Σ_t log π − log π_ref over each response's tokens. */
function perResponseKl(policy: Transformer, ref: Transformer, refAdapters: boolean, rolls: readonly Rollout[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < rolls.length; i += 16) {
    const part = rolls.slice(i, i + 16).filter((x) => x.response.length);
    if (!part.length) { out.push(...rolls.slice(i, i + 16).map(() => 0)); continue; }
    const b = scoredBatch(part.map((x) => ({ prompt: x.promptIds, response: x.response })));
    const lp = tokenLogprobs(policy, b), rl = tokenLogprobs(ref, b, { adapters: refAdapters });
    const sums = new Array<number>(part.length).fill(0);
    for (let j = 0; j < lp.row.length; j++) sums[lp.row[j]!]! += lp.logp.f32[j]! - rl.logp.f32[j]!;
    let k = 0;
    for (const x of rolls.slice(i, i + 16)) out.push(x.response.length ? sums[k++]! : 0);
  }
  return out;
}

/** Validation LM loss on held-out pretraining text (the alignment tax InstructGPT measured). */
export function pretrainValBatches(tok: LoadedModel['tok']['tokenizer'], sources: readonly ('sotu' | 'moby-dick' | 'wordnet' | 'almanac')[], rows: number, seqLen: number): Batch[] {
  const val = buildCorpus({ sources, valFraction: 0.03, seed: 0 }).val;
  const eos = tok.tokenToId('<|endoftext|>') ?? 0, enc: number[][] = [];
  for (let n = 0, i = 0; n < rows * seqLen + 1 && i < val.length; i++) { const ids = tok.encode(val[i]!); enc.push(ids); n += ids.length + 1; }
  releaseDataCaches();
  tok.clearCache();
  const w = chunkDocuments(enc, { seqLen, eosId: eos }).windows.slice(0, rows);
  const out: Batch[] = [];
  for (let i = 0; i < w.length; i += 4) {
    const part = w.slice(i, i + 4), B = part.length, ids = new Int32Array(B * seqLen), targets = new Int32Array(B * seqLen);
    part.forEach((x, b) => { ids.set(x.subarray(0, seqLen), b * seqLen); targets.set(x.subarray(1, seqLen + 1), b * seqLen); });
    out.push({ ids, targets, B, T: seqLen });
  }
  return out;
}

// ---------------------------------------------------------------- the loop

export interface RlResult {
  outDir: string; iterations: number; seconds: number;
  /** the time budget stopped the run before its iterations were done */
  stoppedEarly: boolean;
  /** before the first update and after the last, on the same held-out prompts */
  before: RlEval; after: RlEval;
  /** validation loss on pretraining text before and after (PPO-ptx's alignment tax) */
  pretrainLoss: { before: number; after: number };
  /** memory of the frozen reference copy (full fine-tuning; 0 for LoRA, whose reference is the same weights) */
  referenceBytes: number;
  /** seconds spent in rollouts, scoring and updates */
  time: { rollout: number; scoring: number; update: number };
  rolloutTokensPerSec: number;
}

/** Keeps the prompts that leave room for a response within the model's positions (saying how many did not). */
function fitting(tok: LoadedModel['tok'], limit: number, log: (s: string) => void) {
  return (ps: TaskPrompt[], what: string): TaskPrompt[] => {
    const ids = promptIds(tok, ps), keep = ps.filter((_, i) => ids[i]!.length <= limit);
    if (!keep.length) throw new Error(`${what}: every prompt is longer than the ${limit} tokens that leave room for a response`);
    if (keep.length < ps.length) log(`${ps.length - keep.length} of ${ps.length} prompts in ${what} are too long for the model and are left out`);
    return keep;
  };
}

function sameTokenizer(a: string, b: string): boolean {
  const h = (dir: string) => createHash('sha256').update(readFileSync(join(dir, 'tokenizer.json'))).digest('hex');
  return h(a) === h(b);
}

/** Checks that fail before any work starts. */
function checkRecipe(r: RlRecipe, policyDir: string): void {
  if (r.rewards.includes('model')) {
    if (!r.rewardModel) throw new Error('rewards "model" needs --reward-model DIR (a reward model folder)');
    if (!sameTokenizer(policyDir, r.rewardModel)) throw new Error(`${r.rewardModel}: the reward model's tokenizer differs from the policy's (${policyDir}); it would score other tokens than the policy writes`);
  }
  if (r.stage === 'ppo' && !r.rewardModel) throw new Error('PPO needs --reward-model DIR: its value model starts from the reward model');
  if (r.miniBatch > r.promptsPerIteration * (r.stage === 'grpo' ? r.groupSize : 1)) throw new Error(`miniBatch ${r.miniBatch} is larger than a rollout batch of ${r.promptsPerIteration * (r.stage === 'grpo' ? r.groupSize : 1)} responses`);
}

export function trainRl(r: RlRecipe, policyDir: string, run0: RunOptions, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): RlResult {
  checkRecipe(r, policyDir);
  const run = new RunDir(run0.out), record = { ...r, model: policyDir };
  run.check(record, run0);
  const pol = loadModel(policyDir, { nf4: r.method === 'qlora' }), policy = pol.model, tok = pol.tok;
  const fit = fitting(tok, policy.cfg.maxPositions - r.maxNewTokens, log);
  const prompts = fit(r.prompts ? readTaskPrompts(r.prompts) : builtinPrompts({ seed: r.seed, perFamily: r.builtinPerFamily, split: 'train' }), r.prompts || 'the built-in training prompts');
  const heldout = fit(r.evalPrompts ? readTaskPrompts(r.evalPrompts) : builtinPrompts({ seed: r.seed, perFamily: r.evalPerFamily, split: 'heldout' }), r.evalPrompts || 'the built-in held-out prompts');
  if (r.method === 'full') policy.trainAll(); else policy.addLora(r.lora, r.seed);
  // the reference: the same weights with adapters off (LoRA), or a frozen copy (full)
  const lora = r.method !== 'full', ref = lora ? policy : loadModel(policyDir).model;
  const referenceBytes = lora ? 0 : [...ref.params.values()].reduce((s, t) => s + t.data.byteLength, 0);
  const rm = r.rewards.includes('model') ? loadModel(r.rewardModel).model : null;
  if (rm && rm.cfg.head !== 'score') throw new Error(`${r.rewardModel}: not a reward model (config.json architectures is not …ForSequenceClassification)`);
  const value = r.stage === 'ppo' ? toRewardModel(loadModel(r.rewardModel).model, r.seed) : null;
  value?.trainAll();
  const scorer = makeScorer(r, rm);
  const params: Array<[string, Tensor]> = [...policy.trainable().map(([n, t]) => [`policy.${n}`, t] as [string, Tensor]), ...(value ? value.trainable().map(([n, t]) => [`value.${n}`, t] as [string, Tensor]) : [])];
  const opt = new AdamW(params, { lr: r.lr, weightDecay: r.weightDecay, betas: [0.9, 0.999] });
  const ptx = r.stage === 'ppo' && r.ptxCoef > 0 ? replayRows(tok.tokenizer, { sources: r.ptxSources, rows: r.ptxRows * r.iterations * r.epochs * 4, seqLen: 128, seed: r.seed, eosId: tok.tokenizer.tokenToId('<|endoftext|>') ?? 0 }) : [];
  const ptxVal = pretrainValBatches(tok.tokenizer, r.stage === 'ppo' ? r.ptxSources : ['sotu', 'moby-dick', 'wordnet', 'almanac'], 32, 128);
  run.start(record, run0);
  const order = new EpochOrder(prompts.length, r.seed), ptxOrder = ptx.length ? new EpochOrder(ptx.length, r.seed + 1) : null;
  let it = 0, beta = r.klCoef;
  const before = evaluatePolicy(policy, ref, !lora, tok, heldout, scorer, r.maxNewTokens), ptxBefore = evalLmLoss(policy, ptxVal);
  if (run0.resume && run.hasCheckpoint()) {
    const st = run.loadCheckpoint(params, opt);
    it = st.step; beta = st.beta as number;
    order.load(st.prompts);
    if (ptxOrder) ptxOrder.load(st.ptx);
    policy.dropoutRng.setState(st.dropout as ReturnType<Rng['getState']>);
    run.truncateMetrics(it);
    if (!run0.quiet) log(`${r.stage}: resumed from iteration ${it} of ${r.iterations}`);
  } else run.truncateMetrics(0);
  log(`${r.stage}: ${prompts.length} prompts, ${heldout.length} held-out; ${r.method}${lora ? ' (reference: adapters off)' : ` (reference copy ${(referenceBytes / 2 ** 20).toFixed(1)} MB)`}; rewards ${r.rewards.join('+')}; before: score ${before.score.toFixed(3)}, accuracy ${before.accuracy === null ? 'n/a' : (100 * before.accuracy).toFixed(1) + '%'}`);
  const progress = run0.quiet ? null : new Progress(r.stage, r.iterations, { loss: 'score', val: 'held-out score' });
  const time = { rollout: 0, scoring: 0, update: 0 }, t0 = Date.now();
  let rolloutTokens = 0, last = before, stoppedEarly = false;
  const G = r.stage === 'grpo' ? r.groupSize : 1;
  while (it < r.iterations) {
    // 1. rollouts
    let t = Date.now();
    const batch = Array.from({ length: r.promptsPerIteration }, () => prompts[order.next()]!);
    const rolls = rollouts(policy, tok, batch, { k: G, sampling: { temperature: r.temperature, topP: r.topP, maxNewTokens: r.maxNewTokens }, seed: r.seed * 1_000_003 + it * 9973, batch: 32 });
    time.rollout += (Date.now() - t) / 1000;
    rolloutTokens += rolls.flat().reduce((s, x) => s + x.response.length, 0);
    // 2. scores, old and reference log-probs, values, advantages
    t = Date.now();
    const samples = collect(r, batch, rolls, policy, ref, !lora, value, scorer, beta);
    time.scoring += (Date.now() - t) / 1000;
    // 3. the update: epochs of shuffled minibatches
    t = Date.now();
    const stats = update(r, samples, policy, value, opt, params, ptx, ptxOrder, it);
    time.update += (Date.now() - t) / 1000;
    it++;
    // the leash: KL per response this iteration, and β's adaptation
    const klResp = samples.reduce((s, x) => s + sumKl(x, 'k1'), 0) / samples.length;
    if (r.stage === 'ppo' && r.adaptiveKl) beta = adaptKl(beta, klResp, r.targetKl, samples.length, r.klHorizon);
    const mean = (f: (x: Sample) => number) => samples.reduce((s, x) => s + f(x), 0) / samples.length;
    const row: Record<string, number | null> = {
      score: round(mean((x) => x.score), 5), kl: round(klResp, 5), kl_coef: round(beta, 6), entropy: round(stats.entropy, 5),
      clip_frac: round(stats.clipFrac, 5), approx_kl: round(stats.approxKl, 6), policy_loss: round(stats.policyLoss, 5),
      ...(value ? { value_loss: round(stats.valueLoss, 5), value_clip_frac: round(stats.valueClipFrac, 5), explained_variance: round(explainedVariance(samples.flatMap((x) => [...x.values]), samples.flatMap((x) => [...x.returns])), 5) } : {}),
      ...(ptx.length ? { ptx_loss: round(stats.ptxLoss, 5) } : {}),
      response_length: round(mean((x) => x.roll.response.length), 3), ended: round(mean((x) => (x.ended ? 1 : 0)), 4),
      grad_norm: round(stats.gradNorm, 4), lr: Number(opt.lr.toExponential(4)),
    };
    const overBudget = r.timeBudgetSec > 0 && it < r.iterations && (Date.now() - t0) / 1000 > r.timeBudgetSec;
    if (it % r.evalEvery === 0 || it === r.iterations || overBudget) {
      last = evaluatePolicy(policy, ref, !lora, tok, heldout, scorer, r.maxNewTokens);
      Object.assign(row, { val_score: round(last.score, 5), val_kl: round(last.kl, 5), ...(last.accuracy !== null ? { val_accuracy: round(last.accuracy, 5) } : {}), val_ended: round(last.ended, 4) });
    }
    run.log({ step: it, ...row });
    progress?.update(it, { loss: Number(row.score), val: typeof row.val_score === 'number' ? row.val_score : null, tokS: rolloutTokens / Math.max(time.rollout, 1e-3) });
    run.saveCheckpoint(it, params, opt, { beta, prompts: order.state(), ptx: ptxOrder?.state() ?? null, dropout: policy.dropoutRng.getState() });
    if (overBudget) {
      stoppedEarly = true;
      if (!run0.quiet) log(`\n${r.stage}: the time budget of ${r.timeBudgetSec}s is spent: stopping after iteration ${it} of ${r.iterations}`);
      break;
    }
  }
  progress?.stop();
  const after = last, ptxAfter = evalLmLoss(policy, ptxVal);
  const final = join(run0.out, 'final');
  if (lora) saveAdapter(final, policy, policyDir); else saveModel(final, policy, tok.tokenizer, { chatTemplate: tok.chatTemplate?.source ?? null });
  const seconds = (Date.now() - t0) / 1000;
  const out: RlResult = { outDir: run0.out, iterations: it, stoppedEarly, seconds, before, after, pretrainLoss: { before: ptxBefore, after: ptxAfter }, referenceBytes, time, rolloutTokensPerSec: rolloutTokens / Math.max(time.rollout, 1e-3) };
  writeJsonAtomic(join(run0.out, 'result.json'), out);
  log(`${r.stage}: ${it} iterations in ${seconds.toFixed(0)}s (rollout ${time.rollout.toFixed(0)}s, scoring ${time.scoring.toFixed(0)}s, update ${time.update.toFixed(0)}s); held-out score ${before.score.toFixed(3)} → ${after.score.toFixed(3)}, KL to the reference ${after.kl.toFixed(2)} per response${after.accuracy !== null ? `, accuracy ${(100 * before.accuracy!).toFixed(1)}% → ${(100 * after.accuracy).toFixed(1)}%` : ''}, ended their turn ${(100 * after.ended).toFixed(0)}%; pretraining-text loss ${ptxBefore.toFixed(3)} → ${ptxAfter.toFixed(3)}; ${lora ? 'adapter' : 'model'} in ${final}`);
  return out;
}

function sumKl(x: Sample, kind: 'k1' | 'k3'): number {
  let s = 0;
  for (let i = 0; i < x.oldLogp.length; i++) s += klEstimate(x.oldLogp[i]!, x.refLogp[i]!, kind);
  return s;
}

/** Rollouts → samples: scores, per-token log-probs of policy and reference, values, advantages. */
function collect(r: RlRecipe, batch: readonly TaskPrompt[], rolls: Rollout[][], policy: Transformer, ref: Transformer, refAdapters: boolean, value: Transformer | null, scorer: ReturnType<typeof makeScorer>, beta: number): Sample[] {
  const flat = rolls.flat(), samples: Sample[] = [];
  const raw = batch.flatMap((p, i) => scorer(p, rolls[i]!));
  flat.forEach((roll, i) => {
    let score = raw[i]!;
    if (r.rewardClip > 0) score = Math.max(-r.rewardClip, Math.min(r.rewardClip, score));
    const ended = roll.finish === 'stop';
    if (!ended) score += r.endPenalty;
    const n = roll.response.length;
    samples.push({ prompt: roll.prompt, roll, ended, score, oldLogp: new Float32Array(n), refLogp: new Float32Array(n), values: new Float32Array(n), adv: new Float32Array(n), returns: new Float32Array(n) });
  });
  const live = samples.filter((x) => x.roll.response.length > 0);
  for (let i = 0; i < live.length; i += 16) {
    const part = live.slice(i, i + 16), b = batchOf(part);
    const lp = tokenLogprobs(policy, b), rl = tokenLogprobs(ref, b, { adapters: refAdapters });
    const v = value ? noGrad(() => value.scoreHead(value.trunk(b.ids, b.B, b.T, { rows: rowsBefore(b) })).f32) : null;
    const at = new Array<number>(part.length).fill(0);
    for (let j = 0; j < lp.row.length; j++) {
      const s = part[lp.row[j]!]!, t = at[lp.row[j]!]!++;
      s.oldLogp[t] = lp.logp.f32[j]!; s.refLogp[t] = rl.logp.f32[j]!;
      if (v) s.values[t] = v[j]!;
    }
  }
  assignAdvantages(r, samples, beta);
  return samples;
}

/**
 * PPO: per-token rewards −β·KL_t with the score added at the last token, GAE over each response,
 * whitened over the batch. GRPO: each response's group-relative advantage on all its tokens.
 */
export function assignAdvantages(r: Pick<PpoRecipe, 'stage' | 'kl' | 'gamma' | 'lambda' | 'whiten'> | Pick<GrpoRecipe, 'stage' | 'groupSize' | 'scaleStd'>, samples: Sample[], beta: number): void {
  const live = samples.filter((x) => x.roll.response.length > 0);
  if (r.stage === 'ppo') {
    for (const s of live) {
      // per-token reward: the KL leash on every token, the score at the end-of-turn token
      const rew = new Float32Array(s.roll.response.length);
      for (let t = 0; t < rew.length; t++) rew[t] = -beta * klEstimate(s.oldLogp[t]!, s.refLogp[t]!, r.kl);
      rew[rew.length - 1] = rew[rew.length - 1]! + s.score;
      const g = gae(rew, s.values, r.gamma, r.lambda);
      s.adv = g.advantages; s.returns = g.returns;
    }
    if (r.whiten) {
      const all = whiten(Float32Array.from(live.flatMap((s) => [...s.adv])));
      let k = 0;
      for (const s of live) for (let t = 0; t < s.adv.length; t++) s.adv[t] = all[k++]!;
    }
  } else {
    const adv = groupAdvantages(samples.map((s) => s.score), r.groupSize, r.scaleStd);
    samples.forEach((s, i) => s.adv.fill(adv[i]!));
  }
}

const batchOf = (part: readonly Sample[]): ScoredBatch => scoredBatch(part.map((x) => ({ prompt: x.roll.promptIds, response: x.roll.response })));

/** The positions whose hidden state predicts each scored token (t − 1 for token t), as tokenLogprobs reads them. */
function rowsBefore(b: ScoredBatch): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < b.mask.length; i++) if (b.mask[i]) out.push(i - 1);
  return Int32Array.from(out);
}

interface UpdateStats { policyLoss: number; valueLoss: number; valueClipFrac: number; clipFrac: number; approxKl: number; entropy: number; ptxLoss: number; gradNorm: number }

export interface MinibatchLoss { loss: Tensor; policyLoss: number; valueLoss: number | null; clipFrac: number; valueClipFrac: number; approxKl: number; entropy: number }

/**
 * The loss of one minibatch of samples, summed over response tokens: PPO's clipped policy loss plus
 * vfCoef times the clipped value loss, or GRPO's clipped loss plus β·k3 KL. Entropy is summed too.
 */
export function minibatchLoss(r: RlRecipe, part: readonly Sample[], policy: Transformer, value: Transformer | null): MinibatchLoss {
  const b = batchOf(part);
  const lp = tokenLogprobs(policy, b, { grad: true, training: true, entropy: true });
  const cat = (f: (x: Sample) => Float32Array) => Float32Array.from(part.flatMap((x) => [...f(x)]));
  const oldLogp = cat((x) => x.oldLogp), adv = cat((x) => x.adv), entropy = lp.entropy!.reduce((s, x) => s + x, 0);
  if (r.stage === 'ppo') {
    const pl = ppoPolicyLoss(lp.logp, oldLogp, adv, r.clip);
    if (!value) throw new Error('PPO needs a value model');
    const v = value.scoreHead(value.trunk(b.ids, b.B, b.T, { rows: rowsBefore(b), training: true }));
    const vl = ppoValueLoss(v, cat((x) => x.values), cat((x) => x.returns), r.clipValue);
    return { loss: op.add(pl.loss, op.scale(vl.loss, r.vfCoef)), policyLoss: pl.loss.item(), valueLoss: vl.loss.item(), clipFrac: pl.stats.clipFrac, valueClipFrac: vl.clipFrac, approxKl: pl.stats.approxKl, entropy };
  }
  const gl = grpoLoss(lp.logp, oldLogp, adv, r.clip, r.klCoef, r.klCoef > 0 ? cat((x) => x.refLogp) : null);
  return { loss: gl.loss, policyLoss: gl.loss.item(), valueLoss: null, clipFrac: gl.stats.clipFrac, valueClipFrac: 0, approxKl: gl.stats.approxKl, entropy };
}

function update(r: RlRecipe, samples: Sample[], policy: Transformer, value: Transformer | null, opt: AdamW, params: Array<[string, Tensor]>, ptx: ReturnType<typeof replayRows>, ptxOrder: EpochOrder | null, it: number): UpdateStats {
  const live = samples.filter((x) => x.roll.response.length > 0), tensors = params.map(([, t]) => t);
  const acc = { policyLoss: 0, valueLoss: 0, valueClipFrac: 0, clipFrac: 0, approxKl: 0, entropy: 0, ptxLoss: 0, gradNorm: 0 };
  let steps = 0;
  const rng = new Rng(r.seed * 7919 + it);
  for (let e = 0; e < r.epochs; e++) {
    const idx = rng.shuffle([...live.keys()]);
    for (let m = 0; m < idx.length; m += r.miniBatch) {
      const part = idx.slice(m, m + r.miniBatch).map((i) => live[i]!);
      const n = part.reduce((s, x) => s + x.roll.response.length, 0);
      opt.lr = r.lr * Math.min(1, (opt.step + 1) / Math.max(1, r.warmup));
      opt.zeroGrad();
      const mb = minibatchLoss(r, part, policy, value);
      const loss = mb.loss;
      acc.policyLoss += mb.policyLoss / n; acc.clipFrac += mb.clipFrac; acc.approxKl += mb.approxKl; acc.entropy += mb.entropy / n;
      if (mb.valueLoss !== null) { acc.valueLoss += mb.valueLoss / n; acc.valueClipFrac += mb.valueClipFrac; }
      backward(loss);
      // token losses were sums: the shared step divides by the minibatch's response tokens
      if (r.stage === 'ppo' && ptx.length && ptxOrder) {
        // PPO-ptx: γ·(pretraining LM loss), added as its mean so that γ is the paper's weight
        const rows = Array.from({ length: r.ptxRows }, () => ptx[ptxOrder.next()]!), T = rows[0]!.ids.length;
        const ids = new Int32Array(rows.length * T), targets = new Int32Array(rows.length * T).fill(-100);
        rows.forEach((x, i) => { ids.set(x.ids, i * T); for (let t = 0; t + 1 < T; t++) targets[i * T + t] = x.ids[t + 1]!; });
        const lm = lmLoss(policy, { ids, targets, B: rows.length, T }, true);
        backward(op.scale(lm.loss, (r.ptxCoef * n) / Math.max(1, lm.count)));
        acc.ptxLoss += lm.loss.item() / Math.max(1, lm.count);
      }
      acc.gradNorm += optimizerStep(opt, tensors, n, 1.0, { label: r.stage, step: it + 1, loss: loss.item() / n });
      steps++;
    }
  }
  for (const k of Object.keys(acc) as Array<keyof UpdateStats>) acc[k] /= Math.max(1, steps);
  return acc;
}
