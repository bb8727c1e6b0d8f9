// The model judge: any OpenAI-compatible endpoint compares two responses under a principle of the
// constitution. The verdict comes from the answer ("A" or "B"), or, where the endpoint gives
// log-probabilities, as a soft label P(A) from the top alternatives of the first token. Pairs are
// judged in both orders by rankResponses, which cancels the judge's position bias.
import type { Candidate, Constitution, Judge, Principle, Verdict } from '../align/judges.js';
import type { TaskPrompt } from '../align/rollout.js';
import type { OpenAIClient } from './client.js';

/** The judging prompt: the principle, the conversation so far, and the two responses. */
export function judgePrompt(p: TaskPrompt, a: Candidate, b: Candidate, principle: Principle): string {
  const conv = p.messages.map((m) => `${m.role}: ${m.content}`).join('\n');
  return `Consider this conversation:\n${conv}\n\n${principle.text}\n\nResponse A: ${a.text.trim() || '(empty)'}\nResponse B: ${b.text.trim() || '(empty)'}\n\nAnswer with the single letter A or B.`;
}

/** P(A) from the first generated token's alternatives (log-probs of "A" and "B" renormalised). */
export function softLabel(top: ReadonlyArray<{ token: string; logprob: number }>): number | null {
  let pa = 0, pb = 0;
  for (const t of top) {
    const s = t.token.trim().toUpperCase();
    if (s === 'A') pa += Math.exp(t.logprob);
    else if (s === 'B') pb += Math.exp(t.logprob);
  }
  return pa + pb > 0 ? pa / (pa + pb) : null;
}

/** The verdict a written answer gives: its first standalone A or B. */
export function parseVerdict(text: string): 'a' | 'b' | 'tie' {
  const m = /\b([AB])\b/.exec(text.toUpperCase().replace(/RESPONSE\s+/g, ''));
  return m ? (m[1] === 'A' ? 'a' : 'b') : 'tie';
}

export function modelJudge(client: OpenAIClient, model: string, o: { logprobs?: boolean; seed?: number } = {}): Judge {
  return {
    name: `model:${model}`,
    principles: (c: Constitution) => c.principles,
    applies: () => true,
    async compare(p, a, b, principle): Promise<Verdict> {
      const r = await client.chat({
        model, messages: [{ role: 'user', content: judgePrompt(p, a, b, principle) }], temperature: 0, max_tokens: 4, seed: o.seed ?? 0,
        ...(o.logprobs !== false ? { logprobs: true, top_logprobs: 10 } : {}),
      });
      const c = r.choices[0];
      if (!c) throw new Error(`${r.endpoint}: the judge gave no answer`);
      const written = parseVerdict(c.text), soft = c.logprobs?.length ? softLabel(c.logprobs[0]!.top) : null;
      if (soft !== null) return { winner: soft > 0.5 ? 'a' : soft < 0.5 ? 'b' : 'tie', pA: soft, raw: c.text };
      return { winner: written, raw: c.text };
    },
  };
}
