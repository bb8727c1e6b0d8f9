// heed's model config (one transformer with switches) and its mapping to and from Hugging Face
// `config.json` for the gpt2, llama and qwen2 model types, with the presets heed trains and benches.

export type Arch = 'gpt2' | 'llama' | 'qwen2';

export interface ModelConfig {
  arch: Arch; // HF model_type
  vocabSize: number; nLayer: number; dModel: number; nHead: number; nKvHead: number; ffn: number;
  maxPositions: number; // n_positions / max_position_embeddings
  norm: 'layer' | 'rms'; normEps: number;
  positions: 'learned' | 'rope'; ropeTheta: number;
  mlp: 'gelu' | 'swiglu';
  qkvBias: boolean; oBias: boolean; mlpBias: boolean; normBias: boolean;
  tiedEmbeddings: boolean;
  bosTokenId: number | null; eosTokenId: number | null; padTokenId?: number | null;
  initStd?: number; // initializer_range
  /**
   * 'lm' (default): the LM head over the vocabulary (…ForCausalLM). 'score': a scalar head
   * `score.weight` [1, d] read at the last real token (…ForSequenceClassification, num_labels 1),
   * as reward models are.
   */
  head?: 'lm' | 'score';
  /** added to the scalar head's output (config.json `score_bias`; transformers ignores it) */
  scoreBias?: number;
}

export type PresetName = 'tiny' | 'gpt2' | 'llama-tiny' | 'smollm-135m';

const gpt2Base = {
  arch: 'gpt2', norm: 'layer', normEps: 1e-5, positions: 'learned', ropeTheta: 10000, mlp: 'gelu',
  qkvBias: true, oBias: true, mlpBias: true, normBias: true, tiedEmbeddings: true, initStd: 0.02,
} as const;
const llamaBase = {
  arch: 'llama', norm: 'rms', normEps: 1e-5, positions: 'rope', ropeTheta: 10000, mlp: 'swiglu',
  qkvBias: false, oBias: false, mlpBias: false, normBias: false, tiedEmbeddings: true, initStd: 0.02,
} as const;

/** The shapes of ../shared/anchors/torch_gpt.py CONFIGS, so benchmarks compare like with like. */
export const PRESETS: Readonly<Record<PresetName, Readonly<ModelConfig>>> = {
  tiny: { ...gpt2Base, vocabSize: 4096, nLayer: 4, dModel: 256, nHead: 4, nKvHead: 4, ffn: 1024, maxPositions: 512, bosTokenId: null, eosTokenId: null },
  gpt2: { ...gpt2Base, vocabSize: 50257, nLayer: 12, dModel: 768, nHead: 12, nKvHead: 12, ffn: 3072, maxPositions: 1024, bosTokenId: 50256, eosTokenId: 50256 },
  'llama-tiny': { ...llamaBase, vocabSize: 4096, nLayer: 4, dModel: 256, nHead: 4, nKvHead: 2, ffn: 688, maxPositions: 2048, bosTokenId: null, eosTokenId: null },
  'smollm-135m': { ...llamaBase, vocabSize: 49152, nLayer: 30, dModel: 576, nHead: 9, nKvHead: 3, ffn: 1536, maxPositions: 2048, bosTokenId: 0, eosTokenId: 0 },
};

export function headDim(cfg: ModelConfig): number {
  return cfg.dModel / cfg.nHead;
}

// ---------------------------------------------------------------------------------------------
// Key allow-lists. A key not listed for its model type is an error: it may change the
// architecture in a way heed would silently get wrong. Listed keys are either mapped, checked for
// the one value heed supports, or harmless to ignore (generation defaults, bookkeeping, dropout,
// which heed does not train with).

