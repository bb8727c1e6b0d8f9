// Recipes are data: recipes/<stage>[-preset].json, validated by one zod schema per stage. The
// schema is the single source: a stage's recipe type is inferred from it, and its CLI flags and
// their help are derived from it (src/cli/recipe-flags.ts). A recipe file and flag overrides go
// through the same validation, so `--lr -1` fails exactly as `"lr": -1` would. Unknown keys are
// errors (a typo must not silently fall back to a default).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readJson } from '../util/text.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The recipes/ folder shipped with heed (next to src/ or dist/). */
export const RECIPES_DIR = resolve(here, '..', '..', 'recipes');

export const corpusSource = z.enum(['sotu', 'moby-dick', 'wordnet', 'almanac']);
const corpusSources = z.array(corpusSource).min(1);
const presets = z.enum(['tiny', 'gpt2', 'llama-tiny', 'smollm-135m']);
const positive = z.number().int().positive();
const modelOverride = z.object({
  nLayer: positive, dModel: positive, nHead: positive, nKvHead: positive, ffn: positive,
}).partial().strict();

/** SFT's and DPO's time budget (pretraining's also sizes a run that gives no steps). */
const shortenBudget = z.number().min(0).default(0).describe('wall-clock budget in seconds: when the first steps show the run will not fit, its schedule is shortened to what does (0 = none)');

export const PretrainSchema = z.object({
  stage: z.literal('pretrain'),
  preset: presets.describe('model shape to start from (Llama-style presets use RMSNorm, RoPE, SwiGLU)'),
  model: modelOverride.default({}).describe('overrides of the preset shape'),
  vocabSize: z.number().int().min(300).max(1 << 20).describe('BPE vocabulary size, ChatML specials included'),
  splitSpaces: z.boolean().default(false).describe('learn no merge across a space and a word, so a space is a token of its own (a word is the same tokens after a space and at the start of an answer) instead of Qwen2\'s " word" tokens; text is still split with Qwen2\'s pattern, so the model exports to GGUF'),
  seqLen: positive.max(1 << 16).describe('tokens per training row'),
  batchSize: positive.describe('rows per step'),
  lr: z.number().positive().max(1).describe('peak learning rate (warmup, then cosine to 10%)'),
  weightDecay: z.number().min(0).max(1).describe('AdamW decoupled weight decay on matrices'),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = as many as fit in timeBudgetSec'),
  timeBudgetSec: z.number().min(0).describe('wall-clock budget in seconds: sizes the run when steps is 0; else, when the first steps show the steps will not fit, shortens the schedule to what does (0 = none)'),
  evalEvery: positive.describe('validate and checkpoint every N steps'),
  valWindows: positive.describe('validation rows'),
  seed: z.number().int(),
  sources: corpusSources.describe('built-in corpus sources'),
  maxChars: z.number().int().min(0).describe('use only this many corpus characters (0 = all)'),
}).strict().refine((r) => r.steps > 0 || r.timeBudgetSec > 0, { message: 'give steps > 0 or a time budget > 0', path: ['steps'] });

const loraTargets = z.enum(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);

/** LoRA settings shared by every stage that can train adapters. */
export const LoraSchema = z.object({
  r: positive.max(4096).describe('LoRA rank'),
  alpha: z.number().positive().describe('LoRA alpha (scale alpha/r, or alpha/sqrt(r) with rslora)'),
  dropout: z.number().min(0).max(0.9).describe('dropout on the LoRA input'),
  targetModules: z.array(loraTargets).min(1).describe('linear layers that get adapters'),
  rslora: z.boolean().describe('rank-stabilised LoRA scaling'),
}).strict();

