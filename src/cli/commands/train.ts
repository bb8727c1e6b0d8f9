// `heed pretrain`, `heed sft` and `heed merge`: thin wrappers that load a recipe, apply flags, run.
import type { Command } from 'commander';
import { loadRecipe, PretrainSchema, SftSchema } from '../../train/recipes.js';
import { pretrain, type PretrainRecipe } from '../../train/pretrain.js';
import { pretrainProbes } from '../../eval/probes.js';
import { sft, type SftRecipe } from '../../train/sft.js';
import { loadModel, saveModel } from '../../models/load.js';
import { float, guard, int } from '../util.js';

export function pretrainRecipe(name: string, o: { out: string; steps?: number; timeBudget?: number; seed?: number; maxChars?: number; resume?: boolean }): PretrainRecipe {
  const r = loadRecipe(PretrainSchema, name);
  const { stage: _stage, ...rest } = r;
  return {
    ...rest, model: (rest.model ?? {}) as NonNullable<PretrainRecipe['model']>, out: o.out, resume: o.resume ?? false,
    ...(o.steps !== undefined ? { steps: o.steps } : {}), ...(o.timeBudget !== undefined ? { timeBudgetSec: o.timeBudget, steps: o.steps ?? 0 } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.maxChars !== undefined ? { maxChars: o.maxChars } : {}),
    ...(process.env.HEED_KILL_AFTER_STEP ? { killAfterStep: Number(process.env.HEED_KILL_AFTER_STEP) } : {}),
  };
}

export interface SftFlags {
  model: string; out: string; recipe: string; method?: 'full' | 'lora' | 'qlora'; data?: string; valData?: string; skipBadLines?: boolean;
  steps?: number; epochs?: number; lr?: number; batchSize?: number; gradAccum?: number; seqLen?: number; seed?: number;
  loraR?: number; loraAlpha?: number; loraDropout?: number; targetModules?: string; rslora?: boolean; resume?: boolean; replay?: number;
}

export function sftRecipe(f: SftFlags): SftRecipe {
  const { stage: _stage, ...r } = loadRecipe(SftSchema, f.recipe);
  const lora = { ...r.lora };
  if (f.loraR !== undefined) lora.r = f.loraR;
  if (f.loraAlpha !== undefined) lora.alpha = f.loraAlpha;
  if (f.loraDropout !== undefined) lora.dropout = f.loraDropout;
  if (f.rslora) lora.rslora = true;
  if (f.targetModules) lora.targetModules = SftSchema.shape.lora.shape.targetModules.parse(f.targetModules.split(',').map((s) => s.trim()));
  const replay = { ...r.replay };
  if (f.replay !== undefined) {
    if (!(f.replay >= 0 && f.replay <= 0.9)) throw new Error(`--replay: the share of replay rows must be between 0 and 0.9, got ${f.replay}`);
    replay.fraction = f.replay;
  }
  const pick = <K extends keyof SftFlags & keyof SftRecipe>(k: K) => (f[k] !== undefined ? { [k]: f[k] } : {});
  return {
    ...r, lora, replay, model: f.model, out: f.out, resume: f.resume ?? false,
    ...pick('method'), ...pick('data'), ...pick('valData'), ...pick('skipBadLines'), ...pick('steps'), ...pick('epochs'), ...pick('lr'),
    ...pick('batchSize'), ...pick('gradAccum'), ...pick('seqLen'), ...pick('seed'),
    ...(process.env.HEED_KILL_AFTER_STEP ? { killAfterStep: Number(process.env.HEED_KILL_AFTER_STEP) } : {}),
  } as SftRecipe;
}

