// `heed export` for models: a GGUF file (model, or LoRA adapter alone), a merged Hugging Face folder,
// a PEFT adapter folder, or an Ollama folder (GGUF + adapter GGUF + Modelfile). Every output is
// written under a temporary name and renamed, so a failure leaves nothing that looks finished.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, saveModel, type LoadedModel } from '../models/load.js';
import { saveAdapter } from '../models/peft.js';
import { llamaCppPreTokenizer, writeGgufAdapter, writeGgufModel } from '../models/gguf-export.js';
import type { GgufTensorType } from '../models/gguf.js';
import { writeFileAtomic } from '../util/atomic.js';
import { writeFolderAtomic, checkFreshFolder } from './folder.js';
import { modelfile, ollamaTemplate, stopStrings } from './ollama.js';

export const MODEL_TARGETS = ['gguf', 'hf', 'peft', 'ollama'] as const;
export type ModelTarget = (typeof MODEL_TARGETS)[number];
export const TENSOR_TYPES = ['f32', 'f16', 'bf16', 'q8_0'] as const;

export interface ModelExportOptions {
  model: string;
  adapter?: string | undefined;
  to: ModelTarget;
  out: string;
  type: GgufTensorType;
  /** gguf: write only the LoRA adapter as a GGUF adapter */
  adapterOnly?: boolean;
  /** ollama: fold the adapter into the weights instead of an ADAPTER file */
  merge?: boolean;
  /** GGUF general.name */
  name?: string | undefined;
}

/** LoRA tensors are small: f32, or f16 when the model is written in reduced precision. */
const adapterType = (t: GgufTensorType): 'f32' | 'f16' => (t === 'f32' ? 'f32' : 'f16');

function load(o: ModelExportOptions, withAdapter: boolean): LoadedModel {
  return loadModel(o.model, { adapter: withAdapter ? o.adapter : undefined });
}

function merged(o: ModelExportOptions): LoadedModel {
  const m = load(o, true);
  if (o.adapter) m.model.mergeLora();
  return m;
}

function checkOptions(o: ModelExportOptions): void {
  if (o.adapterOnly && o.to !== 'gguf') throw new Error('--adapter-only applies to --to gguf');
  const needsAdapter = o.to === 'peft' || o.adapterOnly;
  if (needsAdapter && !o.adapter) throw new Error(`--to ${o.to}${o.adapterOnly ? ' --adapter-only' : ''} needs --adapter DIR (the PEFT adapter to export)`);
  if (o.merge && o.to !== 'ollama') throw new Error('--merge applies to --to ollama (--to gguf and --to hf always merge an --adapter)');
  if (o.to === 'hf' && o.type === 'q8_0') throw new Error('--type q8_0 is a GGUF type; --to hf writes f32, f16 or bf16 safetensors');
  if (o.to === 'peft' && o.type !== 'f32') throw new Error('--to peft writes the adapter as it is (f32); leave out --type');
  if (o.to === 'gguf' && existsSync(o.out) && statSync(o.out).isDirectory()) throw new Error(`--out ${o.out} is a folder; --to gguf writes one file (e.g. --out model.gguf)`);
  if (o.to !== 'gguf') checkFreshFolder(o.out);
}

/** Writes the export; returns the paths written. */
export function exportModel(o: ModelExportOptions): string[] {
  checkOptions(o);
  const name = o.name ?? o.model;
  switch (o.to) {
    case 'gguf': {
      if (o.adapterOnly) writeGgufAdapter(o.out, load(o, true).model, { type: adapterType(o.type), name });
      else { const m = merged(o); writeGgufModel(o.out, m.model, m.tok, { type: o.type, name, source: o.model }); }
      return [o.out];
    }
    case 'hf': {
      const m = merged(o);
      const dtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[o.type as 'f32' | 'f16' | 'bf16'];
      writeFolderAtomic(o.out, (dir) => saveModel(dir, m.model, m.tok.tokenizer, { chatTemplate: m.tok.chatTemplate?.source ?? null, dtype }));
      return [o.out];
    }
    case 'peft': {
      const m = load(o, true);
      writeFolderAtomic(o.out, (dir) => saveAdapter(dir, m.model, o.model));
      return [o.out];
    }
    case 'ollama': {
      const separate = o.adapter !== undefined && !o.merge;
      const m = separate ? load(o, true) : merged(o);
      const template = ollamaTemplate(m.tok, o.model); // before any heavy writing: fail early
      llamaCppPreTokenizer(m.tok.tokenizer.toJSON(), join(o.model, 'tokenizer.json'));
      writeFolderAtomic(o.out, (dir) => {
        // model.gguf holds the base weights only (GGUF model files never include unmerged LoRA)
        if (separate) writeGgufAdapter(join(dir, 'adapter.gguf'), m.model, { type: adapterType(o.type), name });
        writeGgufModel(join(dir, 'model.gguf'), m.model, m.tok, { type: o.type, name, source: o.model });
        writeFileAtomic(join(dir, 'Modelfile'), modelfile({
          model: './model.gguf', ...(separate ? { adapter: './adapter.gguf' } : {}), template, stops: stopStrings(m.tok),
        }));
      });
      return [o.out];
    }
  }
}