export const SftSchema = z.object({
  stage: z.literal('sft'),
  method: z.enum(['full', 'lora', 'qlora']).describe('full fine-tuning, LoRA, or LoRA on an NF4-quantized frozen base'),
  lora: LoraSchema,
  data: z.string().describe('JSONL of conversations (Alpaca, ShareGPT or OpenAI messages); empty = built-in mixture'),
  valData: z.string().describe('validation JSONL; empty = 5% of data, or the mixture\'s held-out examples'),
  skipBadLines: z.boolean().describe('skip malformed JSONL lines (reporting the count) instead of stopping'),
  trainPerFamily: positive.describe('built-in mixture: training examples per family'),
  evalPerFamily: positive.describe('built-in mixture: held-out examples per family'),
  seqLen: positive.max(1 << 16).describe('tokens per packed row'),
  pack: z.boolean().default(true).describe('several conversations per row, or one per row so none sees another'),
  batchSize: positive.describe('rows per micro-batch'),
  gradAccum: positive.describe('micro-batches per step (loss normalised over all their tokens)'),
  lr: z.number().positive().max(1).describe('peak learning rate'),
  weightDecay: z.number().min(0).max(1).describe('AdamW decoupled weight decay on matrices'),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = epochs over the data'),
  epochs: z.number().positive().max(1000).describe('passes over the training rows (replay rows included) when steps is 0'),
  timeBudgetSec: shortenBudget,
  warmupRatio: z.number().min(0).max(1).describe('share of the steps spent warming up the learning rate'),
  replay: z.object({
    fraction: z.number().min(0).max(0.9).describe('share of training rows that are built-in pretraining text, loss on every token (0 = none)'),
    sources: corpusSources.describe('built-in corpus sources to replay'),
  }).strict().default({ fraction: 0, sources: [...corpusSource.options] })
    .describe('mix pretraining text into fine-tuning so full fine-tuning keeps what the base model knew'),
  evalEvery: positive.describe('validate, keep the best, checkpoint every N steps'),
  seed: z.number().int().describe('seed (also picks the built-in mixture\'s held-out split)'),
}).strict();

export const RewardSchema = z.object({
  stage: z.literal('reward'),
  data: z.string().describe('rankings: a feedback store (.db) or ranking JSONL (heed feedback export --format rankings)'),
  rater: z.string().describe('use only this rater\'s rankings (a person, or a judge such as judge:verifiable+rules); empty = all'),
  method: z.enum(['full', 'lora']).describe('train the whole reward model, or LoRA adapters and the score head'),
  lora: LoraSchema,
  mode: z.enum(['kway', 'pairs']).describe('kway: all C(K,2) pairs of a ranking in one batch element (InstructGPT); pairs: every pair its own example, shuffled'),
  heldoutFraction: z.number().min(0).max(0.9).describe('share of prompts kept out of training to measure pairwise accuracy'),
  maxLength: positive.max(1 << 16).describe('most tokens of prompt + response (longer prompts keep their end)'),
  batchSize: positive.describe('rankings (or pairs) per micro-batch'),
  gradAccum: positive.describe('micro-batches per step'),
  lr: z.number().positive().max(1).describe('peak learning rate'),
  weightDecay: z.number().min(0).max(1).describe('AdamW decoupled weight decay on matrices'),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = epochs over the rankings'),
  epochs: z.number().positive().max(1000).describe('passes over the training rankings when steps is 0'),
  warmupRatio: z.number().min(0).max(1).describe('share of the steps spent warming up the learning rate'),
  centerCoef: z.number().min(0).describe('TRL\'s center_rewards_coefficient: c·mean((r_w + r_l)²) keeps scores near 0 (0 = off)'),
  margin: z.number().min(0).describe('required score gap per tie group between winner and loser (0 = off)'),
  normalize: z.boolean().describe('after training, a bias sets the mean score of the SFT model\'s responses to 0 (InstructGPT)'),
  evalEvery: positive.describe('validate, keep the best, checkpoint every N steps'),
  seed: z.number().int().describe('seed (also picks the held-out prompts)'),
}).strict();

