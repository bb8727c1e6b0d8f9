// Constitutional AI (Bai et al. 2022) through any OpenAI-compatible endpoint. SL-CAI: each prompt's
// response is critiqued under a principle drawn from the constitution and revised, for N rounds; the
// final revisions are SFT data. RL-CAI: K responses per prompt go into the feedback store, and the
// model judge labels every pair under a drawn principle (soft labels from log-probs, both orders),
// ready for `heed reward` and `heed dpo`.
import type { TaskPrompt } from '../align/rollout.js';
import { PrincipleDraw, type Constitution, type Principle } from '../align/judges.js';
import { hash32 } from '../core/rng.js';
import type { Message } from '../data/formats.js';
import { judgeStore, metaOf, type JudgeReport } from '../feedback/align.js';
import type { FeedbackStore } from '../feedback/store.js';
import type { ChatMessage, OpenAIClient } from './client.js';
import { modelJudge } from './judge.js';

const seedOf = (...parts: Array<string | number>) => hash32(parts.join(':')) % 2 ** 31;

/**
 * The critique request for a principle: its own (the paper's wording for harmlessness is in the
 * default constitution), or one made from its comparison question ("Which response is concise…?").
 */
export function critiqueRequest(p: Principle): string {
  if (p.critique) return p.critique;
  const q = /^Which response (.*?)\??$/s.exec(p.text.trim());
  return q ? `Identify specific ways in which the assistant's last response falls short of this: a response that ${q[1]}.`
    : `Identify specific ways in which the assistant's last response falls short of this principle: ${p.text.trim()}`;
}

/** The revision request for a principle: its own, or one made from its comparison question. */
export function revisionRequest(p: Principle): string {
  if (p.revision) return p.revision;
  const q = /^Which response (.*?)\??$/s.exec(p.text.trim());
  return q ? `Please rewrite the assistant response so that it is a response that ${q[1]}.`
    : `Please rewrite the assistant response so that it better follows this principle: ${p.text.trim()}`;
}

export interface CaiOptions {
  client: OpenAIClient;
  model: string;
  constitution: Constitution;
  seed?: number;
  /** most tokens per response, critique and revision (default 256) */
  maxTokens?: number;
  /** sampling temperature of the responses, critiques and revisions (default 0.7) */
  temperature?: number;
  onProgress?: (done: number, total: number) => void;
}

/** One prompt's critique-revision chain. */
export interface CaiRound { principle: string; critique: string; revision: string }
export interface CaiRecord {
  messages: Message[];
  provenance: { source: 'sl-cai'; model: string; principles: string[]; initial: string; rounds: CaiRound[]; prompt: number };
}

export interface SlCaiStats {
  prompts: number; rounds: number; requests: number; cache_hits: number;
  /** prompts whose final revision was empty (no SFT example written) */
  empty: number;
  /** requests asked again with a smaller max_tokens to fit the model's context; chains stopped early because a critique or revision prompt alone did not fit */
  shrunk: number; too_long: number;
  written: number; seconds: number;
}

/**
 * SL-CAI: response → (critique under a drawn principle → revision) × rounds, each prompt's chain in
 * one conversation as the paper sets it out (the critique and revision requests are user turns).
 * The principles are drawn up front in prompt order, so the draw does not depend on timing.
 */
