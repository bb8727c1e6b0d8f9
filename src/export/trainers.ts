// `heed export --to trl|axolotl`: the data (OpenAI-messages and preference JSONL) and heed's SFT
// recipe restated for GPU stacks: TRL's SFTConfig/DPOConfig/RewardConfig + PEFT's LoraConfig (JSON
// read by small Python scripts), and an Axolotl YAML, each under the keys those projects define.
import { join } from 'node:path';
import { buildMixture, readConversations, readPreferences, toConversation, toJsonl, type Conversation, type PreferencePair } from '../data/index.js';
import { loadTokenizerFolder } from '../tokenizer/index.js';
import { loadRecipe, SftSchema, type SftRecipe } from '../train/recipes.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { writeFolderAtomic, checkFreshFolder } from './folder.js';
import { isChatML } from './ollama.js';

export interface TrainerExportOptions {
  model: string;
  to: 'trl' | 'axolotl';
  out: string;
  /** an SFT recipe name in recipes/ or a path (default sft-lora) */
  recipe: string;
  /** preference JSONL for TRL's DPO and reward trainers */
  preferences?: string | undefined;
}

/** heed's learning-rate schedule: linear warmup, then cosine to 10% of the peak (src/nn/optim.ts cosineLR). */
const MIN_LR_RATIO = 0.1;
/** heed's SFT optimizer: AdamW betas and global gradient-norm clip (src/train/sft.ts, loop.ts). */
const ADAM_BETAS = [0.9, 0.999] as const;
const MAX_GRAD_NORM = 1.0;

/**
 * ChatML with `{% generation %}` around what heed trains on (each assistant reply and its
 * <|im_end|>): transformers' return_assistant_tokens_mask reads these markers, and TRL's
 * assistant_only_loss needs them to train on the same tokens as renderConversation's mask.
 */
export const CHATML_TRAINING_TEMPLATE =
  "{%- for message in messages %}" +
  "{%- if message['role'] == 'assistant' %}" +
  "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}" +
  '{%- else %}' +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  '{%- endif %}' +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

interface Data { train: Conversation[]; validation: Conversation[]; preferences: PreferencePair[] | null }

function data(r: SftRecipe, preferences: string | undefined): Data {
  let train: Conversation[], validation: Conversation[];
  if (r.data) {
    train = readConversations(r.data, { skipBadLines: r.skipBadLines }).items;
    validation = r.valData ? readConversations(r.valData, { skipBadLines: r.skipBadLines }).items : [];
  } else {
    const mix = buildMixture({ seed: r.seed, trainPerFamily: r.trainPerFamily, evalPerFamily: r.evalPerFamily });
    train = mix.train.map(toConversation);
    validation = mix.validation.map(toConversation);
  }
  return { train, validation, preferences: preferences ? readPreferences(preferences).items : null };
}

const messages = (c: Conversation) => ({ messages: c.messages.map((m) => ({ role: m.role, content: m.content })) });
const plain = (ms: PreferencePair['prompt']) => ms.map((m) => ({ role: m.role, content: m.content }));

/** PEFT's LoraConfig arguments for the recipe (null for full fine-tuning). */
export function loraConfig(r: SftRecipe): Record<string, unknown> | null {
  if (r.method === 'full') return null;
  return {
    r: r.lora.r, lora_alpha: r.lora.alpha, lora_dropout: r.lora.dropout, target_modules: r.lora.targetModules,
    use_rslora: r.lora.rslora, bias: 'none', task_type: 'CAUSAL_LM',
  };
}

/** transformers TrainingArguments shared by the three TRL configs. */
function trainingArguments(r: SftRecipe, outputDir: string): Record<string, unknown> {
  return {
    output_dir: outputDir,
    learning_rate: r.lr,
    lr_scheduler_type: 'cosine_with_min_lr',
    lr_scheduler_kwargs: { min_lr_rate: MIN_LR_RATIO },
    // transformers reads a warmup_steps below 1 as a share of the steps (warmup_ratio is deprecated)
    warmup_steps: r.warmupRatio,
    num_train_epochs: r.epochs,
    ...(r.steps > 0 ? { max_steps: r.steps } : {}),
    per_device_train_batch_size: r.batchSize,
    gradient_accumulation_steps: r.gradAccum,
    optim: 'adamw_torch', weight_decay: r.weightDecay,
    adam_beta1: ADAM_BETAS[0], adam_beta2: ADAM_BETAS[1], max_grad_norm: MAX_GRAD_NORM,
    eval_strategy: 'steps', eval_steps: r.evalEvery, save_steps: r.evalEvery,
    load_best_model_at_end: true, metric_for_best_model: 'eval_loss', greater_is_better: false,
    seed: r.seed,
  };
}