export const DpoSchema = z.object({
  stage: z.literal('dpo'),
  data: z.string().describe('preferences: a feedback store (.db), ranking JSONL (all implied pairs), or TRL prompt/chosen/rejected JSONL'),
  rater: z.string().describe('use only this rater\'s rankings; empty = all'),
  method: z.enum(['full', 'lora', 'qlora']).describe('train the whole policy, or LoRA adapters (the reference is the same weights with adapters off)'),
  lora: LoraSchema,
  loss: z.enum(['sigmoid', 'ipo']).describe('sigmoid: DPO\'s −log σ(β·h); ipo: (h − 1/(2β))²'),
  beta: z.number().positive().max(100).describe('strength of the implicit KL leash to the reference (DPO\'s β)'),
  rpoAlpha: z.number().min(0).max(100).default(0).describe('weight of the chosen response\'s negative log-likelihood per token added to the loss (RPO, Pang et al. 2024; TRL\'s rpo_alpha): keeps the chosen answers likely; 0 = plain DPO/IPO'),
  heldoutFraction: z.number().min(0).max(0.9).describe('share of prompts kept out of training to measure preference accuracy'),
  maxLength: positive.max(1 << 16).describe('most tokens of prompt + response'),
  batchSize: positive.describe('pairs per micro-batch'),
  gradAccum: positive.describe('micro-batches per step'),
  lr: z.number().positive().max(1).describe('peak learning rate'),
  weightDecay: z.number().min(0).max(1).describe('AdamW decoupled weight decay on matrices'),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = epochs over the pairs'),
  epochs: z.number().positive().max(1000).describe('passes over the training pairs when steps is 0'),
  timeBudgetSec: shortenBudget,
  warmupRatio: z.number().min(0).max(1).describe('share of the steps spent warming up the learning rate'),
  evalEvery: positive.describe('validate, keep the best, checkpoint every N steps'),
  seed: z.number().int().describe('seed (also picks the held-out prompts)'),
}).strict();

/** What PPO and GRPO share: prompts, rollouts, rewards, the policy update and the KL leash. */
const rlFields = {
  prompts: z.string().describe('JSONL of prompts ({messages, answer?, …}); empty = the built-in mixture\'s training items'),
  builtinPerFamily: positive.describe('built-in prompts: items per trained family'),
  evalPrompts: z.string().default('').describe('JSONL of held-out prompts for the measurements; empty = the built-in mixture\'s held-out items'),
  method: z.enum(['full', 'lora', 'qlora']).describe('train the whole policy (the reference is a frozen copy), or LoRA adapters (the reference is the same weights with adapters off)'),
  lora: LoraSchema,
  rewards: z.array(z.enum(['model', 'verifiable', 'rules'])).min(1).describe('what scores a response: the reward model, the task\'s known answer (1 right, 0 wrong), the constitution\'s checkable rules (their mean), or a sum'),
  rewardModel: z.string().describe('reward model folder (…ForSequenceClassification), needed with rewards "model"'),
  iterations: positive.describe('rollout-and-update iterations'),
  timeBudgetSec: z.number().min(0).default(0).describe('wall-clock budget in seconds: iterations stop once it is spent, and the run says so (0 = none)'),
  promptsPerIteration: positive.describe('prompts per rollout batch'),
  temperature: z.number().min(0).max(2).describe('sampling temperature of rollouts'),
  topP: z.number().gt(0).max(1).describe('nucleus sampling threshold of rollouts (1 = off)'),
  maxNewTokens: positive.max(4096).describe('most tokens per response'),
  epochs: positive.max(100).describe('passes over each rollout batch'),
  miniBatch: positive.describe('sequences per optimizer step'),
  lr: z.number().positive().max(1).describe('learning rate (constant after warmup)'),
  warmup: z.number().int().min(0).describe('optimizer steps of linear warmup'),
  weightDecay: z.number().min(0).max(1).describe('AdamW decoupled weight decay on matrices'),
  clip: z.number().positive().max(10).describe('PPO\'s ratio clipping ε'),
  klCoef: z.number().min(0).max(100).describe('β: weight of the KL penalty to the reference (0 = none)'),
  kl: z.enum(['k1', 'k3']).describe('per-token KL estimator: k1 = log π − log π_ref, k3 = (r − 1) − log r'),
  rewardClip: z.number().min(0).describe('clip each response\'s score to [−c, c] (0 = off)'),
  endPenalty: z.number().describe('added to the score of a response that never ends its turn'),
  evalEvery: positive.describe('measure on held-out prompts every N iterations'),
  evalPerFamily: positive.describe('held-out prompts per trained family for the measurements'),
  seed: z.number().int().describe('seed of prompts, rollouts and minibatches'),
};

