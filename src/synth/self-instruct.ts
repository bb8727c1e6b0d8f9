// Self-Instruct (Wang et al. 2022, yizhongw/self-instruct): new instructions bootstrapped from a pool
// of hand-written seed tasks by any OpenAI-compatible endpoint, kept when they pass the paper's
// filters (length, unsuitable keywords, ROUGE-L novelty against everything kept so far), classified
// as classification or not by asking the model, given instances output-first (classification) or
// input-first (otherwise), and written as messages JSONL with each task's provenance.
//
// Each request is fixed by the run's seed and the pool as it stood, so a rerun with the client's
// cache asks the endpoint nothing it asked before: an interrupted run continues where it stopped.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash32, Rng } from '../core/rng.js';
import { rougeL } from '../data/score.js';
import type { Message } from '../data/formats.js';
import { readText } from '../util/text.js';
import type { ChatResult, OpenAIClient } from './client.js';

// ---------------------------------------------------------------- seed tasks

export interface Instance { input: string; output: string }
/** A task in the paper's seed_tasks.jsonl format (`kind` is heed's label of what sort of task it is). */
export interface SeedTask { id: string; name: string; kind?: string; instruction: string; instances: Instance[]; is_classification: boolean }

const here = dirname(fileURLToPath(import.meta.url));
/** The seed tasks heed ships (written for heed, in the paper's format). */
export const DEFAULT_SEED_TASKS = resolve(here, '..', '..', 'src', 'synth', 'seed_tasks.jsonl');

/** Reads seed tasks; every bad line is reported as file:line with the field. */
export function loadSeedTasks(file = DEFAULT_SEED_TASKS): SeedTask[] {
  const out: SeedTask[] = [], errors: string[] = [];
  readText(file).split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) return;
    try {
      let o: unknown;
      try { o = JSON.parse(line); } catch (e) { throw new Error(`bad JSON (${(e as Error).message})`); }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('line is not a JSON object');
      const r = o as Record<string, unknown>;
      if (typeof r.instruction !== 'string' || !r.instruction.trim()) throw new Error("'instruction' must be a non-empty string");
      if (typeof r.is_classification !== 'boolean') throw new Error("'is_classification' must be true or false");
      if (!Array.isArray(r.instances) || !r.instances.length) throw new Error("'instances' must be a non-empty list of {input, output}");
      const instances = r.instances.map((x: unknown, k) => {
        const it = x as Record<string, unknown>;
        if (typeof it !== 'object' || it === null || typeof it.input !== 'string' || typeof it.output !== 'string' || !it.output.trim()) throw new Error(`instances[${k}] must be {input: string, output: non-empty string}`);
        return { input: it.input, output: it.output };
      });
      out.push({
        id: typeof r.id === 'string' ? r.id : `seed_task_${out.length}`, name: typeof r.name === 'string' ? r.name : '',
        ...(typeof r.kind === 'string' ? { kind: r.kind } : {}), instruction: r.instruction, instances, is_classification: r.is_classification,
      });
    } catch (e) { errors.push(`${file}:${i + 1}: ${(e as Error).message}`); }
  });
  if (errors.length) throw new Error(errors.slice(0, 10).join('\n') + (errors.length > 10 ? `\n… and ${errors.length - 10} more` : ''));
  if (out.length < 8) throw new Error(`${file}: holds ${out.length} seed tasks; the generation prompt needs at least 8`);
  return out;
}

// ---------------------------------------------------------------- step 1: instruction generation

/** bootstrap_instructions.encode_prompt: the numbered in-context instructions, ending with the next number. */
export function bootstrapPrompt(instructions: readonly string[]): string {
  let p = 'Come up with a series of tasks:\n';
  instructions.forEach((inst, i) => { p += `${i + 1}. ${inst.replace(/\s+/g, ' ').trim().replace(/:+$/, '')}\n`; });
  return `${p}${instructions.length + 1}.`;
}

/**
 * The instructions in a generated list (post_process_gpt3_response's split on "\n<number>. " and
 * whitespace clean-up; the first letter made upper case, where the paper's capitalize() also lowercased
 * the rest). A reply cut off by the token limit loses
 * its last instruction, which is likely unfinished (as Alpaca does; the paper drops the whole reply).
 */
