// The reward model (InstructGPT §3.5): a scalar head on the SFT model's trunk, read at the last
// real token of a response (its end-of-turn token), trained on rankings of K responses. All C(K,2)
// pairs a ranking implies are one batch element, each response scored once:
//
//   loss(θ) = −1/C(K,2) · Σ_{(w,l)} log σ(r_θ(x, y_w) − r_θ(x, y_l))        (ties give no pair)
//
// plus TRL's optional centering term c·mean((r_w + r_l)²) and a margin (r_w − r_l − m·Δgroup).
// After training a bias sets the mean score of the SFT model's own responses to 0.
import { Tensor } from '../core/tensor.js';
import * as op from '../core/ops.js';
import { noGrad } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Transformer } from '../models/transformer.js';
import { renderPrompt, type TokenizerFolder } from '../tokenizer/index.js';
import type { Message } from '../data/formats.js';
import type { BatchSource, LossReport } from '../train/loop.js';

/** A prompt, its responses and one ranking of them as tie groups of response indices, best first. */
export interface RankedPrompt {
  messages: Message[];
  responses: Array<{ text: string; endedTurn: boolean }>;
  groups: number[][];
  /** who ranked (a person or a judge) */
  rater?: string;
}

/** A ranking as token ids: the prompt, each response (end-of-turn token included when it ended). */
export interface EncodedRanking { prompt: number[]; responses: number[][]; groups: number[][] }

/** The pairs (winner, loser, group distance) a ranking implies; ties give none. */
export function impliedPairs(groups: readonly (readonly number[])[]): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let gi = 0; gi < groups.length; gi++) for (let gj = gi + 1; gj < groups.length; gj++)
    for (const w of groups[gi]!) for (const l of groups[gj]!) out.push([w, l, gj - gi]);
  return out;
}

/** Tokens of a ranking; responses longer than `maxLength` with the prompt keep their end. */
export function encodeRanking(tok: TokenizerFolder, r: RankedPrompt, maxLength: number): EncodedRanking {
  if (!tok.chatTemplate) throw new Error('the reward model needs a chat template (tokenizer_config.json chat_template) to render prompts');
  const eot = tok.eotTokenId;
  let prompt = renderPrompt(tok.tokenizer, tok.chatTemplate, r.messages.map((m) => ({ role: m.role, content: m.content })));
  const responses = r.responses.map((x) => [...tok.tokenizer.encode(x.text), ...(x.endedTurn && eot !== null ? [eot] : [])]);
  const longest = Math.max(...responses.map((x) => x.length));
  // keep the prompt's end (the question) when prompt + response would not fit
  if (prompt.length + longest > maxLength) prompt = prompt.slice(Math.max(0, prompt.length - Math.max(1, maxLength - longest)));
  return { prompt, responses: responses.map((x) => x.slice(0, Math.max(1, maxLength - prompt.length))), groups: r.groups };
}

/** Score rows of a batch: each response after its prompt, right-padded; `last` = its last token. */
export interface ScoreBatch { ids: Int32Array; B: number; T: number; last: Int32Array }

export function scoreBatch(items: ReadonlyArray<{ prompt: readonly number[]; response: readonly number[] }>, padId = 0): ScoreBatch {
  const B = items.length, T = Math.max(...items.map((x) => x.prompt.length + x.response.length));
  const ids = new Int32Array(B * T).fill(padId), last = new Int32Array(B);
  items.forEach((x, b) => {
    ids.set(x.prompt, b * T); ids.set(x.response, b * T + x.prompt.length);
    last[b] = b * T + x.prompt.length + x.response.length - 1;
  });
  return { ids, B, T, last };
}

/** Scalar scores (B) of a score batch, read at each row's last token. */
export function scores(model: Transformer, b: ScoreBatch, o: { training?: boolean } = {}): Tensor {
  return model.scoreHead(model.trunk(b.ids, b.B, b.T, { rows: b.last, training: o.training ?? false }));
}

export interface RewardLossOptions { centerCoef?: number; margin?: number }

/**
 * InstructGPT's K-way loss over a micro-batch of rankings, summed over rankings (the loop divides by
 * their count). Stats: pairwise accuracy and mean margin r_w − r_l over the implied pairs.
 */
export function rankingLoss(model: Transformer, batch: readonly EncodedRanking[], o: RewardLossOptions = {}, training = true): LossReport {
  const rows: Array<{ prompt: number[]; response: number[] }> = [], winners: number[] = [], losers: number[] = [], weights: number[] = [], margins: number[] = [];
  let tokens = 0, counted = 0;
  for (const r of batch) {
    const base = rows.length, pairs = impliedPairs(r.groups);
    for (const resp of r.responses) { rows.push({ prompt: r.prompt, response: resp }); tokens += r.prompt.length + resp.length; }
    if (!pairs.length) continue;
    counted++;
    for (const [w, l, dg] of pairs) { winners.push(base + w); losers.push(base + l); weights.push(1 / pairs.length); margins.push((o.margin ?? 0) * dg); }
  }
  const s = op.reshape(scores(model, scoreBatch(rows), { training }), [rows.length, 1]);
  if (!winners.length) return { loss: op.scale(op.sum(s), 0), count: 0, tokens };
  const rw = op.selectRows(s, winners), rl = op.selectRows(s, losers);
  let diff = op.sub(rw, rl);
  if (o.margin) diff = op.sub(diff, Tensor.from(margins, [margins.length, 1]));
  let loss = op.neg(op.sum(op.mul(op.logsigmoid(diff), Tensor.from(weights, [weights.length, 1]))));
  if (o.centerCoef) loss = op.add(loss, op.scale(op.sum(op.mul(op.square(op.add(rw, rl)), Tensor.from(weights, [weights.length, 1]))), o.centerCoef));
  const d = op.sub(rw, rl).f32;
  let acc = 0, mar = 0;
  for (let i = 0; i < d.length; i++) { acc += (d[i]! > 0 ? 1 : 0) * weights[i]!; mar += d[i]! * weights[i]!; }
  return { loss, count: counted, tokens, stats: { accuracy: acc, margin: mar } };
}

