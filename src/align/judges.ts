// Judges compare two responses to one prompt under a principle of a written constitution, behind
// one interface: `verifiable` (tasks with a known answer, scored with the mixture's own metrics),
// `rules` (checkable principles, each a function of a response) and, in src/synth, `model` (any
// OpenAI-compatible endpoint). K responses are ranked from their pairwise verdicts.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Rng } from '../core/rng.js';
import { answerCorrect, normalizeAnswer } from '../data/score.js';
import { readJson } from '../util/text.js';
import type { TaskPrompt } from './rollout.js';

/** A response as a judge sees it: its text and whether it ended its turn. */
export interface Candidate { text: string; endedTurn: boolean }

export type Winner = 'a' | 'b' | 'tie';

export interface Verdict {
  winner: Winner;
  /** the judge's probability that a is better, where it has one (a soft label) */
  pA?: number;
  /** what the judge said, as written (a model's answer, or the scores a rule gave) */
  raw: string;
}

// ---------------------------------------------------------------- the constitution

const RULES = ['ends_turn', 'answers_first', 'no_repetition', 'concise'] as const;
export type RuleName = (typeof RULES)[number];

export const PrincipleSchema = z.object({
  id: z.string().min(1).regex(/^[a-z0-9_-]+$/, 'lowercase letters, digits, _ and - only'),
  /** the comparison instruction a model judge reads */
  text: z.string().min(10),
  /** the check the rules judge applies for this principle, when it is checkable */
  rule: z.enum(RULES).optional(),
  /** the rule's setting (concise: most words) */
  limit: z.number().int().positive().optional(),
  /** Constitutional AI's critique and revision requests for this principle (derived from `text` when absent) */
  critique: z.string().min(10).optional(),
  revision: z.string().min(10).optional(),
}).strict();
export type Principle = z.infer<typeof PrincipleSchema>;

export const ConstitutionSchema = z.object({
  name: z.string().min(1),
  principles: z.array(PrincipleSchema).min(1),
}).strict().refine((c) => new Set(c.principles.map((p) => p.id)).size === c.principles.length, { message: 'principle ids must be unique', path: ['principles'] });
export type Constitution = z.infer<typeof ConstitutionSchema>;

const here = dirname(fileURLToPath(import.meta.url));
/** The constitution heed ships (recipes/constitutions/default.json). */
export const DEFAULT_CONSTITUTION = resolve(here, '..', '..', 'recipes', 'constitutions', 'default.json');