export function splitInstructions(text: string, finish: string): { instructions: string[]; truncated: number } {
  const parts = text.split(/\n\d+\s?\. /).map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean)
    .map((s) => s[0]!.toUpperCase() + s.slice(1));
  if (finish === 'length' && parts.length) return { instructions: parts.slice(0, -1), truncated: 1 };
  return { instructions: parts, truncated: 0 };
}

/** Words that mark a task a language model cannot do (the paper's list, with Alpaca's additions). */
export const BLOCKED_WORDS = ['image', 'images', 'graph', 'graphs', 'picture', 'pictures', 'file', 'files', 'map', 'maps', 'draw', 'plot', 'go to',
  'video', 'audio', 'music', 'flowchart', 'diagram'] as const;

export type RuleFilter = 'length' | 'keyword' | 'program' | 'punctuation' | 'non_ascii';
export type FilterName = 'truncated' | RuleFilter | 'similar';
export const FILTERS: readonly FilterName[] = ['truncated', 'length', 'keyword', 'program', 'punctuation', 'non_ascii', 'similar'];

const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/**
 * The rule filters of post_process_gpt3_response, in its order; null when the instruction passes.
 * Length: more than 3 and at most 150 words (the paper's code drops `len(inst.split()) <= 3`).
 */
export function ruleFilter(inst: string): RuleFilter | null {
  const words = inst.split(/\s+/).filter(Boolean).length;
  if (words <= 3 || words > 150) return 'length';
  if (BLOCKED_WORDS.some((w) => new RegExp(`\\b${w}\\b`, 'i').test(inst))) return 'keyword';
  if (inst.startsWith('Write a program')) return 'program';
  if (PUNCT.includes(inst[0]!)) return 'punctuation';
  if (inst.charCodeAt(0) > 127) return 'non_ascii';
  return null;
}

/** The novelty filter: an instruction whose ROUGE-L F against any in the pool exceeds 0.7 is dropped. */
export const SIMILARITY_LIMIT = 0.7;

/** The most similar instruction in the pool, by ROUGE-L F (0 and null for an empty pool). */
export function mostSimilar(inst: string, pool: readonly string[]): { score: number; to: string | null } {
  let best = 0, to: string | null = null;
  for (const p of pool) { const f = rougeL(inst, p).f; if (f > best || to === null) { best = f; to = p; } }
  return { score: best, to };
}

// ---------------------------------------------------------------- step 2: classification or not

const CLF_HEAD = 'Can the following task be regarded as a classification task with finite output labels?';

/** identify_clf_or_not's prompt, its examples drawn from the seed tasks (half of each kind). */
export function classifyPrompt(instruction: string, demos: readonly SeedTask[]): string {
  const shots = demos.map((d) => `Task: ${d.instruction.trim()}\nIs it classification? ${d.is_classification ? 'Yes' : 'No'}\n\n`).join('');
  return `${CLF_HEAD}\n\n${shots}Task: ${instruction.trim()}\nIs it classification?`;
}

/** The answer read as the paper reads it: "Yes" (any case, trailing punctuation allowed) is classification. */
export const isYes = (text: string) => /^yes\b/i.test(text.trim());

// ---------------------------------------------------------------- step 3: instances

const OUTPUT_FIRST = "Given the classification task definition and the class labels, generate an input that corresponds to each of the class labels. If the task doesn't require input, just generate possible class labels.";
const INPUT_FIRST = "Come up with examples for the following tasks. Try to generate multiple examples when possible. If the task doesn't require additional input, you can generate the output directly.";

/** generate_instances' prompts: output-first for classification (the label, then an input for it), input-first otherwise. */
export function instancePrompt(instruction: string, classification: boolean, demos: readonly SeedTask[]): string {
  const shot = (d: SeedTask) => `Task: ${d.instruction.trim()}\n` + (classification
    ? d.instances.map((x) => `Class label: ${x.output.trim()}${x.input.trim() ? `\n${x.input.trim()}` : ''}`).join('\n')
    : d.instances.map((x, i) => (x.input.trim() ? `Example ${i + 1}\nInput: ${x.input.trim()}\nOutput: ${x.output.trim()}` : `Output: ${x.output.trim()}`)).join('\n'));
  return `${classification ? OUTPUT_FIRST : INPUT_FIRST}\n\n${demos.map((d) => `${shot(d)}\n\n`).join('')}Task: ${instruction.trim()}\n`;
}

type Triple = [string, string];

