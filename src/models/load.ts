// Opens a Hugging Face model folder as a ready model: weights, tokenizer, chat template and an
// optional PEFT adapter; and saves one back so that no failure leaves a folder that looks finished.
import { existsSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readModelFolder, writeModelFolder } from './folder.js';
import { Transformer } from './transformer.js';
import { loadTokenizerFolder, saveTokenizerFolder, type TokenizerFolder } from '../tokenizer/index.js';
import { loadAdapter } from './peft.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface LoadedModel { model: Transformer; tok: TokenizerFolder; dir: string }

/** nf4: store the block linears as NF4 while loading (QLoRA), never holding them in f32. */
export function loadModel(dir: string, opts: { adapter?: string | undefined; nf4?: boolean } = {}): LoadedModel {
  if (!existsSync(join(dir, 'config.json'))) {
    const why = !existsSync(dir) ? 'no such folder' : statSync(dir).isDirectory() ? 'no config.json' : 'a file, not a folder';
    throw new Error(`${dir}: not a model folder (${why})`);
  }
  const f = readModelFolder(dir);
  const model = Transformer.fromTensors(f.config, f.tensors, { nf4: opts.nf4 ?? false });
  const tok = loadTokenizerFolder(dir);
  if (tok.tokenizer.vocabSize > model.cfg.vocabSize) throw new Error(`${dir}: the tokenizer has ${tok.tokenizer.vocabSize} tokens but the model only ${model.cfg.vocabSize}`);
  if (opts.adapter) loadAdapter(opts.adapter, model);
  return { model, tok, dir };
}

export interface SaveModelOptions { chatTemplate?: string | null; dtype?: 'F32' | 'BF16' | 'F16' }

/**
 * Fills a model folder so that no error or kill leaves one that looks finished (config.json beside
 * missing files): a new folder is built under a temporary sibling name and renamed into place; an
 * existing one (a run's best/, a user's folder with files of their own, which must survive) loses
 * its config.json first and gets the new one last.
 */
function writeFolder(dir: string, fill: (d: string) => void): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir}: is a file, expected a folder`);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    rmSync(join(dir, 'config.json'), { force: true });
    fill(dir);
    return;
  }
  const tmp = `${dir.replace(/[/\\]+$/, '')}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fill(tmp);
    if (existsSync(dir)) rmdirSync(dir); // empty, checked above
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes weights (LoRA not merged: call model.mergeLora() first to fold it in) and tokenizer files; config.json last. */
export function saveModel(dir: string, model: Transformer, tokenizer: Tokenizer, opts: SaveModelOptions = {}): void {
  const eos = model.cfg.eosTokenId;
  writeFolder(dir, (d) => {
    saveTokenizerFolder(d, tokenizer, opts.chatTemplate === undefined ? {} : { chatTemplate: opts.chatTemplate });
    writeModelFolder(d, model.cfg, model.toTensors(), {
      ...(opts.dtype ? { dtype: opts.dtype } : {}),
      ...(eos !== null ? { generationConfig: { eos_token_id: eos, ...(model.cfg.bosTokenId !== null ? { bos_token_id: model.cfg.bosTokenId } : {}) } } : {}),
    });
  });
}
