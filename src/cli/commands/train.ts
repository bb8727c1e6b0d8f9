// `heed pretrain`, `heed sft` and `heed merge`: thin wrappers that load a recipe, apply the flags
// (derived from the recipe schema and validated by it), and run the library.
import type { Command } from 'commander';
import { loadRecipe, PretrainSchema, SftSchema, type RunOptions } from '../../train/recipes.js';
import { pretrain } from '../../train/pretrain.js';
import { sft } from '../../train/sft.js';
import { pretrainProbes } from '../../eval/probes.js';
import { loadModel, saveModel } from '../../models/load.js';
import { addRecipeFlags, recipeOverrides } from '../recipe-flags.js';
import { guard } from '../util.js';

/** Flags whose names read better than the recipe key's kebab form. */
export const PRETRAIN_ALIASES = { timeBudgetSec: 'time-budget' } as const;
export const SFT_ALIASES = { 'replay.fraction': 'replay', 'lora.targetModules': 'target-modules', 'lora.rslora': 'rslora' } as const;

/** The options every training stage takes besides its recipe. */
export function runFlags(cmd: Command, defaultOut: string): Command {
  return cmd
    .option('--out <dir>', 'run folder (recipe.json, checkpoints, metrics.jsonl, outputs)', defaultOut)
    .option('--resume', 'continue from the run folder\'s last checkpoint (the recipe must be the same)')
    .option('--overwrite', 'start over in a run folder that holds a run (its checkpoints and metrics are removed)');
}

export function runOptions(o: { out: string; resume?: boolean; overwrite?: boolean }): RunOptions {
  return { out: o.out, resume: o.resume ?? false, overwrite: o.overwrite ?? false };
}

export function register(program: Command): void {
  const pre = runFlags(program.command('pretrain'), 'runs/pretrain')
    .description('train a BPE tokenizer and a small Llama-style base model on the built-in corpus')
    .option('--recipe <name|file>', 'recipe in recipes/ (pretrain, pretrain-quick) or a JSON file', 'pretrain');
  addRecipeFlags(pre, PretrainSchema, PRETRAIN_ALIASES)
    .addHelpText('after', '\nExamples:\n  heed pretrain --out runs/base --time-budget 300\n  heed pretrain --recipe pretrain-quick --steps 200 --out runs/small')
    .action((o: Record<string, unknown> & { out: string; recipe: string }) => guard(() => {
      const over = recipeOverrides(o, PretrainSchema, PRETRAIN_ALIASES);
      // a time budget given on the command line means "train for this long" unless --steps is given too
      if (over.some((x) => x.path[0] === 'timeBudgetSec') && !over.some((x) => x.path[0] === 'steps')) over.push({ path: ['steps'], value: 0, source: '--time-budget' });
      pretrain(loadRecipe(PretrainSchema, o.recipe, over), runOptions(o), undefined, pretrainProbes);
    }));

  const s = runFlags(program.command('sft'), 'runs/sft')
    .description('supervised fine-tuning (full, LoRA or QLoRA) with loss on assistant tokens only')
    .requiredOption('--model <dir>', 'Hugging Face model folder to fine-tune')
    .option('--recipe <name|file>', 'recipe in recipes/ (sft, sft-replay, sft-lora, sft-qlora, sft-quick) or a JSON file', 'sft');
  addRecipeFlags(s, SftSchema, SFT_ALIASES)
    .addHelpText('after', '\nExamples:\n  heed sft --model runs/base/model --out runs/sft\n  heed sft --model runs/base/model --recipe sft-qlora --out runs/qlora\n  heed sft --model my-model --data chats.jsonl --method lora --lora-r 8')
    .action((o: Record<string, unknown> & { out: string; recipe: string; model: string }) => guard(() => {
      sft(loadRecipe(SftSchema, o.recipe, recipeOverrides(o, SftSchema, SFT_ALIASES)), o.model, runOptions(o));
    }));

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
