// LoRA adapters as PEFT folders: adapter_config.json + adapter_model.safetensors with PEFT's tensor
// names (base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r]), so adapters
// move to and from Hugging Face PEFT unchanged.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../core/tensor.js';
import { readSafetensors, writeSafetensors, toF32, type TensorData } from './safetensors.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { LoraConfig, Transformer } from './transformer.js';

const PREFIX = 'base_model.model.';

export function adapterConfigJSON(lc: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: baseModel,
    r: lc.r, lora_alpha: lc.alpha, lora_dropout: lc.dropout, target_modules: lc.targetModules,
    use_rslora: lc.rslora, bias: 'none', fan_in_fan_out: false, inference_mode: true,
    init_lora_weights: true, modules_to_save: null, use_dora: false, layers_to_transform: null,
  };
}

/** Writes the model's adapters as a PEFT folder (weights first, then the config, each atomically). */
export function saveAdapter(dir: string, model: Transformer, baseModel = ''): void {
  if (!model.loraConfig || model.lora.size === 0) throw new Error('heed: the model has no LoRA adapter to save');
  if (model.cfg.arch === 'gpt2') throw new Error('heed: PEFT adapters for gpt2-arch models (fused c_attn) are not supported; use a llama or qwen2 model');
  const tensors = new Map<string, TensorData>();
  for (const [name, l] of model.lora) {
    const base = PREFIX + name.replace(/\.weight$/, '');
    tensors.set(`${base}.lora_A.weight`, { dtype: 'F32', shape: [...l.A.shape], data: l.A.f32 });
    tensors.set(`${base}.lora_B.weight`, { dtype: 'F32', shape: [...l.B.shape], data: l.B.f32 });
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  writeJsonAtomic(join(dir, 'adapter_config.json'), adapterConfigJSON(model.loraConfig, baseModel));
}

function num(cfg: Record<string, unknown>, key: string, file: string, dflt?: number): number {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: '${key}' must be a number`);
  return v;
}

/** Reads a PEFT LoRA folder and attaches it to the model (base frozen). */
export function loadAdapter(dir: string, model: Transformer): LoraConfig {
  const cfgPath = join(dir, 'adapter_config.json'), wPath = join(dir, 'adapter_model.safetensors');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: not a PEFT adapter folder (no adapter_config.json)`);
  let raw: Record<string, unknown>;
  try { raw = JSON.parse(readFileSync(cfgPath, 'utf8')); } catch (e) { throw new Error(`${cfgPath}: not valid JSON (${(e as Error).message})`); }
  if (raw.peft_type !== 'LORA') throw new Error(`${cfgPath}: peft_type ${JSON.stringify(raw.peft_type)} is not supported (only LORA)`);
  if (raw.use_dora) throw new Error(`${cfgPath}: use_dora is not supported`);
  if (raw.fan_in_fan_out) throw new Error(`${cfgPath}: fan_in_fan_out adapters (GPT-2 Conv1D) are not supported`);
  let targets = raw.target_modules;
  if (typeof targets === 'string') targets = [targets];
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string')) throw new Error(`${cfgPath}: 'target_modules' must be a list of module names`);
  const lc: LoraConfig = {
    r: num(raw, 'r', cfgPath), alpha: num(raw, 'lora_alpha', cfgPath), dropout: num(raw, 'lora_dropout', cfgPath, 0),
    targetModules: targets as string[], rslora: raw.use_rslora === true,
  };
  const st = readSafetensors(wPath).tensors;
  model.addLora(lc);
  const seen = new Set<string>();
  for (const [name, l] of model.lora) {
    const base = PREFIX + name.replace(/\.weight$/, '');
    for (const [suffix, t] of [['lora_A', l.A], ['lora_B', l.B]] as const) {
      // PEFT writes `lora_A.weight`; older versions wrote `lora_A.default.weight`
      const key = [`${base}.${suffix}.weight`, `${base}.${suffix}.default.weight`].find((k) => st.has(k));
      if (!key) throw new Error(`${wPath}: missing tensor '${base}.${suffix}.weight'`);
      const td = st.get(key)!;
      if (td.shape.join() !== t.shape.join()) throw new Error(`${wPath}: '${key}' has shape [${td.shape}] but the model needs [${t.shape}]`);
      t.f32.set(toF32(td));
      seen.add(key);
    }
  }
  for (const k of st.keys()) if (!seen.has(k)) throw new Error(`${wPath}: unexpected tensor '${k}' (does the adapter belong to this model?)`);
  return lc;
}

/** A trainable copy-free view of adapter tensors by PEFT name (for checkpoints). */
export function adapterTensors(model: Transformer): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, l] of model.lora) {
    const base = PREFIX + name.replace(/\.weight$/, '');
    out.set(`${base}.lora_A.weight`, l.A); out.set(`${base}.lora_B.weight`, l.B);
  }
  return out;
}
