// The store as the alignment stages read and write it: sampled responses in, judged rankings in,
// and rankings out as the reward model's and DPO's training data (from the store or ranking JSONL).
import { extname } from 'node:path';
import type { Rollout, TaskPrompt } from '../align/rollout.js';
import { rankResponses, verifiableJudge, type Judge, type PrincipleDraw } from '../align/judges.js';
import type { RankedPrompt } from '../align/reward.js';
import { detectPreferenceFormat, pairsToRankings, parseLlamaFactoryPairs, parseRankings, parseTrlPairs, type RankingRecord } from '../data/preferences.js';
import { readText } from '../util/text.js';
import { FeedbackStore, type StoredPrompt, type StoredResponse } from './store.js';

/** A stored prompt as a task prompt (its meta carries the known answer, when there is one). */
export function taskPromptOf(p: StoredPrompt): TaskPrompt {
  const m = p.meta ?? {};
  return {
    messages: p.messages,
    ...(typeof m.answer === 'string' ? { answer: m.answer } : {}),
    ...(Array.isArray(m.accept) ? { accept: m.accept.filter((x): x is string => typeof x === 'string') } : {}),
    ...(typeof m.family === 'string' ? { family: m.family } : {}),
    ...(typeof m.id === 'string' ? { id: m.id } : {}),
    ...(m.metric === 'exact' || m.metric === 'normalized' ? { metric: m.metric } : {}),
  };
}

/** The task metadata of a prompt, as stored in its meta. */
export function metaOf(p: TaskPrompt): Record<string, unknown> {
  const { messages: _m, ...rest } = p;
  return rest;
}

/** Writes prompts and their sampled responses; returns the prompt ids. */
export function storeRollouts(store: FeedbackStore, prompts: readonly TaskPrompt[], rolls: readonly Rollout[][], o: { model: string; adapter?: string; settings: Record<string, unknown>; source?: string }): number[] {
  return prompts.map((p, i) => {
    const id = store.addPrompt({ messages: p.messages, source: o.source ?? 'heed sample', meta: metaOf(p) });
    store.addResponses(id, rolls[i]!.map((r) => ({
      text: r.text, model: o.model, ...(o.adapter ? { adapter: o.adapter } : {}), settings: o.settings, seed: r.seed, finish: r.finish,
    })));
    return id;
  });
}

const ended = (r: StoredResponse) => r.finish !== 'length';

/** Rankings from a store (optionally one rater's), as the reward model reads them. */
export function rankedFromStore(store: FeedbackStore, rater = ''): RankedPrompt[] {
  const out: RankedPrompt[] = [];
  for (const k of store.rankings(rater ? { rater } : {})) {
    if (!k.groups) continue;
    const p = store.prompt(k.promptId)!, byId = new Map(store.responses(k.promptId).map((r) => [r.id, r]));
    const ids = k.groups.flat(), index = new Map(ids.map((id, i) => [id, i]));
    out.push({
      messages: p.messages, rater: k.rater,
      responses: ids.map((id) => ({ text: byId.get(id)!.text, endedTurn: ended(byId.get(id)!) })),
      groups: k.groups.map((g) => g.map((id) => index.get(id)!)),
    });
  }
  return out;
}

/** Rankings from ranking records (unranked lines and skips left out). */
function rankedFromRecords(records: readonly RankingRecord[], rater = ''): RankedPrompt[] {
  const out: RankedPrompt[] = [];
  for (const rec of records) {
    if (!rec.ranking || (rater && rec.rater !== rater)) continue;
    const keys = rec.ranking.flat(), byKey = new Map(rec.responses.map((r) => [r.key, r])), index = new Map(keys.map((k, i) => [k, i]));
    out.push({
      messages: rec.prompt, ...(rec.rater ? { rater: rec.rater } : {}),
      responses: keys.map((k) => ({ text: byKey.get(k)!.text, endedTurn: byKey.get(k)!.finish !== 'length' })),
      groups: rec.ranking.map((g) => g.map((k) => index.get(k)!)),
    });
  }
  return out;
}