/** prepare_for_finetuning.parse_input_output. */
export function parseInputOutput(text: string): Instance {
  let input = '', output = text.trim();
  if (/Output\s*\d*\s*:/.test(text)) {
    const parts = text.split(/Output\s*\d*\s*:/);
    input = parts[0]!.trim(); output = (parts[1] ?? '').trim();
  }
  if (/Input\s*\d*\s*:/.test(output)) output = output.split(/Input\s*\d*\s*:/)[0]!.trim();
  input = input.replace(/^Input\s*\d*\s*:/, '').trim();
  return { input, output };
}

/** filter_invalid_instances then filter_duplicate_instances (same input with different outputs: none kept). */
function cleanInstances(xs: readonly Instance[]): Instance[] {
  const valid = xs.filter((x) => x.input !== x.output && x.output !== '' && !x.input.trim().endsWith(':') && !x.output.trim().endsWith(':'));
  for (let i = 1; i < valid.length; i++) for (let j = 0; j < i; j++) {
    if (valid[i]!.input !== '' && valid[i]!.input === valid[j]!.input && valid[i]!.output !== valid[j]!.output) return [];
  }
  const seen = new Set<string>();
  return valid.filter((x) => { const k = JSON.stringify([x.input, x.output] as Triple); if (seen.has(k)) return false; seen.add(k); return true; });
}

/** parse_instances_for_generation_task: "Example N" blocks or one Input/Output pair. */
export function parseGenerationInstances(raw: string, finish: string): Instance[] {
  const text = raw.trim();
  let xs: Instance[];
  if (/Example\s?\d*\.?/.test(text)) xs = text.split(/Example\s?\d*\.?/).map((s) => s.trim()).filter(Boolean).map(parseInputOutput);
  else if (/Output\s*\d*\s*:/.test(text)) xs = [parseInputOutput(text)];
  else return [];
  if (finish === 'length') xs = xs.slice(0, -1);
  return cleanInstances(xs);
}

/** parse_instances_for_classification_task: "Class label:" blocks, the label's line first, then the input. */
export function parseClassificationInstances(raw: string, finish: string): Instance[] {
  if (!raw.includes('Class label:')) return [];
  let xs = raw.split('Class label:').slice(1).map((piece) => {
    const t = piece.trim(), nl = t.indexOf('\n');
    return nl < 0 ? { input: '', output: t } : { input: t.slice(nl + 1).trim(), output: t.slice(0, nl).trim() };
  });
  if (finish === 'length') xs = xs.slice(0, -1);
  return cleanInstances(xs);
}

/** Instances kept per task, as the paper (which samples 5; heed keeps the first 5, so a rerun agrees). */
export const MAX_INSTANCES = 5;

// ---------------------------------------------------------------- the loop

export interface GeneratedTask {
  instruction: string;
  /** the bootstrap round that produced it (1-based) */
  iteration: number;
  is_classification: boolean;
  instances: Instance[];
  /** the closest instruction in the pool when it was kept, and their ROUGE-L F */
  most_similar: { instruction: string | null; rougeL: number };
}

export interface SelfInstructStats {
  requests: number; cache_hits: number; rounds: number;
  /** candidate instructions read from the generated lists */
  generated: number;
  filtered: Record<FilterName, number>;
  /** instructions that passed every filter (the pool grows by these) */
  kept: number;
  classification: number;
  /** kept instructions for which the model wrote at least one valid instance, and the instances */
  tasks_with_instances: number; no_instances: number; instances: number;
  /**
   * requests asked again with a smaller max_tokens to fit the model's context; classification and
   * instance prompts asked again with half as many example tasks because the prompt alone did not
   * fit; and requests skipped because even the shortest prompt did not fit
   */
  shrunk: number; fewer_demos: number; too_long: number;
  seconds: number;
  /** requests per second and kept instructions per second over the run */
  requests_per_s: number; kept_per_s: number;
}

export interface SelfInstructOptions {
  client: OpenAIClient;
  model: string;
  /** instructions to keep (the paper's num_instructions_to_generate) */
  target: number;
  seed?: number;
  /** generation requests per round (default 8); all of a round's requests are in flight at once */
  batch?: number;
  /** most tokens per instruction list and per instance list (default 512) */
  maxTokens?: number;
  /** seed tasks shown in the classification and instance prompts (default 6) */
  demos?: number;
  /** the run stops after this many instruction-generation requests even if short of the target (default 20 × target) */
  maxRequests?: number;
  onProgress?: (kept: number, target: number, requests: number) => void;
}

