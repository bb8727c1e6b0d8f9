// LoRA adapters as PEFT folders: adapter_config.json + adapter_model.safetensors with PEFT's tensor
// names (base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r]), so adapters
// move to and from Hugging Face PEFT unchanged.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../core/tensor.js';
import { checkFinite, readSafetensors, writeSafetensors, toF32, type TensorData } from './safetensors.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { readJsonObject } from '../util/text.js';
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

const LINEARS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

const none = (v: unknown): boolean => v === undefined || v === null || v === false ||
  (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/**
 * adapter_config.json keys that change what the adapter computes, with the values heed supports
 * (PEFT's defaults). A value outside them would be silently wrong, so it is an error.
 */
const SUPPORTED: Record<string, [(v: unknown) => boolean, string]> = {
  peft_type: [(v) => v === 'LORA', 'heed reads LoRA adapters only'],
  task_type: [(v) => v === undefined || v === null || v === 'CAUSAL_LM', 'heed adapts causal language models'],
  bias: [(v) => v === undefined || v === null || v === 'none', 'heed adapters train no biases'],
  use_dora: [none, 'DoRA is not implemented'],
  fan_in_fan_out: [none, 'GPT-2 Conv1D adapters are not supported'],
  modules_to_save: [none, 'heed adapters hold LoRA matrices only, no fully trained modules'],
  layers_to_transform: [none, 'heed adapts every layer'],
  rank_pattern: [none, 'heed uses one rank for every module'],
  alpha_pattern: [none, 'heed uses one alpha for every module'],
  exclude_modules: [none, 'heed adapts every module named in target_modules'],
  target_parameters: [none, 'heed adapts linear modules only'],
  trainable_token_indices: [none, 'heed trains no embedding rows in adapters'],
  layer_replication: [none, 'heed does not replicate layers'],
  use_qalora: [none, 'QA-LoRA is not implemented'],
  lora_bias: [none, 'heed adapters have no bias on lora_B'],
  megatron_config: [none, 'Megatron-parallel layers are not supported'],
  arrow_config: [none, 'Arrow routing is not implemented'],
  alora_invocation_tokens: [none, 'activated LoRA is not implemented'],
  // LoRA variants newer PEFT versions write as null when off
  kasa_config: [none, 'KaSA is not implemented'],
  velora_config: [none, 'VeLoRA is not implemented'],
  monteclora_config: [none, 'MonteCLoRA is not implemented'],
  use_bdlora: [none, 'block-diagonal LoRA is not implemented'],
  lora_ga_config: [none, 'LoRA-GA is not implemented'],
  use_rslora: [(v) => v === undefined || v === null || typeof v === 'boolean', 'expected true or false'],
};
/** Keys that only describe how the adapter was made (initialisation, provenance, modes). */
const HARMLESS = new Set([
  'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'base_model_name_or_path', 'revision', 'inference_mode',
  'auto_mapping', 'init_lora_weights', 'loftq_config', 'eva_config', 'corda_config', 'runtime_config', 'layers_pattern',
  'megatron_core', 'qalora_group_size', 'ensure_weight_tying', 'peft_version',
]);

/** The LoRA settings of an adapter_config.json, every key checked (errors name the file and key). */
export function adapterConfigFrom(raw: Record<string, unknown>, file: string): LoraConfig {
  const err = (key: string, what: string): never => { throw new Error(`${file}: "${key}" ${what}`); };
  for (const [key, v] of Object.entries(raw)) {
    const rule = SUPPORTED[key];
    if (rule) { if (!rule[0](v)) err(key, `= ${JSON.stringify(v)} is not supported (${rule[1]})`); }
    else if (!HARMLESS.has(key)) err(key, 'is not a LoRA option heed knows; it may change what the adapter computes');
  }
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) err('r', `must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) err('lora_alpha', `must be a number, got ${JSON.stringify(alpha)}`);
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) err('lora_dropout', `must be in [0, 1), got ${JSON.stringify(dropout)}`);
  let targets = raw.target_modules;
  if (targets === 'all-linear') targets = LINEARS;
  else if (typeof targets === 'string') targets = [targets];
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string')) {
    err('target_modules', `must be a list of module names, got ${JSON.stringify(raw.target_modules)}`);
  }
  for (const t of targets as string[]) {
    if (!LINEARS.includes(t)) err('target_modules', `lists "${t}", which is not a linear layer heed adapts (${LINEARS.join(', ')})`);
  }
  return { r: r as number, alpha: alpha as number, dropout: dropout as number, targetModules: [...new Set(targets as string[])], rslora: raw.use_rslora === true };
}

/** Reads a PEFT LoRA folder and attaches it to the model (base frozen); on error the model is left as it was. */
export function loadAdapter(dir: string, model: Transformer): LoraConfig {
  const cfgPath = join(dir, 'adapter_config.json'), wPath = join(dir, 'adapter_model.safetensors');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: not a PEFT adapter folder (${existsSync(dir) ? 'no adapter_config.json' : 'no such folder'})`);
  const lc = adapterConfigFrom(readJsonObject(cfgPath), cfgPath);
  if (model.cfg.arch === 'gpt2') throw new Error(`${dir}: PEFT adapters for gpt2-arch models (fused c_attn) are not supported`);
  const st = readSafetensors(wPath).tensors;
  checkFinite(st, wPath);
  model.addLora(lc);
  try {
    const seen = new Set<string>();
    for (const [name, l] of model.lora) {
      const base = PREFIX + name.replace(/\.weight$/, '');
      for (const [suffix, t] of [['lora_A', l.A], ['lora_B', l.B]] as const) {
        // PEFT writes `lora_A.weight`; older versions wrote `lora_A.default.weight`
        const key = [`${base}.${suffix}.weight`, `${base}.${suffix}.default.weight`].find((k) => st.has(k));
        if (!key) throw new Error(`${wPath}: missing tensor '${base}.${suffix}.weight' (adapter_config.json targets ${lc.targetModules.join(', ')})`);
        const td = st.get(key)!;
        if (td.shape.join() !== t.shape.join()) throw new Error(`${wPath}: '${key}' has shape [${td.shape}] but the model needs [${t.shape}] (r = ${lc.r})`);
        if (!['F32', 'F16', 'BF16', 'F64'].includes(td.dtype)) throw new Error(`${wPath}: '${key}' is ${td.dtype}, expected a floating-point dtype`);
        t.f32.set(toF32(td));
        seen.add(key);
      }
    }
    for (const k of st.keys()) if (!seen.has(k)) throw new Error(`${wPath}: unexpected tensor '${k}' (does the adapter belong to this model?)`);
  } catch (e) {
    model.lora.clear();
    model.loraConfig = null;
    throw e;
  }
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