export function register(program: Command): void {
  program
    .command('pretrain')
    .description('train a BPE tokenizer and a small Llama-style base model on the built-in corpus')
    .option('--out <dir>', 'run folder (checkpoints, metrics.jsonl, model/)', 'runs/pretrain')
    .option('--recipe <name|file>', 'recipe in recipes/ (pretrain, pretrain-quick) or a JSON file', 'pretrain')
    .option('--steps <n>', 'optimizer steps (overrides the time budget)', int('--steps'))
    .option('--time-budget <seconds>', 'train for about this long', float('--time-budget'))
    .option('--max-chars <n>', 'use only this many corpus characters', int('--max-chars'))
    .option('--seed <n>', 'seed', int('--seed'))
    .option('--resume', 'continue from the run folder\'s last checkpoint')
    .addHelpText('after', '\nExample:\n  heed pretrain --out runs/base --time-budget 300')
    .action((o: { out: string; recipe: string; steps?: number; timeBudget?: number; maxChars?: number; seed?: number; resume?: boolean }) =>
      guard(() => { pretrain(pretrainRecipe(o.recipe, o), undefined, pretrainProbes); }));

  program
    .command('sft')
    .description('supervised fine-tuning (full, LoRA or QLoRA) with loss on assistant tokens only')
    .requiredOption('--model <dir>', 'Hugging Face model folder to fine-tune')
    .option('--out <dir>', 'run folder (checkpoints, metrics.jsonl, best/, final/)', 'runs/sft')
    .option('--recipe <name|file>', 'recipe in recipes/ (sft, sft-replay, sft-lora, sft-qlora, sft-quick) or a JSON file', 'sft')
    .option('--method <m>', 'full | lora | qlora')
    .option('--data <file>', 'training JSONL (Alpaca, ShareGPT or OpenAI messages); default: the built-in mixture')
    .option('--val-data <file>', 'validation JSONL')
    .option('--skip-bad-lines', 'skip malformed lines (and report how many) instead of stopping')
    .option('--steps <n>', 'optimizer steps (default: one epoch)', int('--steps'))
    .option('--epochs <n>', 'epochs when --steps is not given', float('--epochs'))
    .option('--replay <fraction>', 'share of training rows that are built-in pretraining text (keeps what the base knew under full fine-tuning)', float('--replay'))
    .option('--lr <x>', 'peak learning rate', float('--lr'))
    .option('--batch-size <n>', 'rows per micro-batch', int('--batch-size'))
    .option('--grad-accum <n>', 'micro-batches per step', int('--grad-accum'))
    .option('--seq-len <n>', 'tokens per packed row', int('--seq-len'))
    .option('--lora-r <n>', 'LoRA rank', int('--lora-r'))
    .option('--lora-alpha <x>', 'LoRA alpha', float('--lora-alpha'))
    .option('--lora-dropout <p>', 'LoRA dropout', float('--lora-dropout'))
    .option('--target-modules <list>', 'comma-separated: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj')
    .option('--rslora', 'rank-stabilised LoRA scaling (alpha/sqrt(r))')
    .option('--seed <n>', 'seed (also picks the built-in mixture\'s held-out split)', int('--seed'))
    .option('--resume', 'continue from the run folder\'s last checkpoint')
    .addHelpText('after', '\nExamples:\n  heed sft --model runs/base/model --out runs/sft\n  heed sft --model runs/base/model --recipe sft-qlora --out runs/qlora\n  heed sft --model my-model --data chats.jsonl --method lora --lora-r 8')
    .action((o: SftFlags) => guard(() => { sft(sftRecipe(o)); }));

  program
    .command('merge')
    .description('fold a LoRA adapter into its base model and write a merged model folder')
    .requiredOption('--model <dir>', 'base model folder')
    .requiredOption('--adapter <dir>', 'PEFT adapter folder')
    .requiredOption('--out <dir>', 'output model folder')
    .addHelpText('after', '\nExample:\n  heed merge --model runs/base/model --adapter runs/sft-lora/best --out runs/merged')
    .action((o: { model: string; adapter: string; out: string }) => guard(() => {
      const m = loadModel(o.model, { adapter: o.adapter });
      m.model.mergeLora();
      saveModel(o.out, m.model, m.tok.tokenizer, { chatTemplate: m.tok.chatTemplate?.source ?? null });
      console.log(`wrote ${o.out}`);
    }));
}