/** SFTConfig: loss on assistant tokens, packed rows of seqLen with attention kept within each conversation. */
export function sftConfig(r: SftRecipe): Record<string, unknown> {
  return {
    ...trainingArguments(r, 'out/sft'),
    max_length: r.seqLen,
    packing: r.pack,
    // bfd packing is padding-free: position ids restart per conversation, as heed's block-diagonal rows do
    ...(r.pack ? { packing_strategy: 'bfd', padding_free: true } : {}),
    assistant_only_loss: true,
    chat_template_path: 'chat_template.jinja',
  };
}

export function dpoConfig(r: SftRecipe): Record<string, unknown> {
  return { ...trainingArguments(r, 'out/dpo'), max_length: r.seqLen, beta: 0.1, loss_type: ['sigmoid'] };
}

export function rewardConfig(r: SftRecipe): Record<string, unknown> {
  return { ...trainingArguments(r, 'out/reward'), max_length: r.seqLen };
}

function pythonScript(trainer: 'SFT' | 'DPO' | 'Reward', dataFile: string, r: SftRecipe): string {
  const config = `${trainer}Config`, cfgFile = `${trainer.toLowerCase()}_config.json`, lora = r.method !== 'full';
  return [
    `# ${trainer} training with TRL on the data and recipe written by \`heed export --to trl\`.`,
    `# Run from this folder: python train_${trainer.toLowerCase()}.py [MODEL_DIR]  (default: the heed model it was exported from)`,
    'import json, sys',
    'from datasets import load_dataset',
    ...(lora ? ['from peft import LoraConfig'] : []),
    ...(r.method === 'qlora' ? ['import torch', 'from transformers import BitsAndBytesConfig'] : []),
    `from trl import ${config}, ${trainer}Trainer`,
    '',
    'heed = json.load(open("heed_export.json"))',
    'model = sys.argv[1] if len(sys.argv) > 1 else heed["model"]',
    `args = ${config}(**json.load(open("${cfgFile}")))`,
    ...(r.method === 'qlora'
      // heed's QLoRA: NF4 blocks of 64 (bitsandbytes' default), no double quantization
      ? ['args.model_init_kwargs = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=False, bnb_4bit_compute_dtype=torch.bfloat16)}']
      : []),
    `data = load_dataset("json", data_files=${JSON.stringify(dataFile)}, split="train")`,
    ...(trainer === 'SFT' ? ['val = load_dataset("json", data_files="data/validation.jsonl", split="train")'] : ['split = data.train_test_split(test_size=0.05, seed=args.seed)', 'data, val = split["train"], split["test"]']),
    `trainer = ${trainer}Trainer(model=model, args=args, train_dataset=data, eval_dataset=val${lora ? ', peft_config=LoraConfig(**json.load(open("lora_config.json")))' : ''})`,
    'trainer.train()',
    'trainer.save_model(args.output_dir)',
    '',
  ].join('\n');
}

/** A block-style YAML document for plain data (strings JSON-quoted, which YAML reads as they are). */
export function toYaml(v: unknown, indent = ''): string {
  const scalar = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : x === null ? 'null' : String(x));
  if (Array.isArray(v)) {
    return v.map((x) => {
      if (typeof x === 'object' && x !== null) {
        const body = toYaml(x, indent + '  ');
        return `${indent}- ${body.slice(indent.length + 2)}`;
      }
      return `${indent}- ${scalar(x)}\n`;
    }).join('');
  }
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v).map(([k, x]) => {
      if (typeof x === 'object' && x !== null && (!Array.isArray(x) || x.length > 0)) return `${indent}${k}:\n${toYaml(x, indent + '  ')}`;
      return `${indent}${k}: ${Array.isArray(x) ? '[]' : scalar(x)}\n`;
    }).join('');
  }
  return `${indent}${scalar(v)}\n`;
}