const seedOf = (...parts: Array<string | number>) => hash32(parts.join(':')) % 2 ** 31;

/** Kept seed and generated tasks: the pool's seed instructions, 6 of them (8 until something is kept). */
function inContext(seeds: readonly SeedTask[], kept: readonly GeneratedTask[], rng: Rng): string[] {
  const machine = rng.sample(kept.map((t) => t.instruction), 2);
  return rng.shuffled([...machine, ...rng.sample(seeds.map((s) => s.instruction), 8 - machine.length)]);
}

/** Seed tasks to show as examples: half classification, half not, drawn for this instruction. */
function drawDemos(seeds: readonly SeedTask[], n: number, key: string): SeedTask[] {
  const rng = Rng.keyed(key), clf = seeds.filter((s) => s.is_classification), gen = seeds.filter((s) => !s.is_classification);
  return rng.shuffled([...rng.sample(clf, Math.ceil(n / 2)), ...rng.sample(gen, Math.floor(n / 2))]);
}

/**
 * Runs Self-Instruct until `target` instructions are kept (or the request budget is spent): each
 * round sends `batch` generation prompts (8 in-context instructions: 6 seed + 2 generated, once there
 * are generated ones), filters what comes back in order, and starts each kept instruction's
 * classification and instance requests at once, so the endpoints stay busy across rounds.
 */
export async function selfInstruct(seeds: readonly SeedTask[], o: SelfInstructOptions): Promise<{ tasks: GeneratedTask[]; stats: SelfInstructStats }> {
  if (!(Number.isInteger(o.target) && o.target >= 1)) throw new Error(`--target must be a positive integer, got ${o.target}`);
  const seed = o.seed ?? 0, batch = o.batch ?? 8, maxTokens = o.maxTokens ?? 512, demos = o.demos ?? 6, maxRequests = o.maxRequests ?? 20 * o.target;
  const t0 = Date.now(), hits0 = o.client.cacheHits;
  const filtered = Object.fromEntries(FILTERS.map((f) => [f, 0])) as Record<FilterName, number>;
  const kept: GeneratedTask[] = [], pool = seeds.map((s) => s.instruction), pending: Array<Promise<void>> = [];
  let requests = 0, genRequests = 0, generated = 0, rounds = 0;
  const fit0 = { shrunk: o.client.shrunk, tooLong: o.client.tooLong };
  // a request that does not fit the context is asked again with fewer tokens; one whose prompt alone
  // does not fit answers nothing (an empty, finished reply) and is counted
  type Extra = { temperature: number; top_p?: number; max_tokens: number; stop: string[]; seed: number };
  const ask = async (content: string, extra: Extra): Promise<ChatResult | null> => {
    requests++;
    return (await o.client.chatWithin({ model: o.model, messages: [{ role: 'user', content }], ...extra }))?.result ?? null;
  };
  const nothing: ChatResult = { choices: [{ text: '', finish: 'stop' }], endpoint: '', cached: false };
  const chat = async (content: string, extra: Extra): Promise<ChatResult> => (await ask(content, extra)) ?? nothing;
  // a prompt with example tasks whose prompt alone does not fit is asked again with half as many
  // (a model with a short context still classifies and writes instances), down to one
  let fewerDemos = 0;
  const withDemos = async (make: (d: number) => string, extra: Extra): Promise<ChatResult> => {
    for (let d = demos; ; d = Math.floor(d / 2)) {
      const r = await ask(make(d), extra);
      if (r) return r;
      if (d <= 1) return nothing;
      fewerDemos++;
    }
  };
  // a kept instruction's own requests: classification, then instances by the matching template
  const complete = async (task: GeneratedTask): Promise<void> => {
    const c = await withDemos((d) => classifyPrompt(task.instruction, drawDemos(seeds, d, `${seed}:clf:${task.instruction}`)), { temperature: 0, max_tokens: 3, stop: ['\n', 'Task'], seed: seedOf(seed, 'clf', task.instruction) });
    task.is_classification = isYes(c.choices[0]?.text ?? '');
    const r = await withDemos((d) => instancePrompt(task.instruction, task.is_classification, drawDemos(seeds, d, `${seed}:inst:${task.instruction}`)), { temperature: 0, max_tokens: maxTokens, stop: [`Example ${MAX_INSTANCES + 1}`, 'Task:'], seed: seedOf(seed, 'inst', task.instruction) });
    const text = r.choices[0]?.text ?? '', finish = r.choices[0]?.finish ?? 'stop';
    task.instances = (task.is_classification ? parseClassificationInstances(text, finish) : parseGenerationInstances(text, finish)).slice(0, MAX_INSTANCES);
  };
  try {
    while (kept.length < o.target && genRequests < maxRequests) {
      rounds++;
      const rng = Rng.keyed(`${seed}:round:${rounds}`);
      const n = Math.min(batch, maxRequests - genRequests);
      genRequests += n;
      const prompts = Array.from({ length: n }, () => bootstrapPrompt(inContext(seeds, kept, rng)));
      const replies = await Promise.all(prompts.map((p, i) => chat(p, { temperature: 0.7, top_p: 0.5, max_tokens: maxTokens, stop: ['\n\n', '\n16', '16.', '16 .'], seed: seedOf(seed, 'gen', rounds, i) })));
      for (const r of replies) {
        const { instructions, truncated } = splitInstructions(r.choices[0]?.text ?? '', r.choices[0]?.finish ?? 'stop');
        generated += truncated; filtered.truncated += truncated;
        for (const inst of instructions) {
          if (kept.length >= o.target) break;
          generated++;
          const rule = ruleFilter(inst);
          if (rule) { filtered[rule]++; continue; }
          const sim = mostSimilar(inst, pool);
          if (sim.score > SIMILARITY_LIMIT) { filtered.similar++; continue; }
          const task: GeneratedTask = { instruction: inst, iteration: rounds, is_classification: false, instances: [], most_similar: { instruction: sim.to, rougeL: sim.score } };
          kept.push(task); pool.push(inst);
          const done = complete(task);
          done.catch(() => { /* awaited below */ });
          pending.push(done);
        }
      }
      o.onProgress?.(kept.length, o.target, requests);
    }
  } finally {
    // requests already sent are answered (and cached) even when a later one fails
    await Promise.allSettled(pending);
  }
  await Promise.all(pending);
  const seconds = (Date.now() - t0) / 1000, withInstances = kept.filter((t) => t.instances.length);
  return {
    tasks: kept,
    stats: {
      requests, cache_hits: o.client.cacheHits - hits0, rounds, generated, filtered, kept: kept.length,
      classification: kept.filter((t) => t.is_classification).length,
      tasks_with_instances: withInstances.length, no_instances: kept.length - withInstances.length,
      instances: withInstances.reduce((a, t) => a + t.instances.length, 0),
      shrunk: o.client.shrunk - fit0.shrunk, fewer_demos: fewerDemos, too_long: o.client.tooLong - fit0.tooLong - fewerDemos, seconds, requests_per_s: seconds > 0 ? requests / seconds : 0, kept_per_s: seconds > 0 ? kept.length / seconds : 0,
    },
  };
}

