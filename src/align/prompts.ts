// Prompts for sampling, judging and RL: a JSONL file (OpenAI messages ending with a user turn, or
// with an assistant turn taken as the reference answer; optional answer/accept/family/metric), or
// the built-in mixture's examples with their known answers.
import { buildMixture, type Example } from '../data/mixture.js';
import { DataFormatError, eachJsonLine, validateConversation, type Message } from '../data/formats.js';
import { readText } from '../util/text.js';
import type { TaskPrompt } from './rollout.js';

const METRICS = new Set(['exact', 'normalized']);

/** Reads prompt JSONL; every bad line is reported as file:line. */
export function readTaskPrompts(file: string): TaskPrompt[] {
  const { items, errors } = eachJsonLine(readText(file), file, (rec) => {
    if (!Array.isArray(rec.messages)) throw new Error("needs 'messages': a list of {role, content}");
    let messages = rec.messages as Message[];
    let answer = typeof rec.answer === 'string' ? rec.answer : undefined;
    if (messages.length && messages[messages.length - 1]?.role === 'assistant') {
      answer ??= String(messages[messages.length - 1]!.content);
      messages = messages.slice(0, -1);
    }
    if (!messages.length || messages[messages.length - 1]?.role !== 'user') throw new Error('messages must end with a user turn (or an assistant answer after one)');
    validateConversation([...messages, { role: 'assistant', content: '.' }], 'messages');
    if (rec.accept !== undefined && (!Array.isArray(rec.accept) || !rec.accept.every((x) => typeof x === 'string'))) throw new Error("'accept' must be a list of strings");
    if (rec.metric !== undefined && !METRICS.has(rec.metric as string)) throw new Error("'metric' must be 'exact' or 'normalized'");
    return {
      messages, ...(answer !== undefined ? { answer } : {}), ...(rec.accept ? { accept: rec.accept as string[] } : {}),
      ...(typeof rec.family === 'string' ? { family: rec.family } : {}), ...(typeof rec.id === 'string' ? { id: rec.id } : {}),
      ...(rec.metric ? { metric: rec.metric as 'exact' | 'normalized' } : {}),
    };
  });
  if (errors.length) throw new DataFormatError(errors);
  if (!items.length) throw new Error(`${file}: holds no prompts`);
  return items;
}

/** A mixture example as a prompt with its known answer and its family's metric. */
export function exampleToPrompt(e: Example, metric: 'exact' | 'normalized'): TaskPrompt {
  return { messages: e.messages, id: e.id, family: e.family, answer: e.answer, ...(e.accept ? { accept: e.accept } : {}), metric };
}

/**
 * Prompts from the built-in mixture: 'train' draws from the trained families' training items,
 * 'heldout' from their held-out test items (never trained on), `perFamily` from each family.
 */
export function builtinPrompts(o: { seed: number; perFamily: number; split: 'train' | 'heldout' }): TaskPrompt[] {
  const mix = buildMixture({ seed: o.seed, trainPerFamily: o.split === 'train' ? o.perFamily : 1, evalPerFamily: o.split === 'heldout' ? o.perFamily : 1 });
  const metric = new Map(mix.families.map((f) => [f.name, f.metric]));
  const pool = o.split === 'train' ? mix.train : mix.heldout;
  return pool.map((e) => exampleToPrompt(e, metric.get(e.family) ?? 'normalized'));
}