/** Axolotl's config for the same run (keys from axolotl/utils/schemas). */
export function axolotlConfig(r: SftRecipe, model: string): Record<string, unknown> {
  const lora = r.method !== 'full';
  return {
    base_model: model,
    ...(r.method === 'qlora' ? { load_in_4bit: true } : {}),
    ...(lora ? {
      adapter: r.method === 'qlora' ? 'qlora' : 'lora', lora_r: r.lora.r, lora_alpha: r.lora.alpha, lora_dropout: r.lora.dropout,
      lora_target_modules: r.lora.targetModules, peft_use_rslora: r.lora.rslora,
    } : {}),
    chat_template: 'tokenizer_default',
    datasets: [{ path: 'data/train.jsonl', ds_type: 'json', type: 'chat_template', field_messages: 'messages', roles_to_train: ['assistant'], train_on_eos: 'turn' }],
    test_datasets: [{ path: 'data/validation.jsonl', ds_type: 'json', split: 'train', type: 'chat_template', field_messages: 'messages', roles_to_train: ['assistant'], train_on_eos: 'turn' }],
    sequence_len: r.seqLen,
    sample_packing: r.pack,
    pad_to_sequence_len: r.pack,
    micro_batch_size: r.batchSize,
    gradient_accumulation_steps: r.gradAccum,
    num_epochs: r.epochs,
    ...(r.steps > 0 ? { max_steps: r.steps } : {}),
    optimizer: 'adamw_torch',
    adam_beta1: ADAM_BETAS[0], adam_beta2: ADAM_BETAS[1], max_grad_norm: MAX_GRAD_NORM,
    learning_rate: r.lr,
    lr_scheduler: 'cosine',
    cosine_min_lr_ratio: MIN_LR_RATIO,
    warmup_ratio: r.warmupRatio,
    weight_decay: r.weightDecay,
    eval_steps: r.evalEvery,
    save_steps: r.evalEvery,
    seed: r.seed,
    output_dir: './out',
  };
}

/** Writes the folder; returns notes on what the other stack cannot express. */
export function exportTrainer(o: TrainerExportOptions): string[] {
  checkFreshFolder(o.out);
  const r = loadRecipe(SftSchema, o.recipe) as SftRecipe;
  if (r.warmupRatio >= 1) throw new Error(`the recipe's warmupRatio ${r.warmupRatio} leaves no steps after warmup; TRL reads warmup_steps ≥ 1 as a step count`);
  const tok = loadTokenizerFolder(o.model);
  if (!tok.chatTemplate || !isChatML(tok.chatTemplate)) {
    throw new Error(`${o.model}: the chat template is not ChatML; heed writes the assistant-only training template for ChatML models only`);
  }
  if (o.to === 'axolotl' && o.preferences) throw new Error('--preferences applies to --to trl (its DPO and reward trainers)');
  const d = data(r, o.preferences);
  const notes: string[] = [];
  if (r.replay.fraction > 0) notes.push(`the recipe replays ${r.replay.fraction} of pretraining text; TRL and Axolotl have no counterpart, so the data holds the conversations only`);
  if (d.validation.length === 0) notes.push('no validation conversations (the recipe has data but no valData)');
  writeFolderAtomic(o.out, (dir) => {
    writeFileAtomic(join(dir, 'data', 'train.jsonl'), toJsonl(d.train.map(messages)));
    writeFileAtomic(join(dir, 'data', 'validation.jsonl'), toJsonl(d.validation.map(messages)));
    writeJsonAtomic(join(dir, 'heed_export.json'), { model: o.model, recipe: r });
    if (o.to === 'axolotl') {
      writeFileAtomic(join(dir, 'axolotl.yaml'), `# Axolotl config written by \`heed export --to axolotl\`: axolotl train axolotl.yaml\n${toYaml(axolotlConfig(r, o.model))}`);
      return;
    }
    writeFileAtomic(join(dir, 'chat_template.jinja'), CHATML_TRAINING_TEMPLATE);
    writeJsonAtomic(join(dir, 'sft_config.json'), sftConfig(r));
    const lc = loraConfig(r);
    if (lc) writeJsonAtomic(join(dir, 'lora_config.json'), lc);
    writeFileAtomic(join(dir, 'train_sft.py'), pythonScript('SFT', 'data/train.jsonl', r));
    if (d.preferences) {
      writeFileAtomic(join(dir, 'data', 'preferences.jsonl'), toJsonl(d.preferences.map((p) => ({ prompt: plain(p.prompt), chosen: plain(p.chosen), rejected: plain(p.rejected) }))));
      writeJsonAtomic(join(dir, 'dpo_config.json'), dpoConfig(r));
      writeJsonAtomic(join(dir, 'reward_config.json'), rewardConfig(r));
      writeFileAtomic(join(dir, 'train_dpo.py'), pythonScript('DPO', 'data/preferences.jsonl', r));
      writeFileAtomic(join(dir, 'train_reward.py'), pythonScript('Reward', 'data/preferences.jsonl', r));
    }
  });
  return notes;
}
