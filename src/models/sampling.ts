// Sampling settings: one zod schema for what a sequence may ask of the generator. The generator,
// the CLI's sampling flags and the HTTP API all check against it, each naming fields its own way.
import { z } from 'zod';

/** The fields, so that a request schema (OpenAI's names) can reuse each one's rule. */
export const samplingFields = {
  /** most new tokens; the context may end a sequence sooner */
  maxNewTokens: z.number().int('must be an integer').min(1, 'must be at least 1'),
  /** 0 = greedy */
  temperature: z.number().min(0, 'must be between 0 and 2').max(2, 'must be between 0 and 2'),
  /** keep the smallest set of tokens with probability ≥ p (1 = off) */
  topP: z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]'),
  /** keep the k most likely tokens (0 = off) */
  topK: z.number().int('must be an integer').min(0, 'must be 0 (off) or more'),
  seed: z.number().int('must be an integer').min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  /** token ids that end a sequence (not part of its output) */
  stopTokens: z.array(z.number().int().min(0)),
  /** texts that end a sequence (cut off from its output) */
  stopStrings: z.array(z.string().min(1, 'a stop string must not be empty')).max(16, 'at most 16 stop strings'),
  /** report each token's log-probability and this many most likely alternatives (0–20) */
  logprobs: z.number().int('must be an integer').min(0, 'must be between 0 and 20').max(20, 'must be between 0 and 20'),
};

export const SamplingSchema = z.object(samplingFields).partial().strict();
export type Sampling = z.infer<typeof SamplingSchema>;

/**
 * Checks sampling settings, throwing one clear error per bad field: `names` maps a field to what
 * the caller calls it (`--top-p` on the command line, `top_p` in a request body).
 */
export function checkSampling(o: unknown, names: Partial<Record<keyof Sampling, string>> = {}): Sampling {
  const r = SamplingSchema.safeParse(o);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!, field = String(issue.path[0] ?? ''), got = valueAt(o, issue.path);
  const name = names[field as keyof Sampling] ?? field;
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  if (issue.code === 'unrecognized_keys') throw new Error(`unknown sampling setting ${issue.keys.map((k) => `'${k}'`).join(', ')}`);
  throw new Error(`${name} ${issue.message === 'Required' ? 'is required' : issue.message.replace(/^Expected/, 'expected')}${shown}`);
}

function valueAt(o: unknown, path: readonly (string | number)[]): unknown {
  let v = o;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}