// ---------------------------------------------------------------- output

/** Where a conversation came from: a seed task, or a generated one with its round and the filters it passed. */
export interface Provenance {
  source: 'seed' | 'generated';
  task: string;
  is_classification: boolean;
  iteration?: number;
  filters_passed?: string[];
  most_similar?: { instruction: string | null; rougeL: number };
}

/** An instance as a conversation: the instruction, a blank line and the input (when there is one), then the output. */
function conversation(instruction: string, x: Instance): Message[] {
  return [{ role: 'user', content: x.input.trim() ? `${instruction.trim()}\n\n${x.input.trim()}` : instruction.trim() }, { role: 'assistant', content: x.output.trim() }];
}

/** Messages JSONL records for the seed tasks and the generated tasks with instances, each with its provenance. */
export function selfInstructRecords(seeds: readonly SeedTask[], tasks: readonly GeneratedTask[]): Array<{ messages: Message[]; provenance: Provenance }> {
  const passed = ['length', 'keyword', 'program', 'punctuation', 'non_ascii', `rougeL<=${SIMILARITY_LIMIT}`, 'has_instances'];
  return [
    ...seeds.flatMap((s) => s.instances.map((x) => ({ messages: conversation(s.instruction, x), provenance: { source: 'seed' as const, task: s.id, is_classification: s.is_classification } }))),
    ...tasks.flatMap((t, i) => t.instances.map((x) => ({
      messages: conversation(t.instruction, x),
      provenance: { source: 'generated' as const, task: `generated_${i}`, is_classification: t.is_classification, iteration: t.iteration, filters_passed: passed, most_similar: t.most_similar },
    }))),
  ];
}