export const PpoSchema = z.object({
  stage: z.literal('ppo'),
  ...rlFields,
  gamma: z.number().min(0).max(1).describe('GAE discount γ'),
  lambda: z.number().min(0).max(1).describe('GAE λ'),
  whiten: z.boolean().describe('whiten advantages over the rollout batch'),
  vfCoef: z.number().min(0).describe('weight of the value loss'),
  clipValue: z.number().positive().describe('value clipping ε'),
  adaptiveKl: z.boolean().describe('adapt β toward targetKl (Ziegler et al.)'),
  targetKl: z.number().positive().describe('per-response KL the adaptive controller aims at'),
  klHorizon: positive.describe('responses over which the adaptive controller moves β by up to 20%'),
  ptxCoef: z.number().min(0).describe('γ of PPO-ptx: weight of a pretraining-text loss mixed into each update (InstructGPT eq. 2; 0 = off)'),
  ptxRows: positive.describe('pretraining rows per update with PPO-ptx'),
  ptxSources: z.array(corpusSource).min(1).describe('built-in corpus sources for PPO-ptx'),
}).strict();

export const GrpoSchema = z.object({
  stage: z.literal('grpo'),
  ...rlFields,
  groupSize: z.number().int().min(2).max(64).describe('G: samples per prompt (advantages are relative within a group)'),
  scaleStd: z.boolean().describe('divide each group\'s centred rewards by their std (false: Dr. GRPO)'),
}).strict();

export type PretrainRecipe = z.infer<typeof PretrainSchema>;
export type PpoRecipe = z.infer<typeof PpoSchema>;
export type GrpoRecipe = z.infer<typeof GrpoSchema>;
export type DpoRecipe = z.infer<typeof DpoSchema>;
export type SftRecipe = z.infer<typeof SftSchema>;
export type RewardRecipe = z.infer<typeof RewardSchema>;

/** Where a run lives and how it starts: the options of a training stage that are not its recipe. */
export interface RunOptions {
  /** run folder */
  out: string;
  /** continue from the run folder's last checkpoint */
  resume?: boolean;
  /** start over in a folder that holds a run (its checkpoints and metrics are removed) */
  overwrite?: boolean;
  /** no progress bar or log lines */
  quiet?: boolean;
}

/** The file a recipe name or path refers to. */
export function recipeFile(nameOrPath: string): string {
  const file = existsSync(nameOrPath) ? nameOrPath : join(RECIPES_DIR, nameOrPath.endsWith('.json') ? nameOrPath : `${nameOrPath}.json`);
  if (!existsSync(file)) throw new Error(`recipe '${nameOrPath}' not found (looked for ${file})`);
  return file;
}

/** A flat or nested key path, e.g. ['lora', 'r'], and the value that replaces the recipe's. */
export interface Override { path: string[]; value: unknown; source: string }

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    o[k] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...(next as object) } : {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

/**
 * Validates `raw` (a parsed recipe file) with `overrides` applied. Each problem names where the
 * bad value came from: the flag that set it, or the file and key.
 */
export function validateRecipe<S extends z.ZodTypeAny>(schema: S, raw: unknown, file: string, overrides: readonly Override[] = []): z.infer<S> {
  const merged = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...(raw as Record<string, unknown>) } : raw;
  if (typeof merged === 'object' && merged !== null) for (const o of overrides) setPath(merged as Record<string, unknown>, o.path, o.value);
  const r = schema.safeParse(merged);
  if (r.success) return r.data;
  const at = (path: (string | number)[]) => path.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined), merged);
  const msgs = r.error.issues.map((i) => {
    const key = i.path.join('.'), got = at(i.path);
    const what = got === undefined || typeof got === 'object' ? i.message : `${i.message}, got ${JSON.stringify(got)}`;
    const o = overrides.find((x) => x.path.join('.') === key || (key.startsWith(x.path.join('.') + '.')));
    return o ? `${o.source}: ${what}` : `${file}: ${key || '(top)'}: ${what}`;
  });
  throw new Error(msgs.join('; '));
}

/** Loads `name` (a recipe in recipes/, e.g. "sft-quick") or a path, applies overrides, validates. */
export function loadRecipe<S extends z.ZodTypeAny>(schema: S, nameOrPath: string, overrides: readonly Override[] = []): z.infer<S> {
  const file = recipeFile(nameOrPath);
  return validateRecipe(schema, readJson(file), file, overrides);
}

/** Every stage's schema by its `stage` tag (recipes/*.json are checked against these). */
export const STAGE_SCHEMAS: Readonly<Record<string, z.ZodTypeAny>> = { pretrain: PretrainSchema, sft: SftSchema, reward: RewardSchema, dpo: DpoSchema, ppo: PpoSchema, grpo: GrpoSchema };