const COMMON = [
  'model_type', 'architectures', 'torch_dtype', 'dtype', 'transformers_version', '_name_or_path', 'use_cache',
  'bos_token_id', 'eos_token_id', 'pad_token_id', 'sep_token_id', 'decoder_start_token_id', 'initializer_range',
  'tie_word_embeddings', 'id2label', 'label2id', 'return_dict', 'output_attentions', 'output_hidden_states',
  'torchscript', 'use_bfloat16', 'pruned_heads', 'is_decoder', 'is_encoder_decoder', 'add_cross_attention',
  'tie_encoder_decoder', 'chunk_size_feed_forward', 'problem_type', 'finetuning_task', 'tokenizer_class',
  'prefix', 'task_specific_params', 'cross_attention_hidden_size', 'tf_legacy_loss', 'use_return_dict',
  // generation defaults that older transformers versions dumped into config.json
  'max_length', 'min_length', 'do_sample', 'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty',
  'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty', 'length_penalty', 'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'output_scores',
  'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values',
  'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens',
  // sequence-classification (reward model) heads
  'num_labels', 'score_bias',
];
const ALLOWED: Record<Arch, ReadonlySet<string>> = {
  gpt2: new Set([...COMMON,
    'vocab_size', 'n_embd', 'n_layer', 'n_head', 'n_inner', 'n_positions', 'n_ctx', 'layer_norm_epsilon',
    'activation_function', 'attn_pdrop', 'embd_pdrop', 'resid_pdrop', 'summary_type', 'summary_use_proj',
    'summary_activation', 'summary_proj_to_labels', 'summary_first_dropout', 'scale_attn_weights',
    'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'gradient_checkpointing', 'n_special']),
  llama: new Set([...COMMON,
    'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
    'num_key_value_heads', 'head_dim', 'hidden_act', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta',
    'rope_scaling', 'attention_bias', 'attention_dropout', 'mlp_bias', 'pretraining_tp',
    // SmolLM2 (nanotron export) flags that transformers itself ignores
    'is_llama_config', 'rope_interleaved']),
  qwen2: new Set([...COMMON,
    'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
    'num_key_value_heads', 'head_dim', 'hidden_act', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta',
    'rope_scaling', 'attention_dropout', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types']),
};

const DEFAULT_FILE = 'config.json';

class Reader {
  constructor(readonly json: Record<string, unknown>, readonly file: string) {}

  err(key: string, what: string): never {
    throw new Error(`${this.file}: "${key}" ${what}`);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  int(key: string, dflt?: number, min = 1): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) this.err(key, 'is required but missing');
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.err(key, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, dflt: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.err(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  finite(key: string): number {
    const v = this.json[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.err(key, `must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  /** `key` (= a) must divide `of` (= b): heads split the width, key/value heads the heads. */
  divides(key: string, a: number, of: string, b: number): void {
    if (b % a !== 0) this.err(key, `= ${a} does not divide "${of}" = ${b}`);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.err(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Key may be absent; if present it must equal one of `ok`. */
  only(key: string, ok: readonly unknown[], why: string): void {
    if (!(key in this.json)) return;
    const v = this.json[key];
    if (!ok.some((o) => o === v)) this.err(key, `= ${JSON.stringify(v)} is not supported (${why})`);
  }

  /** A token id; lists (as some configs give for eos) resolve to their first entry. */
  tokenId(key: string): number | null {
    let v = this.json[key];
    if (Array.isArray(v)) v = v.length ? v[0] : null;
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.err(key, `must be a token id, got ${JSON.stringify(this.json[key])}`);
    return v;
  }
}

/** Map a Hugging Face config.json object to heed's config. `file` names the source in errors. */
export function configFromHF(json: unknown, file: string = DEFAULT_FILE): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: not a JSON object`);
  const r: Reader = new Reader(json as Record<string, unknown>, file);
  const type = r.json.model_type;
  if (type === undefined) r.err('model_type', 'is required but missing');
  if (type !== 'gpt2' && type !== 'llama' && type !== 'qwen2') {
    r.err('model_type', `= ${JSON.stringify(type)} is not supported (heed reads gpt2, llama and qwen2)`);
  }
  for (const key of Object.keys(r.json)) {
    if (!ALLOWED[type].has(key)) r.err(key, `is not a ${type} config key heed understands; it may change the architecture`);
  }
  r.only('add_cross_attention', [false], 'decoder-only models');
  r.only('is_encoder_decoder', [false], 'decoder-only models');
  r.only('rope_scaling', [null], 'heed implements plain RoPE only');

  const arches = r.json.architectures;
  const score = Array.isArray(arches) && arches.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification'));
  if (score) {
    const labels = r.has('num_labels') ? r.json.num_labels : r.has('id2label') ? Object.keys(r.json.id2label as object).length : 2;
    if (labels !== 1) r.err(r.has('num_labels') ? 'num_labels' : 'id2label', `gives ${JSON.stringify(labels)} labels; heed reads sequence-classification models with one (reward models)`);
  }
  const common = {
    ...(score ? { head: 'score' as const, ...(r.has('score_bias') ? { scoreBias: r.finite('score_bias') } : {}) } : {}),
    bosTokenId: r.tokenId('bos_token_id'),
    eosTokenId: r.tokenId('eos_token_id'),
    ...(r.has('pad_token_id') ? { padTokenId: r.tokenId('pad_token_id') } : {}),
    ...(r.has('initializer_range') ? { initStd: r.num('initializer_range', 0.02) } : {}),
  };

  let cfg: ModelConfig;
  if (type === 'gpt2') {
    r.only('activation_function', ['gelu_new', 'gelu_pytorch_tanh'], 'heed implements the tanh GELU');
    r.only('scale_attn_weights', [true], 'attention is scaled by 1/sqrt(head_dim)');
    r.only('scale_attn_by_inverse_layer_idx', [false], 'no per-layer attention scaling');
    const d = r.int('n_embd');
    const nHead = r.int('n_head');
    r.divides('n_head', nHead, 'n_embd', d);
    const ffn = r.has('n_inner') ? r.int('n_inner') : 4 * d;
    cfg = {
      arch: 'gpt2', vocabSize: r.int('vocab_size'), nLayer: r.int('n_layer'), dModel: d, nHead, nKvHead: nHead, ffn,
      maxPositions: r.int('n_positions', 1024), norm: 'layer', normEps: r.num('layer_norm_epsilon', 1e-5),
      positions: 'learned', ropeTheta: 10000, mlp: 'gelu',
      qkvBias: true, oBias: true, mlpBias: true, normBias: true,
      tiedEmbeddings: r.bool('tie_word_embeddings', true), ...common,
    };
    if (r.has('n_ctx') && r.json.n_ctx !== cfg.maxPositions) r.err('n_ctx', `= ${JSON.stringify(r.json.n_ctx)} differs from n_positions ${cfg.maxPositions}`);
  } else {
    r.only('hidden_act', ['silu'], 'heed implements SwiGLU with SiLU');
    const d = r.int('hidden_size');
    const nHead = r.int('num_attention_heads');
    if (r.has('head_dim') && d % nHead === 0 && r.json.head_dim !== d / nHead) {
      r.err('head_dim', `= ${JSON.stringify(r.json.head_dim)} is not supported (heed needs hidden_size / num_attention_heads = ${d / nHead})`);
    }
    r.divides('num_attention_heads', nHead, 'hidden_size', d);
    if ((d / nHead) % 2 !== 0) r.err('hidden_size', `/ "num_attention_heads" = ${d / nHead} is odd; RoPE needs an even head dimension`);
    r.divides('num_key_value_heads', r.int('num_key_value_heads', nHead), 'num_attention_heads', nHead);
    const base = {
      vocabSize: r.int('vocab_size'), nLayer: r.int('num_hidden_layers'), dModel: d, nHead,
      nKvHead: r.int('num_key_value_heads', nHead), ffn: r.int('intermediate_size'),
      norm: 'rms', normEps: r.num('rms_norm_eps', 1e-6), positions: 'rope', ropeTheta: r.num('rope_theta', 10000),
      mlp: 'swiglu', normBias: false, tiedEmbeddings: r.bool('tie_word_embeddings', false), ...common,
    } as const;
    if (type === 'llama') {
      const attnBias = r.bool('attention_bias', false);
      cfg = { arch: 'llama', ...base, maxPositions: r.int('max_position_embeddings', 2048), qkvBias: attnBias, oBias: attnBias, mlpBias: r.bool('mlp_bias', false) };
    } else {
      r.only('use_sliding_window', [false], 'heed has no sliding-window attention');
      const lt = r.json.layer_types;
      if (lt !== undefined && lt !== null && (!Array.isArray(lt) || lt.some((t) => t !== 'full_attention'))) {
        r.err('layer_types', 'must list only "full_attention" (heed has no sliding-window attention)');
      }
      cfg = { arch: 'qwen2', ...base, maxPositions: r.int('max_position_embeddings', 32768), qkvBias: true, oBias: false, mlpBias: false };
    }
  }
  const problem = configProblem(cfg);
  if (problem) throw new Error(`${file}: ${problem}`);
  return cfg;
}

/**
 * Why `cfg` cannot be written as its HF model type, or null when it can. Each HF family fixes
 * some of heed's switches (GPT-2 always has LayerNorm with bias; Qwen2 always has q/k/v bias and
 * no o bias), so a config that flips them has no faithful config.json.
 */
export function configProblem(cfg: ModelConfig): string | null {
  const ints: (keyof ModelConfig)[] = ['vocabSize', 'nLayer', 'dModel', 'nHead', 'nKvHead', 'ffn', 'maxPositions'];
  for (const k of ints) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return `${k} must be a positive integer, got ${JSON.stringify(v)}`;
  }
  if (cfg.dModel % cfg.nHead !== 0) return `hidden size ${cfg.dModel} is not divisible by ${cfg.nHead} heads`;
  if (cfg.nHead % cfg.nKvHead !== 0) return `${cfg.nHead} attention heads are not divisible by ${cfg.nKvHead} key/value heads`;
  if (cfg.positions === 'rope' && headDim(cfg) % 2 !== 0) return `RoPE needs an even head dim, got ${headDim(cfg)}`;
  const want: Partial<ModelConfig> =
    cfg.arch === 'gpt2'
      ? { norm: 'layer', positions: 'learned', mlp: 'gelu', qkvBias: true, oBias: true, mlpBias: true, normBias: true, nKvHead: cfg.nHead }
      : cfg.arch === 'llama'
        ? { norm: 'rms', positions: 'rope', mlp: 'swiglu', normBias: false, oBias: cfg.qkvBias }
        : cfg.arch === 'qwen2'
          ? { norm: 'rms', positions: 'rope', mlp: 'swiglu', normBias: false, qkvBias: true, oBias: false, mlpBias: false }
          : {};
  if (!['gpt2', 'llama', 'qwen2'].includes(cfg.arch)) return `unknown arch ${JSON.stringify(cfg.arch)}`;
  for (const [k, v] of Object.entries(want)) {
    const got = cfg[k as keyof ModelConfig];
    if (got !== v) return `${cfg.arch} models need ${k} = ${JSON.stringify(v)}, got ${JSON.stringify(got)}`;
  }
  return null;
}

const TORCH_DTYPE = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' } as const;

/** heed's config as the config.json transformers expects. `dtype` is the checkpoint's storage dtype. */
export function configToHF(cfg: ModelConfig, opts: { dtype?: 'F32' | 'BF16' | 'F16' } = {}): Record<string, unknown> {
  const problem = configProblem(cfg);
  if (problem) throw new Error(`configToHF: ${problem}`);
  const tail = {
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
    ...(cfg.padTokenId !== undefined ? { pad_token_id: cfg.padTokenId } : {}),
    initializer_range: cfg.initStd ?? 0.02,
    tie_word_embeddings: cfg.tiedEmbeddings,
    torch_dtype: TORCH_DTYPE[opts.dtype ?? 'F32'],
    use_cache: true,
    ...(cfg.head === 'score' ? { num_labels: 1, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, ...(cfg.scoreBias ? { score_bias: cfg.scoreBias } : {}) } : {}),
  };
  const score = cfg.head === 'score';
  if (cfg.arch === 'gpt2') {
    return {
      architectures: [score ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel'], model_type: 'gpt2',
      vocab_size: cfg.vocabSize, n_embd: cfg.dModel, n_layer: cfg.nLayer, n_head: cfg.nHead, n_inner: cfg.ffn,
      n_positions: cfg.maxPositions, n_ctx: cfg.maxPositions, layer_norm_epsilon: cfg.normEps,
      activation_function: 'gelu_new', attn_pdrop: 0, embd_pdrop: 0, resid_pdrop: 0,
      scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false,
      ...tail,
    };
  }
  const shared = {
    vocab_size: cfg.vocabSize, hidden_size: cfg.dModel, intermediate_size: cfg.ffn, num_hidden_layers: cfg.nLayer,
    num_attention_heads: cfg.nHead, num_key_value_heads: cfg.nKvHead, head_dim: headDim(cfg), hidden_act: 'silu',
    max_position_embeddings: cfg.maxPositions, rms_norm_eps: cfg.normEps, rope_theta: cfg.ropeTheta,
    rope_scaling: null, attention_dropout: 0,
  };
  if (cfg.arch === 'llama') {
    return {
      architectures: [score ? 'LlamaForSequenceClassification' : 'LlamaForCausalLM'], model_type: 'llama', ...shared,
      attention_bias: cfg.qkvBias, mlp_bias: cfg.mlpBias, pretraining_tp: 1, ...tail,
    };
  }
  return {
    architectures: [score ? 'Qwen2ForSequenceClassification' : 'Qwen2ForCausalLM'], model_type: 'qwen2', ...shared,
    use_sliding_window: false, sliding_window: null, max_window_layers: cfg.nLayer, ...tail,
  };
}
