// `heed demo`, the whole journey on the built-in defaults: pretrain a base model → build the
// instruction mixture → SFT → sample K responses per prompt → rank them with the verifiable and
// rules judges → train the reward model → PPO against it, DPO on the rankings, GRPO on verifiable
// rewards → evaluate every stage on held-out prompts → a table, summary.json and report.html.
// Every stage runs a fixed number of steps, so a seed gives the same table on machines of a speed.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../models/load.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { buildMixture, releaseDataCaches } from '../data/index.js';
import { loadRecipe, PretrainSchema, SftSchema, RewardSchema, DpoSchema, PpoSchema, GrpoSchema } from '../train/recipes.js';
import { pretrain } from '../train/pretrain.js';
import { sft } from '../train/sft.js';
import { builtinPrompts } from '../align/prompts.js';
import { rollouts } from '../align/rollout.js';
import { chainJudges, loadConstitution, PrincipleDraw, rulesJudge, verifiableJudge } from '../align/judges.js';
import { trainRewardModel, type RewardResult } from '../align/reward-train.js';
import { trainDpo, type DpoResult } from '../align/dpo.js';
import { builtinIfevalPrompts } from '../eval/ifeval.js';
import { trainRl } from '../align/rl.js';
import { pretrainProbes, type CopyProbe, type FactProbe } from '../eval/probes.js';
import { evalSets } from '../eval/tasks.js';
import { evaluateStage, winRate, type StageEval, type StageRow } from '../eval/stages.js';
import { writeReport } from '../eval/report.js';
import { FeedbackStore } from '../feedback/store.js';
import { judgeStore, rankedFromStore, storeRollouts } from '../feedback/align.js';

export interface DemoOptions {
  out: string;
  quick: boolean;
  overwrite?: boolean;
  /** minutes for the whole run (default 30; 0 = none): see BUDGET_SHARES */
  budgetMin?: number;
  log?: (s: string) => void;
}

/**
 * Shares of the demo's time budget for the stages that train for long: each runs its recipe's steps
 * when they fit its share, and is shortened (pretraining, SFT: a shorter schedule; PPO, GRPO: fewer
 * iterations) and says so where they do not. The rest (18%) is for the tokenizer, data, sampling,
 * judging, the reward model and the evaluation, which take about 4.5 minutes on a slow 2-core machine.
 */
export const BUDGET_SHARES = { pretrain: 0.22, sft: 0.32, dpo: 0.08, ppo: 0.12, grpo: 0.08 } as const;

export type StageName = 'base' | 'sft' | 'ppo' | 'dpo' | 'grpo';

export interface DemoSummary {
  stages: Record<StageName, StageRow>;
  reward_model: { heldout_pairwise_accuracy: number; train_pairwise_accuracy: number; heldout_pairs: number; bias: number };
  pretrain: { val_loss: number; perplexity: number; steps: number; planned_steps: number; stopped_early: boolean; tokens_per_s: number; params: number; copy_first_reading: number; copy_second_reading: number; capitals_recalled: number };
  sft: { method: string; steps: number; planned_steps: number; stopped_early: boolean; best_val_loss: number | null; tokens_per_s: number; train_examples: number };
  preferences: { prompts: number; responses: number; rankings: number; ties: number; verifiable_agreement: number | null };
  ppo: { iterations: number; stopped_early: boolean; kl: number; score_before: number; score_after: number; pretrain_loss_before: number; pretrain_loss_after: number; seconds: { rollout: number; scoring: number; update: number } };
  dpo: { steps: number; planned_steps: number; heldout_preference_accuracy: number; pairs: number };
  grpo: { iterations: number; stopped_early: boolean; accuracy_before: number | null; accuracy_after: number | null };
  /** the --budget in minutes (0: none) */
  budget_minutes: number;
  seconds: number;
  stage_seconds: Record<string, number>;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '     –' : `${(100 * x).toFixed(1)}%`.padStart(6));

