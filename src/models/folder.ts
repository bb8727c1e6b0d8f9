// A Hugging Face model folder: config.json + model.safetensors (single or sharded) +
// generation_config.json, read into and written from heed's config and canonical tensors.
// Tokenizer files live in the same folder but are the tokenizer module's business.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';
import { readJson } from '../util/text.js';
import { configFromHF, configToHF, type ModelConfig } from './config.js';
import { fromHFTensors, toHFTensors } from './hf-names.js';
import { castFloat, checkFinite, readSafetensorsFolder, writeSafetensors, type TensorData } from './safetensors.js';

export interface ModelFolder {
  config: ModelConfig;
  /** Canonical names (see hf-names.ts). */
  tensors: Map<string, TensorData>;
  generationConfig: Record<string, unknown> | null;
  dir: string;
}

export interface WriteModelOptions {
  /** Storage dtype of floating tensors; default F32. */
  dtype?: 'F32' | 'BF16' | 'F16';
  generationConfig?: Record<string, unknown>;
}

export function readModelFolder(dir: string): ModelFolder {
  const cfgPath = join(dir, 'config.json');
  const config = configFromHF(readJson(cfgPath), cfgPath);
  const { tensors: hf } = readSafetensorsFolder(dir);
  const single = join(dir, 'model.safetensors');
  // a tensor whose shape disagrees with config.json: either file may be the wrong one, so name both
  const tensors = fromHFTensors(config, hf, `${existsSync(single) ? single : dir} (against ${cfgPath})`);
  const genPath = join(dir, 'generation_config.json');
  let generationConfig: Record<string, unknown> | null = null;
  if (existsSync(genPath)) {
    const g = readJson(genPath);
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new Error(`${genPath}: not a JSON object`);
    generationConfig = g as Record<string, unknown>;
  }
  return { config, tensors, generationConfig, dir };
}

/**
 * Write config.json, model.safetensors and generation_config.json, each atomically. The weights
 * go first so that a folder whose config.json is present never points at a missing checkpoint.
 * Without an explicit generationConfig, one is derived from the config's bos/eos/pad ids.
 */
export function writeModelFolder(dir: string, cfg: ModelConfig, tensors: Map<string, TensorData>, opts: WriteModelOptions = {}): void {
  const dtype = opts.dtype ?? 'F32';
  const hf = toHFTensors(cfg, tensors);
  const stored = new Map<string, TensorData>();
  for (const [name, t] of hf) stored.set(name, t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' ? castFloat(t, dtype) : t);
  // heed refuses to read NaN or infinite weights (F16 overflows above 65504), so it never writes them
  checkFinite(stored, `${join(dir, 'model.safetensors')}: refusing to write it`);
  writeSafetensors(join(dir, 'model.safetensors'), stored, { format: 'pt' });
  const gen = opts.generationConfig ?? {
    ...(cfg.bosTokenId !== null ? { bos_token_id: cfg.bosTokenId } : {}),
    ...(cfg.eosTokenId !== null ? { eos_token_id: cfg.eosTokenId } : {}),
    ...(cfg.padTokenId !== undefined && cfg.padTokenId !== null ? { pad_token_id: cfg.padTokenId } : {}),
  };
  writeJsonAtomic(join(dir, 'generation_config.json'), gen);
  writeJsonAtomic(join(dir, 'config.json'), configToHF(cfg, { dtype }));
}
