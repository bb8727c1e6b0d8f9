// Opens a Hugging Face model folder as a ready model: weights, tokenizer, chat template and an
// optional PEFT adapter; and saves one back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readModelFolder, writeModelFolder } from './folder.js';
import { Transformer } from './transformer.js';
import { loadTokenizerFolder, saveTokenizerFolder, type TokenizerFolder } from '../tokenizer/index.js';
import { loadAdapter } from './peft.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface LoadedModel { model: Transformer; tok: TokenizerFolder; dir: string }

/** nf4: store the block linears as NF4 while loading (QLoRA), never holding them in f32. */
export function loadModel(dir: string, opts: { adapter?: string | undefined; nf4?: boolean } = {}): LoadedModel {
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`${dir}: not a model folder (no config.json)`);
  const f = readModelFolder(dir);
  const model = Transformer.fromTensors(f.config, f.tensors, { nf4: opts.nf4 ?? false });
  const tok = loadTokenizerFolder(dir);
  if (tok.tokenizer.vocabSize > model.cfg.vocabSize) throw new Error(`${dir}: the tokenizer has ${tok.tokenizer.vocabSize} tokens but the model only ${model.cfg.vocabSize}`);
  if (opts.adapter) loadAdapter(opts.adapter, model);
  return { model, tok, dir };
}

export interface SaveModelOptions { chatTemplate?: string | null; dtype?: 'F32' | 'BF16' | 'F16' }

/** Writes weights (LoRA not merged: call model.mergeLora() first to fold it in) and tokenizer files. */
export function saveModel(dir: string, model: Transformer, tokenizer: Tokenizer, opts: SaveModelOptions = {}): void {
  const eos = model.cfg.eosTokenId;
  writeModelFolder(dir, model.cfg, model.toTensors(), {
    ...(opts.dtype ? { dtype: opts.dtype } : {}),
    ...(eos !== null ? { generationConfig: { eos_token_id: eos, ...(model.cfg.bosTokenId !== null ? { bos_token_id: model.cfg.bosTokenId } : {}) } } : {}),
  });
  saveTokenizerFolder(dir, tokenizer, opts.chatTemplate === undefined ? {} : { chatTemplate: opts.chatTemplate });
}