/** The mixture's sizes in a line (a function of its own, so the 52,000 examples are not kept alive through the demo). */
function describeMixture(r: { seed: number; trainPerFamily: number; evalPerFamily: number }): string {
  const mix = buildMixture({ seed: r.seed, trainPerFamily: r.trainPerFamily, evalPerFamily: r.evalPerFamily });
  return `data: ${mix.train.length} training examples from ${mix.families.filter((f) => !f.zeroShot).length} families; ${mix.heldout.length} held-out; ${mix.zeroShot.length} zero-shot from ${mix.families.filter((f) => f.zeroShot).length} families never trained on`;
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new Error(`${o.out}: is a file, expected a folder for the demo's runs`);
  const q = o.quick, out = o.out, ow = o.overwrite ?? false, t0 = Date.now(), times: Record<string, number> = {};
  let tick = Date.now();
  const lap = (name: string) => { times[name] = (Date.now() - tick) / 1000; tick = Date.now(); };
  const recipe = (base: string) => (q ? `${base}-quick` : base);
  const STEPS = 9;
  const budget = (o.budgetMin ?? 30) * 60, share = (stage: keyof typeof BUDGET_SHARES, own = 0) => {
    const b = budget ? Math.round(budget * BUDGET_SHARES[stage]) : 0;
    return b && own ? Math.min(b, own) : b || own;
  };
  if (budget) log(`heed demo: a budget of ${budget / 60} minutes (--budget): pretraining ${share('pretrain')}s, SFT ${share('sft')}s, DPO ${share('dpo')}s, PPO ${share('ppo')}s, GRPO ${share('grpo')}s at most; stages whose steps do not fit are shortened and say so`);

  log(`== 1/${STEPS} pretrain: tokenizer and base model on the built-in corpus`);
  const ptRecipe = loadRecipe(PretrainSchema, recipe('pretrain'));
  const pt = pretrain({ ...ptRecipe, timeBudgetSec: share('pretrain', ptRecipe.timeBudgetSec) }, { out: join(out, 'pretrain'), overwrite: ow }, log, pretrainProbes);
  const probes = pt.probes as { copy: CopyProbe; capitals: FactProbe };
  lap('pretrain');

  log(`== 2/${STEPS} data: the built-in instruction mixture`);
  const sftRecipe0 = loadRecipe(SftSchema, q ? 'sft-quick' : 'sft-replay');
  const sftRecipe = { ...sftRecipe0, timeBudgetSec: share('sft', sftRecipe0.timeBudgetSec) };
  log(describeMixture(sftRecipe));
  lap('data');

  log(`== 3/${STEPS} sft`);
  const st = sft(sftRecipe, pt.modelDir, { out: join(out, 'sft'), overwrite: ow }, log);
  const sftDir = join(out, 'sft', 'best');
  lap('sft');

  log(`== 4/${STEPS} sample: K responses per training prompt from the SFT model`);
  // temperature 1.5 and 40 prompts per family: at 1.0 the SFT model's K answers mostly tie under the
  // judges, and the reward model sees too few rankings (held-out pairwise accuracy 49% from 624
  // prompts at 1.0, 64% from 1,040 at 1.5, 70% from 3,900 at 1.5)
  const k = 4, perFamily = q ? 2 : 40, temperature = q ? 1 : 1.5;
  const prompts = builtinPrompts({ seed: sftRecipe.seed + 1, perFamily, split: 'train' });
  // the parsed sources behind the mixture are ~200 MB of small objects: kept, every garbage
  // collection marks them, and training the reward model and DPO runs three times slower
  releaseDataCaches();
  const sm = loadModel(sftDir);
  const sampling = { temperature, topP: 1, maxNewTokens: 32 };
  const rolls = rollouts(sm.model, sm.tok, prompts, { k, sampling, seed: 1, batch: 32 });
  const db = join(out, 'feedback.db');
  const store = FeedbackStore.open(db);
  let prefs: DemoSummary['preferences'], rm: RewardResult, dpo: DpoResult;
  try {
    if (!store.prompts().length) storeRollouts(store, prompts, rolls, { model: 'sft', settings: { temperature, top_p: 1, max_tokens: 32 }, source: 'heed demo' });
    log(`sample: ${rolls.flat().length} responses to ${prompts.length} prompts, ${rolls.flat().filter((r) => r.finish === 'stop').length} ended their turn; store ${db}`);
    lap('sample');

    log(`== 5/${STEPS} judge: verifiable answers first, then the constitution's checkable rules`);
    const c = loadConstitution(), judge = chainJudges([verifiableJudge, rulesJudge(c)]);
    const jr = await judgeStore(store, judge, new PrincipleDraw(judge.principles(c), 0));
    const ranked = rankedFromStore(store, jr.rater);
    prefs = { prompts: prompts.length, responses: rolls.flat().length, rankings: ranked.length, ties: jr.ties, verifiable_agreement: null };
    log(`judge: ${ranked.length} rankings (${jr.judgments} comparisons, ${jr.ties} ties)`);
    lap('judge');

    log(`== 6/${STEPS} reward model: K-way InstructGPT loss on the judged rankings`);
    const rr = loadRecipe(RewardSchema, recipe('reward'));
    rm = trainRewardModel({ ...rr, data: db, rater: jr.rater }, sftDir, ranked, { out: join(out, 'reward'), overwrite: ow }, log);
    lap('reward');

    log(`== 7/${STEPS} dpo on the same rankings`);
    const dpoRecipe = loadRecipe(DpoSchema, recipe('dpo'));
    dpo = trainDpo({ ...dpoRecipe, data: db, rater: jr.rater, timeBudgetSec: share('dpo', dpoRecipe.timeBudgetSec) }, sftDir, ranked, { out: join(out, 'dpo'), overwrite: ow }, log);
    lap('dpo');
  } finally { store.close(); }
  const rmDir = join(out, 'reward', 'final');

  log(`== 8/${STEPS} ppo against the reward model, grpo on verifiable rewards`);
  const ppoRecipe = loadRecipe(PpoSchema, recipe('ppo')), grpoRecipe = loadRecipe(GrpoSchema, recipe('grpo'));
  const ppo = trainRl({ ...ppoRecipe, rewardModel: rmDir, timeBudgetSec: share('ppo', ppoRecipe.timeBudgetSec) }, sftDir, { out: join(out, 'ppo'), overwrite: ow }, log);
  lap('ppo');
  const grpo = trainRl({ ...grpoRecipe, timeBudgetSec: share('grpo', grpoRecipe.timeBudgetSec) }, sftDir, { out: join(out, 'grpo'), overwrite: ow }, log);
  lap('grpo');

  log(`== 9/${STEPS} eval: every stage on held-out examples and held-out families`);
  const sets = evalSets(sftRecipe.seed, q ? 3 : sftRecipe.evalPerFamily);
  const rmModel = loadModel(rmDir), ifeval = builtinIfevalPrompts({ seed: sftRecipe.seed, n: q ? 20 : 100 });
  releaseDataCaches();
  const evalOf = (dir: string): StageEval => { const m = loadModel(dir); return evaluateStage(m.model, m.tok, sets, { rm: rmModel, ifeval }); };
  const ev: Record<StageName, StageEval> = {
    base: evalOf(pt.modelDir), sft: evalOf(sftDir), ppo: evalOf(join(out, 'ppo', 'final')), dpo: evalOf(join(out, 'dpo', 'final')), grpo: evalOf(join(out, 'grpo', 'final')),
  };
  const stages = Object.fromEntries(Object.entries(ev).map(([k2, v]) => [k2, { ...v.row }])) as Record<StageName, StageRow>;
  for (const s of ['ppo', 'dpo', 'grpo'] as const) stages[s].win_rate_vs_sft = await winRate(ev[s].heldout, ev.sft.heldout, sets);
  lap('eval');

  const summary: DemoSummary = {
    stages,
    reward_model: { heldout_pairwise_accuracy: rm.heldoutAccuracy.accuracy, train_pairwise_accuracy: rm.trainAccuracy.accuracy, heldout_pairs: rm.heldoutAccuracy.pairs, bias: rm.bias },
    pretrain: {
      val_loss: pt.valLoss, perplexity: pt.perplexity, steps: pt.steps, planned_steps: pt.plannedSteps ?? ptRecipe.steps, stopped_early: pt.stoppedEarly, tokens_per_s: pt.tokensPerSec, params: pt.params,
      copy_first_reading: probes.copy.firstReading, copy_second_reading: probes.copy.secondReading, capitals_recalled: probes.capitals.correct / probes.capitals.n,
    },
    sft: { method: sftRecipe.method, steps: st.steps, planned_steps: st.plannedSteps ?? st.steps, stopped_early: st.stoppedEarly, best_val_loss: st.bestVal, tokens_per_s: st.tokensPerSec, train_examples: st.trainExamples },
    preferences: prefs,
    ppo: { iterations: ppo.iterations, stopped_early: ppo.stoppedEarly, kl: ppo.after.kl, score_before: ppo.before.score, score_after: ppo.after.score, pretrain_loss_before: ppo.pretrainLoss.before, pretrain_loss_after: ppo.pretrainLoss.after, seconds: ppo.time },
    dpo: { steps: dpo.steps, planned_steps: dpo.plannedSteps, heldout_preference_accuracy: dpo.heldout.accuracy, pairs: dpo.trainPairs },
    grpo: { iterations: grpo.iterations, stopped_early: grpo.stoppedEarly, accuracy_before: grpo.before.accuracy, accuracy_after: grpo.after.accuracy },
    budget_minutes: budget / 60,
    seconds: (Date.now() - t0) / 1000,
    stage_seconds: times,
  };
  writeJsonAtomic(join(out, 'summary.json'), summary);
  writeJsonAtomic(join(out, 'eval.json'), Object.fromEntries(Object.entries(ev).map(([k2, v]) => [k2, { heldout: v.heldout, zeroShot: v.zeroShot, ifeval: v.ifeval }])));
  writeReport(join(out, 'report.html'), {
    title: `heed demo${q ? ' (quick)' : ''}`, stages,
    perFamily: Object.fromEntries(Object.entries(ev).filter(([k2]) => k2 !== 'base').map(([k2, v]) => [k2, Object.fromEntries(Object.entries(v.heldout.perFamily).map(([f, s]) => [f, s.accuracy]))])),
    runs: ['pretrain', 'sft', 'reward', 'ppo', 'dpo', 'grpo'].map((n) => ({ name: n, dir: join(out, n) })),
    notes: [
      `${summary.seconds.toFixed(0)} s in all. Held-out: ${sets.heldout.length} examples of trained families; zero-shot: ${sets.zeroShot.length} examples of families never trained on.`,
      `Reward model: held-out pairwise accuracy ${(100 * summary.reward_model.heldout_pairwise_accuracy).toFixed(1)}% on ${summary.reward_model.heldout_pairs} pairs of prompts it never trained on.`,
      `PPO: mean reward-model score on held-out prompts ${summary.ppo.score_before.toFixed(3)} → ${summary.ppo.score_after.toFixed(3)}, KL to the SFT model ${summary.ppo.kl.toFixed(2)} nats per response.`,
    ],
  });
  const names: StageName[] = ['base', 'sft', 'ppo', 'dpo', 'grpo'];
  const line = (label: string, f: (r: StageRow) => number | null | undefined) => `${label.padEnd(24)}${names.map((n) => pct(f(stages[n])).padStart(8)).join('')}`;
  const table = [
    '', `${''.padEnd(24)}${names.map((n) => n.padStart(8)).join('')}`,
    line('held-out examples', (r) => r.heldout_accuracy), line('held-out families', (r) => r.zero_shot_accuracy), line('format compliance', (r) => r.format_compliance),
    line('IFEval prompt strict', (r) => r.ifeval_prompt_strict), `${'reward-model score'.padEnd(24)}${names.map((n) => (stages[n].reward_score ?? NaN).toFixed(3).padStart(8)).join('')}`,
    line('win rate vs SFT', (r) => r.win_rate_vs_sft), '',
    `reward model: held-out pairwise accuracy ${pct(summary.reward_model.heldout_pairwise_accuracy).trim()}; DPO held-out preference accuracy ${pct(summary.dpo.heldout_preference_accuracy).trim()}; PPO KL to SFT ${summary.ppo.kl.toFixed(2)} per response`,
    ...(budget ? [`budget ${budget / 60} min: pretraining ${pt.steps}${pt.stoppedEarly ? ` of ${pt.plannedSteps ?? ptRecipe.steps} planned` : ''} steps, SFT ${st.steps}${st.stoppedEarly ? ` of ${st.plannedSteps ?? st.steps} planned` : ''}, DPO ${summary.dpo.steps}${summary.dpo.steps < summary.dpo.planned_steps ? ` of ${summary.dpo.planned_steps} planned` : ''}, PPO ${ppo.iterations} of ${ppoRecipe.iterations} iterations, GRPO ${grpo.iterations} of ${grpoRecipe.iterations}`] : []),
    `total ${summary.seconds.toFixed(0)}s; ${join(out, 'summary.json')}, ${join(out, 'report.html')}; chat with: heed chat --model ${join(out, 'ppo', 'final')}; for llama.cpp: heed export --model ${join(out, 'ppo', 'final')} --to gguf --out ${join(out, 'ppo.gguf')}`,
  ];
  console.log(table.join('\n'));
  return summary;
}
