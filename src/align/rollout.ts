// Rollouts: K sampled responses per prompt from the batched generator, each with its own seed, as
// token ids (the end-of-turn token kept when the reply ended its turn, so training sees it) and
// text. `heed sample`, PPO, GRPO and the demo all draw responses through this one path.
import { Generator, type FinishReason } from '../models/generate.js';
import type { Sampling } from '../models/sampling.js';
import type { Transformer } from '../models/transformer.js';
import { renderPrompt, stopTokenIds, type TokenizerFolder } from '../tokenizer/index.js';
import type { Message } from '../data/formats.js';
import type { Metric } from '../data/tasks/common.js';

/** A prompt to answer, with what a verifiable judge needs when its answer is known. */
export interface TaskPrompt {
  messages: Message[];
  id?: string;
  family?: string;
  answer?: string;
  accept?: string[];
  metric?: Metric;
}

export interface Rollout {
  /** index of the prompt and of the sample within it */
  prompt: number; k: number;
  /** the rendered prompt */
  promptIds: number[];
  /** new tokens, the end-of-turn token included when the reply ended its turn */
  response: number[];
  /** reply text (specials left out) */
  text: string;
  finish: FinishReason;
  seed: number;
}

export interface RolloutOptions {
  /** samples per prompt */
  k: number;
  sampling: Sampling;
  /** response j of prompt i is drawn with seed + i·k + j */
  seed: number;
  /** sequences decoded at once (default 16) */
  batch?: number;
  /** false: the base model without its LoRA adapters */
  adapters?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** The chat-template prompt ids of each prompt (an error names a model without a template). */
export function promptIds(tok: TokenizerFolder, prompts: readonly TaskPrompt[]): number[][] {
  if (!tok.chatTemplate) throw new Error('the model has no chat template (tokenizer_config.json chat_template), so it cannot answer prompts');
  return prompts.map((p) => renderPrompt(tok.tokenizer, tok.chatTemplate!, p.messages.map((m) => ({ role: m.role, content: m.content }))));
}

/** K responses to each prompt, in prompt-major order ([i][j] = prompt i, sample j). */
export function rollouts(model: Transformer, tok: TokenizerFolder, prompts: readonly TaskPrompt[], o: RolloutOptions): Rollout[][] {
  if (!(Number.isInteger(o.k) && o.k >= 1)) throw new Error(`k must be a positive integer, got ${o.k}`);
  const ids = promptIds(tok, prompts), stops = stopTokenIds(tok);
  const g = new Generator(model, { slots: o.batch ?? 16, ...(o.adapters === false ? { adapters: false } : {}) });
  const out: Rollout[][] = prompts.map(() => []);
  const last = new Map<object, number>(), meta = new Map<object, { i: number; j: number; seed: number }>();
  const seqs = [];
  for (let i = 0; i < prompts.length; i++) for (let j = 0; j < o.k; j++) {
    const seed = o.seed + i * o.k + j;
    const s = g.add(ids[i]!, { ...o.sampling, seed, stopTokens: stops });
    meta.set(s, { i, j, seed });
    seqs.push(s);
  }
  let done = 0;
  const total = seqs.length;
  while (!g.idle) {
    for (const e of g.step()) {
      last.set(e.seq, e.token);
      if (e.finish) o.onProgress?.(++done, total);
    }
  }
  for (const s of seqs) {
    const m = meta.get(s)!, end = last.get(s);
    const response = [...s.tokens];
    // a reply that ended on a stop token keeps it: the policy must learn to end its turn
    if (s.finish === 'stop' && end !== undefined && stops.includes(end)) response.push(end);
    out[m.i]![m.j] = {
      prompt: m.i, k: m.j, promptIds: ids[m.i]!, response, finish: s.finish ?? 'length', seed: m.seed,
      text: tok.tokenizer.decode(s.tokens, { skipSpecialTokens: true }),
    };
  }
  return out;
}
