// The shape of a task family (an item pool plus phrasings) and helpers for the three template
// styles: input inside the instruction, a separate input block, and instruction as system prompt.

export interface Prompt { system?: string; user: string }

export interface Template<I> { id: string; render: (x: I) => Prompt }

export interface TaskItem<I> {
  /** Identity for splitting: items with the same key are always on the same side of the
   *  train/held-out split, across every family that uses the same key namespace (e.g. "lex:dog"). */
  key: string;
  input: I;
  answer: string;
  /** Other answers that are also right (e.g. every synonym); `answer` is always accepted. */
  accept?: string[];
}

export type Metric = 'exact' | 'normalized';

export interface TaskFamily<I = unknown> {
  name: string;
  description: string;
  /** Where the facts come from ("wordnet", "generated", …), for the families table and NOTICE. */
  source: string;
  /** 'exact' where case or formatting is the point (uppercase, sorting); 'normalized' otherwise. */
  metric: Metric;
  templates: Array<Template<I>>;
  /** The whole item pool, deterministic and independent of the mixture seed. */
  items: () => Array<TaskItem<I>>;
}

/** Erases the item type so families of different inputs can share one list. */
export function family<I>(f: TaskFamily<I>): TaskFamily<unknown> {
  return f as unknown as TaskFamily<unknown>;
}

/** Input inside the instruction. */
export function inline<I>(id: string, f: (x: I) => string): Template<I> {
  return { id, render: (x) => ({ user: f(x) }) };
}

/** Instruction, blank line, input: the Alpaca layout (the same rendering the Alpaca reader uses). */
export function block<I>(id: string, instruction: string, f: (x: I) => string): Template<I> {
  return { id, render: (x) => ({ user: `${instruction}\n\n${f(x)}` }) };
}

/** Instruction as the system prompt, bare input as the user turn. */
export function system<I>(id: string, instruction: string, f: (x: I) => string): Template<I> {
  return { id, render: (x) => ({ system: instruction, user: f(x) }) };
}

export const article = (w: string): string => (/^[aeiou]/i.test(w) ? 'an' : 'a');

/** Numbers as answers: at most two decimals, no trailing zeros, never exponent notation. */
export function formatNumber(x: number): string {
  const r = Math.round(x * 100) / 100;
  return (Object.is(r, -0) ? 0 : r).toString();
}

/** Unique by key, first occurrence wins (pools are built in a stable order). */
export function uniqueByKey<I>(items: Array<TaskItem<I>>): Array<TaskItem<I>> {
  const seen = new Set<string>();
  return items.filter((it) => (seen.has(it.key) ? false : (seen.add(it.key), true)));
}