/**
 * Rankings in batches of `size`, in a seeded order per epoch. In 'pairs' mode every implied pair is
 * its own two-response ranking and the pairs are shuffled one by one: the baseline InstructGPT
 * compared K-way batching against (it overfits, since each response is seen C(K,2)−1 extra times).
 */
export class RankingSource implements BatchSource<EncodedRanking[]> {
  private readonly items: EncodedRanking[];
  private epoch = 0; private pos = 0; private order: number[] = [];
  constructor(rankings: readonly EncodedRanking[], private readonly size: number, private readonly seed: number, mode: 'kway' | 'pairs' = 'kway') {
    this.items = mode === 'kway' ? rankings.filter((r) => impliedPairs(r.groups).length > 0)
      : rankings.flatMap((r) => impliedPairs(r.groups).map(([w, l]) => ({ prompt: r.prompt, responses: [r.responses[w]!, r.responses[l]!], groups: [[0], [1]] })));
    if (!this.items.length) throw new Error('no ranking implies a preference (every ranking is one tie group)');
    this.reorder();
  }
  get length(): number { return this.items.length; }
  private reorder(): void { this.order = new Rng(this.seed + this.epoch).shuffle([...this.items.keys()]); }
  next(): EncodedRanking[] {
    const out: EncodedRanking[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.pos >= this.order.length) { this.epoch++; this.pos = 0; this.reorder(); }
      out.push(this.items[this.order[this.pos++]!]!);
    }
    return out;
  }
  state(): unknown { return { epoch: this.epoch, pos: this.pos }; }
  load(s: unknown): void { const st = s as { epoch: number; pos: number }; this.epoch = st.epoch; this.pos = st.pos; this.reorder(); }
}

/** A reward model from a language model: the same trunk, the LM head replaced by a scalar head. */
export function toRewardModel(lm: Transformer, seed: number): Transformer {
  if (lm.cfg.head === 'score') return lm;
  const params = new Map(lm.params);
  params.delete('lm_head.weight');
  // normal(0, initializer_range) as transformers initialises a new score head
  params.set('score.weight', Tensor.randn([1, lm.cfg.dModel], new Rng(seed), lm.cfg.initStd ?? 0.02));
  return new Transformer({ ...lm.cfg, head: 'score' }, params, new Map(lm.frozenNF4));
}

export interface PairAccuracy { accuracy: number; pairs: number; rankings: number; meanMargin: number }

/** Scores of every response of the rankings (batched), in ranking order. */
export function scoreRankings(model: Transformer, rankings: readonly EncodedRanking[], batch = 16): number[][] {
  return noGrad(() => {
    const flat = rankings.flatMap((r) => r.responses.map((resp) => ({ prompt: r.prompt, response: resp })));
    const out: number[] = [];
    for (let i = 0; i < flat.length; i += batch) out.push(...scores(model, scoreBatch(flat.slice(i, i + batch))).f32);
    let k = 0;
    return rankings.map((r) => r.responses.map(() => out[k++]!));
  });
}

/** How often the model scores the preferred response of an implied pair higher (ties count half). */
export function pairwiseAccuracy(model: Transformer, rankings: readonly EncodedRanking[]): PairAccuracy {
  const sc = scoreRankings(model, rankings);
  let right = 0, n = 0, margin = 0;
  rankings.forEach((r, i) => {
    for (const [w, l] of impliedPairs(r.groups)) {
      const d = sc[i]![w]! - sc[i]![l]!;
      right += d > 0 ? 1 : d === 0 ? 0.5 : 0; margin += d; n++;
    }
  });
  return { accuracy: n ? right / n : NaN, pairs: n, rankings: rankings.length, meanMargin: n ? margin / n : NaN };
}

export interface ScoreSummary { n: number; mean: number; std: number; min: number; max: number; quantiles: Record<'p05' | 'p25' | 'p50' | 'p75' | 'p95', number>; histogram: { edges: number[]; counts: number[] } }

/** The distribution of a set of scores (for the report and the command's summary). */
export function summarize(xs: readonly number[], bins = 20): ScoreSummary {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(n, 1), std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(n, 1));
  const q = (p: number) => (n ? s[Math.min(n - 1, Math.floor(p * n))]! : NaN);
  const lo = s[0] ?? 0, hi = s[n - 1] ?? 0, width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const x of s) counts[Math.min(bins - 1, Math.floor((x - lo) / width))]!++;
  return { n, mean, std, min: lo, max: hi, quantiles: { p05: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95) }, histogram: { edges: Array.from({ length: bins + 1 }, (_, i) => lo + i * width), counts } };
}
