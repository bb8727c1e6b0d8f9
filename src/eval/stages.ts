// One row of the table across stages (base, SFT, PPO, DPO, GRPO): held-out task accuracy, zero-shot
// accuracy, format compliance, the verifiable-instruction (IFEval) prompt-level strict accuracy, the
// reward model's mean score of the stage's replies, and the win rate against the SFT model under a
// judge that sees each pair in both orders.
import { noGrad } from '../core/autograd.js';
import type { Transformer } from '../models/transformer.js';
import type { TokenizerFolder } from '../tokenizer/index.js';
import { chainJudges, loadConstitution, PrincipleDraw, rankResponses, rulesJudge, verifiableJudge, type Judge } from '../align/judges.js';
import { encodeRanking, scoreBatch, scores } from '../align/reward.js';
import { exampleToPrompt } from '../align/prompts.js';
import { evaluateTasks, type EvalSets, type TaskReport } from './tasks.js';
import { ifevalFigures, type IfevalFigures, type IfevalPrompt } from './ifeval.js';
import { generate } from '../models/generate.js';
import { renderPrompt, stopTokenIds } from '../tokenizer/index.js';

export interface StageRow {
  heldout_accuracy: number;
  zero_shot_accuracy: number;
  format_compliance: number;
  exact_match: number;
  /** IFEval prompt-level strict accuracy on the built-in prompt set (null when not measured) */
  ifeval_prompt_strict: number | null;
  /** the reward model's mean score of the stage's replies to held-out prompts (null without one) */
  reward_score: number | null;
  /** share of held-out prompts where the judge prefers this stage's reply to the SFT model's (ties count half) */
  win_rate_vs_sft?: number;
}

export interface StageEval { row: StageRow; heldout: TaskReport; zeroShot: TaskReport; ifeval?: IfevalFigures }

/** Mean reward-model score of replies (each read at its end-of-turn token when it ended its turn). */
export function meanRewardScore(rm: Transformer, rmTok: TokenizerFolder, report: TaskReport, sets: EvalSets, maxLength = 256): number {
  return noGrad(() => {
    let sum = 0;
    sets.heldout.forEach((e, i) => {
      const s = report.samples[i]!;
      const enc = encodeRanking(rmTok, { messages: e.messages, responses: [{ text: s.output, endedTurn: s.ended }], groups: [[0]] }, maxLength);
      sum += scores(rm, scoreBatch([{ prompt: enc.prompt, response: enc.responses[0]! }])).f32[0]!;
    });
    return sum / Math.max(1, sets.heldout.length);
  });
}

/** The judge of win rates: the task's answer first, then the constitution's checkable rules. */
export function winRateJudge(): Judge {
  return chainJudges([verifiableJudge, rulesJudge(loadConstitution())]);
}

/**
 * Win rate of `report`'s replies over `baseline`'s on the same held-out examples: each pair judged
 * as (stage, baseline) and as (baseline, stage); a win counts 1, a tie ½.
 */
export async function winRate(report: TaskReport, baseline: TaskReport, sets: EvalSets, judge: Judge = winRateJudge(), seed = 0): Promise<number> {
  const metric = new Map(sets.families.map((f) => [f.name, f.metric]));
  const draw = new PrincipleDraw(judge.principles(loadConstitution()), seed);
  let wins = 0;
  for (const [i, e] of sets.heldout.entries()) {
    const a = report.samples[i]!, b = baseline.samples[i]!;
    const r = await rankResponses(judge, exampleToPrompt(e, metric.get(e.family) ?? 'normalized'), [{ text: a.output, endedTurn: a.ended }, { text: b.output, endedTurn: b.ended }], draw, { bothOrders: true });
    wins += r.groups.length === 1 ? 0.5 : r.groups[0]![0] === 0 ? 1 : 0;
  }
  return wins / Math.max(1, sets.heldout.length);
}

/** Greedy replies to IFEval prompts (batched) and the four IFEval figures. */
export function ifevalOf(model: Transformer, tok: TokenizerFolder, prompts: readonly IfevalPrompt[], maxNewTokens = 64, batch = 16): IfevalFigures {
  if (!tok.chatTemplate) throw new Error('the model has no chat template; IFEval asks in chat turns');
  const ids = prompts.map((p) => renderPrompt(tok.tokenizer, tok.chatTemplate!, p.messages.map((m) => ({ role: m.role, content: m.content }))));
  const fit = Math.max(1, model.cfg.maxPositions - maxNewTokens), responses: string[] = [];
  for (let i = 0; i < ids.length; i += batch) {
    const r = generate(model, ids.slice(i, i + batch).map((x) => x.slice(-fit)), { maxNewTokens, stopTokens: stopTokenIds(tok), decode: (t) => tok.tokenizer.decode(t, { skipSpecialTokens: true }) });
    responses.push(...r.texts!);
  }
  return ifevalFigures(prompts.map((p, i) => ({ instruction_id_list: p.instruction_id_list, kwargs: p.kwargs, response: responses[i]! })));
}

/** A stage's replies to the held-out and zero-shot sets, scored, with the optional extras. */
export function evaluateStage(model: Transformer, tok: TokenizerFolder, sets: EvalSets, o: { rm?: { model: Transformer; tok: TokenizerFolder }; ifeval?: readonly IfevalPrompt[]; maxNewTokens?: number } = {}): StageEval {
  const heldout = evaluateTasks(model, tok, sets.heldout, sets.families, { maxNewTokens: o.maxNewTokens ?? 32, keepAllSamples: true });
  const zeroShot = evaluateTasks(model, tok, sets.zeroShot, sets.families, { maxNewTokens: o.maxNewTokens ?? 32 });
  const ifeval = o.ifeval?.length ? ifevalOf(model, tok, o.ifeval) : undefined;
  return {
    heldout, zeroShot, ...(ifeval ? { ifeval } : {}),
    row: {
      heldout_accuracy: heldout.accuracy, zero_shot_accuracy: zeroShot.accuracy, format_compliance: heldout.formatCompliance, exact_match: heldout.exactMatch,
      ifeval_prompt_strict: ifeval ? ifeval.prompt_strict : null,
      reward_score: o.rm ? meanRewardScore(o.rm.model, o.rm.tok, heldout, sets) : null,
    },
  };
}