export async function slCai(prompts: readonly TaskPrompt[], rounds: number, o: CaiOptions): Promise<{ records: CaiRecord[]; stats: SlCaiStats }> {
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be a positive integer, got ${rounds}`);
  const seed = o.seed ?? 0, t0 = Date.now(), hits0 = o.client.cacheHits;
  const draw = new PrincipleDraw(o.constitution.principles, seed);
  const plan = prompts.map(() => Array.from({ length: rounds }, () => draw.next()));
  let requests = 0, done = 0;
  const fit0 = { shrunk: o.client.shrunk, tooLong: o.client.tooLong };
  // null: the conversation alone does not fit the model's context
  const say = async (messages: ChatMessage[], key: string): Promise<string | null> => {
    requests++;
    const r = await o.client.chatWithin({ model: o.model, messages, temperature: o.temperature ?? 0.7, max_tokens: o.maxTokens ?? 256, seed: seedOf(seed, key) });
    return r ? (r.result.choices[0]?.text ?? '').trim() : null;
  };
  const chains = await Promise.all(prompts.map(async (p, i) => {
    const msgs: ChatMessage[] = p.messages.map((m) => ({ role: m.role, content: m.content }));
    const initial = (await say(msgs, `${i}:response`)) ?? '';
    let response = initial;
    const rs: CaiRound[] = [];
    // a round whose critique or revision does not fit the context ends the chain at the last revision
    for (let r = 0; r < rounds; r++) {
      const pr = plan[i]![r]!;
      const conv: ChatMessage[] = [...msgs, { role: 'assistant', content: response || '(no answer)' }, { role: 'user', content: critiqueRequest(pr) }];
      const critique = await say(conv, `${i}:${r}:critique`);
      if (critique === null) break;
      const revision = await say([...conv, { role: 'assistant', content: critique || '(no critique)' }, { role: 'user', content: revisionRequest(pr) }], `${i}:${r}:revision`);
      if (revision === null) break;
      rs.push({ principle: pr.id, critique, revision });
      response = revision;
    }
    o.onProgress?.(++done, prompts.length);
    return { initial, rounds: rs, final: response };
  }));
  const records: CaiRecord[] = [];
  chains.forEach((c, i) => {
    if (!c.final) return;
    records.push({
      messages: [...prompts[i]!.messages, { role: 'assistant', content: c.final }],
      provenance: { source: 'sl-cai', model: o.model, principles: c.rounds.map((r) => r.principle), initial: c.initial, rounds: c.rounds, prompt: i },
    });
  });
  return { records, stats: { prompts: prompts.length, rounds, requests, cache_hits: o.client.cacheHits - hits0, empty: prompts.length - records.length, shrunk: o.client.shrunk - fit0.shrunk, too_long: o.client.tooLong - fit0.tooLong, written: records.length, seconds: (Date.now() - t0) / 1000 } };
}

export interface RlCaiStats {
  prompts: number;
  /** prompts added to the store this run (a rerun finds them there and adds none) */
  added: number;
  responses: number; requests: number; cache_hits: number;
  /** judgments carrying a soft label P(A) from the judge's log-probs */
  soft_labels: number;
  judge: JudgeReport;
  seconds: number;
}

/**
 * RL-CAI: K responses per prompt from the endpoint into the store (once: prompts this command stored
 * before are not stored again), then every unranked prompt judged by the model judge under the
 * constitution, each pair in both orders, with soft labels where the endpoint gives log-probs.
 */
export async function rlCai(store: FeedbackStore, prompts: readonly TaskPrompt[], k: number, o: CaiOptions & { judgeModel?: string }): Promise<RlCaiStats> {
  if (!(Number.isInteger(k) && k >= 2 && k <= 9)) throw new Error(`-k: responses per prompt must be between 2 and 9, got ${k}`);
  const seed = o.seed ?? 0, t0 = Date.now(), hits0 = o.client.cacheHits, source = 'heed cai';
  const temperature = o.temperature ?? 0.7, maxTokens = o.maxTokens ?? 256;
  const stored = new Set(store.prompts().filter((p) => p.source === source).map((p) => JSON.stringify(p.messages)));
  const todo = prompts.map((p, i) => ({ p, i })).filter(({ p }) => !stored.has(JSON.stringify(p.messages.map((m) => ({ role: m.role, content: m.content })))));
  let requests = 0;
  const sampled = await Promise.all(todo.map(({ p, i }) => Promise.all(Array.from({ length: k }, async (_, j) => {
    requests++;
    const s = seedOf(seed, i, j);
    const r = await o.client.chat({ model: o.model, messages: p.messages.map((m) => ({ role: m.role, content: m.content })), temperature, max_tokens: maxTokens, seed: s });
    const c = r.choices[0];
    return { text: c?.text ?? '', finish: (c?.finish === 'length' ? 'length' : 'stop') as 'stop' | 'length', seed: s };
  }))));
  const settings = { temperature, max_tokens: maxTokens };
  todo.forEach(({ p }, n) => {
    const id = store.addPrompt({ messages: p.messages, source, meta: metaOf(p) });
    store.addResponses(id, sampled[n]!.map((r) => ({ text: r.text, model: o.model, settings, seed: r.seed, finish: r.finish })));
  });
  const judge = modelJudge(o.client, o.judgeModel ?? o.model, { seed });
  const before = new Set(store.judgments().map((j) => j.id));
  const report = await judgeStore(store, judge, new PrincipleDraw(judge.principles(o.constitution), seed), { bothOrders: true, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  const fresh = store.judgments().filter((j) => !before.has(j.id));
  return {
    prompts: prompts.length, added: todo.length, responses: todo.length * k,
    requests: requests + report.judgments, cache_hits: o.client.cacheHits - hits0,
    soft_labels: fresh.filter((j) => j.pA !== null && j.pA !== undefined).length, judge: report, seconds: (Date.now() - t0) / 1000,
  };
}
