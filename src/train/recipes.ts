// Recipes are data: recipes/<stage>[-preset].json, validated by one schema per stage. Unknown keys
// are errors (a typo must not silently fall back to a default); every field carries help text.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const here = dirname(fileURLToPath(import.meta.url));
/** The recipes/ folder shipped with heed (next to src/ or dist/). */
export const RECIPES_DIR = resolve(here, '..', '..', 'recipes');

const corpusSource = z.enum(['sotu', 'moby-dick', 'wordnet', 'almanac']);
const corpusSources = z.array(corpusSource).min(1);
const presets = z.enum(['tiny', 'gpt2', 'llama-tiny', 'smollm-135m']);
const modelOverride = z.object({
  nLayer: z.number().int().positive(), dModel: z.number().int().positive(), nHead: z.number().int().positive(),
  nKvHead: z.number().int().positive(), ffn: z.number().int().positive(),
}).partial().strict();

export const PretrainSchema = z.object({
  stage: z.literal('pretrain'),
  preset: presets.describe('model shape to start from (Llama-style presets use RMSNorm, RoPE, SwiGLU)'),
  model: modelOverride.default({}).describe('overrides of the preset shape'),
  vocabSize: z.number().int().min(300).describe('BPE vocabulary size, ChatML specials included'),
  splitSpaces: z.boolean().default(false).describe('pre-tokenize spaces as tokens of their own (a word is the same tokens after a space and at the start of an answer) instead of Qwen2\'s " word" tokens'),
  seqLen: z.number().int().positive().describe('tokens per training row'),
  batchSize: z.number().int().positive().describe('rows per step'),
  lr: z.number().positive().describe('peak learning rate (warmup, then cosine to 10%)'),
  weightDecay: z.number().min(0).describe('AdamW decoupled weight decay on matrices'),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = as many as fit in timeBudgetSec'),
  timeBudgetSec: z.number().min(0).describe('wall-clock budget used when steps is 0'),
  evalEvery: z.number().int().positive().describe('validate and checkpoint every N steps'),
  valWindows: z.number().int().positive().describe('validation rows'),
  seed: z.number().int(),
  sources: corpusSources.describe('built-in corpus sources'),
  maxChars: z.number().int().min(0).describe('use only this many corpus characters (0 = all)'),
}).strict();

export const SftSchema = z.object({
  stage: z.literal('sft'),
  method: z.enum(['full', 'lora', 'qlora']).describe('full fine-tuning, LoRA, or LoRA on an NF4-quantized frozen base'),
  lora: z.object({
    r: z.number().int().positive().describe('LoRA rank'),
    alpha: z.number().positive().describe('LoRA alpha (scale alpha/r, or alpha/sqrt(r) with rslora)'),
    dropout: z.number().min(0).max(0.9).describe('dropout on the LoRA input'),
    targetModules: z.array(z.enum(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])).min(1),
    rslora: z.boolean().describe('rank-stabilised LoRA scaling'),
  }).strict(),
  data: z.string().describe('JSONL of conversations (Alpaca, ShareGPT or OpenAI messages); empty = built-in mixture'),
  valData: z.string().describe('validation JSONL; empty = 5% of data, or the mixture\'s held-out examples'),
  skipBadLines: z.boolean().describe('skip malformed JSONL lines (reporting the count) instead of stopping'),
  trainPerFamily: z.number().int().positive().describe('built-in mixture: training examples per family'),
  evalPerFamily: z.number().int().positive().describe('built-in mixture: held-out examples per family'),
  seqLen: z.number().int().positive(),
  pack: z.boolean().default(true).describe('several conversations per row, or one per row so none sees another'),
  batchSize: z.number().int().positive(),
  gradAccum: z.number().int().positive().describe('micro-batches per step (loss normalised over all their tokens)'),
  lr: z.number().positive(), weightDecay: z.number().min(0),
  steps: z.number().int().min(0).describe('optimizer steps; 0 = epochs over the data'),
  epochs: z.number().positive().describe('passes over the training rows (replay rows included) when steps is 0'),
  warmupRatio: z.number().min(0).max(1),
  replay: z.object({
    fraction: z.number().min(0).max(0.9).describe('share of training rows that are built-in pretraining text, loss on every token (0 = none)'),
    sources: corpusSources.describe('built-in corpus sources to replay'),
  }).strict().default({ fraction: 0, sources: [...corpusSource.options] })
    .describe('mix pretraining text into fine-tuning so full fine-tuning keeps what the base model knew'),
  evalEvery: z.number().int().positive().describe('validate, keep the best, checkpoint every N steps'),
  seed: z.number().int(),
}).strict();

export type PretrainRecipeFile = z.infer<typeof PretrainSchema>;
export type SftRecipeFile = z.infer<typeof SftSchema>;

/** Loads `name` (a recipe in recipes/, e.g. "sft-quick") or a path, and validates it. */
export function loadRecipe<S extends z.ZodTypeAny>(schema: S, nameOrPath: string): z.infer<S> {
  const file = existsSync(nameOrPath) ? nameOrPath : join(RECIPES_DIR, nameOrPath.endsWith('.json') ? nameOrPath : `${nameOrPath}.json`);
  if (!existsSync(file)) throw new Error(`recipe '${nameOrPath}' not found (looked for ${file})`);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { throw new Error(`${file}: not valid JSON (${(e as Error).message})`); }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`${file}: ${msg}`);
  }
  return r.data;
}