export function loadConstitution(file = DEFAULT_CONSTITUTION): Constitution {
  const r = ConstitutionSchema.safeParse(readJson(file));
  if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** One principle per comparison, drawn with a seeded generator (the draw is part of the record). */
export class PrincipleDraw {
  private readonly rng: Rng;
  constructor(readonly principles: readonly Principle[], seed: number) {
    if (principles.length === 0) throw new Error('the constitution has no principle this judge can apply');
    this.rng = new Rng(seed);
  }
  next(): Principle { return this.principles[this.rng.int(this.principles.length)]!; }
}

// ---------------------------------------------------------------- the rules

const FILLER = /^(sure|okay|ok|well|so|certainly|of course|here is|here's|here are|let me|i think|i believe|the answer is|answer:)\b/i;

/** Share of the word trigrams of `text` that repeat an earlier one (0 = none). */
export function repetition(text: string): number {
  const w = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (w.length < 4) return 0;
  const seen = new Set<string>();
  let rep = 0;
  for (let i = 0; i + 2 < w.length; i++) {
    const g = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
    if (seen.has(g)) rep++; else seen.add(g);
  }
  return rep / (w.length - 2);
}

/** Each checkable principle as a score of one response (higher is better). */
export const RULE_SCORES: Record<RuleName, (c: Candidate, p: TaskPrompt, pr: Principle) => number> = {
  /** the reply ends its turn instead of running to the token limit */
  ends_turn: (c) => (c.endedTurn ? 1 : 0),
  /** the reply opens with the answer: the known answer when there is one, else no filler first */
  answers_first: (c, p) => {
    const t = c.text.trim();
    if (!t) return 0;
    if (p.answer !== undefined) {
      const first = normalizeAnswer(t.split(/[\n.;]/)[0] ?? '');
      return [p.answer, ...(p.accept ?? [])].some((a) => { const n = normalizeAnswer(a); return n !== '' && first.startsWith(n); }) ? 1 : 0;
    }
    return FILLER.test(t) ? 0 : 1;
  },
  /** no phrase said again */
  no_repetition: (c) => 1 - repetition(c.text),
  /**
   * shorter is better, and an empty reply is worst: limit/(limit + words), so two replies tie only
   * when they are as long (the limit sets how fast the score falls: 1/2 at `limit` words)
   */
  concise: (c, _p, pr) => {
    const n = c.text.trim().split(/\s+/).filter(Boolean).length, limit = pr.limit ?? 40;
    return n === 0 ? 0 : limit / (limit + n);
  },
};

// ---------------------------------------------------------------- judges

/** A judge of pairs. `applies` says whether it can judge a prompt at all. */
export interface Judge {
  readonly name: string;
  /** the principles this judge draws from (those it can apply) */
  principles(c: Constitution): Principle[];
  applies(p: TaskPrompt): boolean;
  compare(p: TaskPrompt, a: Candidate, b: Candidate, principle: Principle): Promise<Verdict>;
}

const cmp = (sa: number, sb: number, eps = 1e-9): Winner => (sa > sb + eps ? 'a' : sb > sa + eps ? 'b' : 'tie');

/** Correct beats incorrect, by the task family's own metric; two right or two wrong tie. */
export const verifiableJudge: Judge = {
  name: 'verifiable',
  principles: (c) => c.principles,
  applies: (p) => p.answer !== undefined,
  async compare(p, a, b) {
    if (p.answer === undefined) throw new Error('the verifiable judge needs a prompt with a known answer');
    const ok = (c: Candidate) => (c.endedTurn && answerCorrect(c.text, p.answer!, p.accept, p.metric ?? 'normalized') ? 1 : 0);
    const sa = ok(a), sb = ok(b);
    return { winner: cmp(sa, sb), raw: `correct: a=${sa} b=${sb}` };
  },
};

/**
 * The drawn principle's rule decides; where it ties, the constitution's other checkable principles
 * decide in order, so a comparison is a tie only when every rule scores both alike.
 */
export function rulesJudge(c: Constitution): Judge {
  const checkable = c.principles.filter((p) => p.rule !== undefined);
  return {
    name: 'rules',
    principles: () => checkable,
    applies: () => true,
    async compare(p, a, b, principle) {
      const parts: string[] = [];
      for (const pr of [principle, ...checkable.filter((x) => x.id !== principle.id)]) {
        if (!pr.rule) continue;
        const f = RULE_SCORES[pr.rule], sa = f(a, p, pr), sb = f(b, p, pr);
        parts.push(`${pr.id}: a=${sa.toFixed(3)} b=${sb.toFixed(3)}`);
        const w = cmp(sa, sb);
        if (w !== 'tie') return { winner: w, raw: parts.join('; ') };
      }
      return { winner: 'tie', raw: parts.join('; ') };
    },
  };
}

/** Judges tried in order: the first whose verdict is not a tie decides (e.g. verifiable, then rules). */
export function chainJudges(judges: readonly Judge[]): Judge {
  return {
    name: judges.map((j) => j.name).join('+'),
    principles: (c) => judges[judges.length - 1]!.principles(c),
    applies: (p) => judges.some((j) => j.applies(p)),
    async compare(p, a, b, principle) {
      const raws: string[] = [];
      for (const j of judges) {
        if (!j.applies(p)) continue;
        const v = await j.compare(p, a, b, principle);
        raws.push(`${j.name}: ${v.raw}`);
        if (v.winner !== 'tie') return { ...v, raw: raws.join(' | ') };
      }
      return { winner: 'tie', raw: raws.join(' | ') };
    },
  };
}

// ---------------------------------------------------------------- ranking K from pairs

export interface PairJudgment { a: number; b: number; principle: string; verdict: Verdict }

export interface JudgedRanking {
  /** tie groups of response indices, best first */
  groups: number[][];
  judgments: PairJudgment[];
  /** pairs judged in both orders whose two verdicts agreed (model judges), of how many */
  orderAgreement?: { agree: number; n: number };
}

/**
 * Ranks K candidates by Copeland score (wins − losses over all C(K,2) comparisons); equal scores
 * form a tie group. With `bothOrders`, each pair is judged as (a, b) and as (b, a) and the two
 * verdicts are combined (soft labels averaged), which cancels a judge's position bias.
 */
export async function rankResponses(judge: Judge, prompt: TaskPrompt, cands: readonly Candidate[], draw: PrincipleDraw, o: { bothOrders?: boolean } = {}): Promise<JudgedRanking> {
  const K = cands.length, score = new Array<number>(K).fill(0), judgments: PairJudgment[] = [];
  let agree = 0, n = 0;
  for (let i = 0; i < K; i++) for (let j = i + 1; j < K; j++) {
    const principle = draw.next();
    const v1 = await judge.compare(prompt, cands[i]!, cands[j]!, principle);
    judgments.push({ a: i, b: j, principle: principle.id, verdict: v1 });
    let pA = v1.pA ?? (v1.winner === 'a' ? 1 : v1.winner === 'b' ? 0 : 0.5);
    if (o.bothOrders) {
      const v2 = await judge.compare(prompt, cands[j]!, cands[i]!, principle);
      judgments.push({ a: j, b: i, principle: principle.id, verdict: v2 });
      const flipped = v2.winner === 'a' ? 'b' : v2.winner === 'b' ? 'a' : 'tie';
      n++; if (flipped === v1.winner) agree++;
      pA = (pA + (1 - (v2.pA ?? (v2.winner === 'a' ? 1 : v2.winner === 'b' ? 0 : 0.5)))) / 2;
    }
    const w = pA > 0.5 ? 1 : pA < 0.5 ? -1 : 0;
    score[i] = score[i]! + w; score[j] = score[j]! - w;
  }
  const distinct = [...new Set(score)].sort((x, y) => y - x);
  const groups = distinct.map((s) => score.flatMap((x, k) => (x === s ? [k] : [])));
  return { groups, judgments, ...(o.bothOrders ? { orderAgreement: { agree, n } } : {}) };
}

/** Judges by name for the command line ("rules", "verifiable", or a chain "verifiable+rules"). */
export function judgeByName(name: string, c: Constitution): Judge {
  const parts = name.split('+').map((s) => s.trim());
  const one = (n: string): Judge => {
    if (n === 'verifiable') return verifiableJudge;
    if (n === 'rules') return rulesJudge(c);
    throw new Error(`unknown judge '${n}' (verifiable, rules, or a chain such as verifiable+rules; the model judge needs --endpoint)`);
  };
  return parts.length === 1 ? one(parts[0]!) : chainJudges(parts.map(one));
}