/**
 * Rankings from a JSONL file: ranking lines (`heed feedback export --format rankings`), or TRL /
 * LLaMA-Factory preference pairs, each a ranking of two.
 */
export function rankedFromJsonl(file: string, rater = ''): RankedPrompt[] {
  const text = readText(file), format = detectPreferenceFormat(text, file);
  if (format === 'rankings') return rankedFromRecords(parseRankings(text, file), rater);
  const pairs = format === 'trl' ? parseTrlPairs(text, file) : parseLlamaFactoryPairs(text, file);
  return rankedFromRecords(pairsToRankings(pairs, file, 'import'));
}

/** Rankings from a store file (.db, .sqlite) or ranking JSONL, by the file's kind. */
export function readRankings(file: string, rater = ''): RankedPrompt[] {
  if (!file) throw new Error('give the rankings: --data FILE (a feedback store .db or ranking JSONL)');
  if (['.db', '.sqlite', '.sqlite3'].includes(extname(file))) {
    const store = FeedbackStore.open(file, { create: false });
    try { return rankedFromStore(store, rater); } finally { store.close(); }
  }
  return rankedFromJsonl(file, rater);
}

export interface JudgeReport {
  judge: string; rater: string; prompts: number; rankings: number; judgments: number; ties: number;
  /** pairs judged in both orders whose verdicts agreed (model judges) */
  orderAgreement: { agree: number; n: number } | null;
  /** comparisons where the verifiable judge was decisive and this judge agreed with it */
  verifiableAgreement: { agree: number; n: number } | null;
}

/**
 * Ranks every prompt of the store that has two or more responses and no ranking by this judge yet,
 * writing each comparison as a judgment and the ranking under the rater `judge:<name>`. A prompt the
 * judge cannot judge (the verifiable judge without a known answer) is left alone.
 */
export async function judgeStore(store: FeedbackStore, judge: Judge, draw: PrincipleDraw, o: { bothOrders?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<JudgeReport> {
  const rater = `judge:${judge.name}`, done = new Set(store.rankings({ rater }).map((k) => k.promptId));
  const todo = store.prompts().filter((p) => !done.has(p.id) && store.responses(p.id).length >= 2);
  const report: JudgeReport = { judge: judge.name, rater, prompts: todo.length, rankings: 0, judgments: 0, ties: 0, orderAgreement: null, verifiableAgreement: null };
  let i = 0;
  for (const p of todo) {
    const task = taskPromptOf(p), resp = store.responses(p.id);
    o.onProgress?.(++i, todo.length);
    if (!judge.applies(task)) continue;
    const cands = resp.map((r) => ({ text: r.text, endedTurn: ended(r) }));
    const ranked = await rankResponses(judge, task, cands, draw, o.bothOrders ? { bothOrders: true } : {});
    for (const j of ranked.judgments) {
      store.addJudgment({ promptId: p.id, judge: judge.name, principle: j.principle, a: resp[j.a]!.id, b: resp[j.b]!.id, raw: j.verdict.raw, verdict: j.verdict.winner, ...(j.verdict.pA !== undefined ? { pA: j.verdict.pA } : {}) });
      report.judgments++;
      if (j.verdict.winner === 'tie') report.ties++;
      if (judge.name !== 'verifiable' && verifiableJudge.applies(task)) {
        const v = await verifiableJudge.compare(task, cands[j.a]!, cands[j.b]!, { id: 'correct', text: 'correctness' });
        if (v.winner !== 'tie') { report.verifiableAgreement ??= { agree: 0, n: 0 }; report.verifiableAgreement.n++; if (v.winner === j.verdict.winner) report.verifiableAgreement.agree++; }
      }
    }
    if (ranked.orderAgreement) { report.orderAgreement ??= { agree: 0, n: 0 }; report.orderAgreement.agree += ranked.orderAgreement.agree; report.orderAgreement.n += ranked.orderAgreement.n; }
    store.submitRanking({ rater, kind: 'judge', promptId: p.id, groups: ranked.groups.map((g) => g.map((k) => resp[k]!.id)) });
    report.rankings++;
  }
  return report;
}
