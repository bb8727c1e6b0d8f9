// heed models, tokenizers and LoRA adapters as llama.cpp reads them from GGUF: the llama, qwen2 and
// gpt2 architectures' hyper-parameter keys and tensor names, the byte-level BPE vocabulary with the
// llama.cpp pre-tokenizer that splits text as the model's own does, and RoPE's q/k row order.
import { join } from 'node:path';
import { headDim, type ModelConfig } from './config.js';
import type { Transformer } from './transformer.js';
import { denseWeight } from '../core/quant.js';
import {
  LLAMA_FTYPE, Q8_0_BLOCK, bool, encodeTensor, f32, str, u32, writeGguf,
  type GgufTensor, type GgufTensorType, type GgufValue,
} from './gguf.js';
import { GPT2_PATTERN, QWEN2_PATTERN, WORDS_PATTERN, type TokenizerFolder } from '../tokenizer/index.js';

export type GgufMetadata = Array<[string, GgufValue]>;

/** Llama 3's pattern (llama.cpp "llama-bpe"); listed so that Llama-3-style tokenizers export too. */
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * Split patterns whose llama.cpp pre-tokenizer (llama-vocab.cpp, `tokenizer.ggml.pre`) applies the
 * same regex: llama.cpp's qwen2 and llama-bpe regexes are these with `(?i:'s)` spelled `'[sS]`, and
 * its gpt-2 regex is GPT-2's without the final `\s+`, which only re-matches text the other
 * alternatives leave unmatched (llama.cpp keeps such gaps as pieces of their own).
 */
const PRE_BY_PATTERN = new Map<string, string>([
  [QWEN2_PATTERN, 'qwen2'],
  [LLAMA3_PATTERN, 'llama-bpe'],
  [GPT2_PATTERN, 'gpt-2'],
]);

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Json : null);

function describePre(pre: Json | null): string {
  return JSON.stringify(pre)?.slice(0, 300) ?? 'none';
}

/**
 * The llama.cpp pre-tokenizer name for a tokenizer.json, or an error saying why none matches: with
 * a different split llama.cpp would tokenize text differently from the model's training.
 */
export function llamaCppPreTokenizer(tokJson: Json, where = 'tokenizer.json'): string {
  const norm = obj(tokJson.normalizer);
  // NFC changes nothing in text that is already NFC (what people type); llama.cpp, like its
  // Qwen2 converter, skips it. Anything else (lowercasing, stripping) would change the tokens.
  if (norm && norm.type !== 'NFC') throw new Error(`${where}: normalizer ${JSON.stringify(norm.type)} has no llama.cpp counterpart`);
  const pre = obj(tokJson.pre_tokenizer);
  const fail = (why: string): never => {
    throw new Error(`${where}: no llama.cpp pre-tokenizer splits text as this tokenizer does (${why}); llama.cpp would tokenize text differently from the model, so it cannot be exported to GGUF`);
  };
  const byteLevel = (p: Json | null, regex: boolean): boolean =>
    p?.type === 'ByteLevel' && p.add_prefix_space !== true && (p.use_regex !== false) === regex;
  if (byteLevel(pre, true)) return 'gpt-2';
  const steps = Array.isArray(pre?.pretokenizers) ? (pre!.pretokenizers as unknown[]).map(obj) : [];
  if (pre?.type !== 'Sequence' || steps.length !== 2) return fail(`pre_tokenizer ${describePre(pre)}`);
  const [first, last] = steps as [Json | null, Json | null];
  if (first?.type === 'Digits' && first.individual_digits === true && byteLevel(last, true)) return 'smollm';
  const pattern = obj(first?.pattern)?.Regex;
  if (first?.type !== 'Split' || typeof pattern !== 'string' || first.behavior !== 'Isolated' || first.invert === true || !byteLevel(last, false)) {
    return fail(`pre_tokenizer ${describePre(pre)}`);
  }
  const name = PRE_BY_PATTERN.get(pattern);
  if (name) return name;
  if (pattern === WORDS_PATTERN) {
    return fail("the split-spaces pattern of models pretrained by earlier heed versions keeps spaces out of words, which no llama.cpp pre-tokenizer does; pretrain again (splitSpaces now learns its merges within that pattern and splits text with Qwen2's, which exports)");
  }
  return fail(`split pattern ${JSON.stringify(pattern)}`);
}

/** gguf-py's TokenType, as llama.cpp reads tokenizer.ggml.token_type. */
const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

/** tokenizer.ggml.* and tokenizer.chat_template for a model with `vocabSize` rows of embeddings. */
export function ggufTokenizerMetadata(tok: TokenizerFolder, cfg: ModelConfig, where = 'tokenizer.json'): GgufMetadata {
  const t = tok.tokenizer, json = t.toJSON();
  if (t.vocabSize > cfg.vocabSize) throw new Error(`${where}: the tokenizer has ${t.vocabSize} tokens but the model only ${cfg.vocabSize}`);
  const pre = llamaCppPreTokenizer(json, where);
  const added = new Map(t.addedTokens.map((a) => [a.id, a]));
  const tokens: string[] = [], types = new Int32Array(cfg.vocabSize);
  for (let id = 0; id < cfg.vocabSize; id++) {
    const s = id < t.vocabSize ? t.idToToken(id) : undefined;
    const a = added.get(id);
    // Rows past the tokenizer (embedding tables rounded up) get unused placeholders, as
    // llama.cpp's converter writes them.
    tokens.push(s ?? `[PAD${id}]`);
    types[id] = s === undefined ? TOKEN_TYPE.unused : a ? (a.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined) : TOKEN_TYPE.normal;
  }
  const merges = ((obj(json.model)?.merges ?? []) as unknown[]).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
  const md: GgufMetadata = [
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(pre)],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', of: 'string', value: merges }],
  ];
  const bos = tok.bosTokenId ?? cfg.bosTokenId, eos = tok.eosTokenId ?? cfg.eosTokenId;
  if (bos !== null) md.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== null) md.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  if (tok.eotTokenId !== null) md.push(['tokenizer.ggml.eot_token_id', u32(tok.eotTokenId)]);
  if (tok.padTokenId !== null) md.push(['tokenizer.ggml.padding_token_id', u32(tok.padTokenId)]);
  // heed's tokenizers add no BOS (tokenizer_config add_bos_token false); llama.cpp must not either.
  md.push(['tokenizer.ggml.add_bos_token', bool(tok.config.add_bos_token === true)]);
  md.push(['tokenizer.ggml.add_eos_token', bool(false)]);
  if (tok.chatTemplate) md.push(['tokenizer.chat_template', str(tok.chatTemplate.source)]);
  return md;
}

/** `${arch}.*` hyper-parameters llama.cpp's loader requires (llama-model.cpp load_hparams). */
export function ggufHyperParameters(cfg: ModelConfig): GgufMetadata {
  const a = cfg.arch;
  const md: GgufMetadata = [
    [`${a}.context_length`, u32(cfg.maxPositions)],
    [`${a}.embedding_length`, u32(cfg.dModel)],
    [`${a}.block_count`, u32(cfg.nLayer)],
    [`${a}.feed_forward_length`, u32(cfg.ffn)],
    [`${a}.attention.head_count`, u32(cfg.nHead)],
    [`${a}.attention.head_count_kv`, u32(cfg.nKvHead)],
  ];
  if (cfg.norm === 'rms') md.push([`${a}.attention.layer_norm_rms_epsilon`, f32(cfg.normEps)]);
  else md.push([`${a}.attention.layer_norm_epsilon`, f32(cfg.normEps)]);
  if (cfg.positions === 'rope') md.push([`${a}.rope.dimension_count`, u32(headDim(cfg))], [`${a}.rope.freq_base`, f32(cfg.ropeTheta)]);
  md.push([`${a}.vocab_size`, u32(cfg.vocabSize)]);
  return md;
}

const LAYER_NAMES: ReadonlyArray<[canon: string, gguf: string]> = [
  ['input_layernorm', 'attn_norm'], ['self_attn.q_proj', 'attn_q'], ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'], ['self_attn.o_proj', 'attn_output'], ['post_attention_layernorm', 'ffn_norm'],
  ['mlp.gate_proj', 'ffn_gate'], ['mlp.up_proj', 'ffn_up'], ['mlp.down_proj', 'ffn_down'],
];

/** heed's canonical name → llama.cpp's (llama-arch.cpp LLM_TENSOR_NAMES), or null for none. */
export function ggufTensorName(canon: string): string | null {
  const top: Record<string, string> = {
    'model.embed_tokens.weight': 'token_embd.weight', 'model.embed_positions.weight': 'position_embd.weight',
    'model.norm.weight': 'output_norm.weight', 'model.norm.bias': 'output_norm.bias', 'lm_head.weight': 'output.weight',
  };
  if (top[canon]) return top[canon]!;
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(canon);
  if (!m) return null;
  const hit = LAYER_NAMES.find(([c]) => c === m[2]);
  return hit ? `blk.${m[1]}.${hit[1]}.${m[3]}` : null;
}

/**
 * HF Llama stores each head's q/k rows in rotate-half order (first halves, then second halves);
 * llama.cpp's llama architecture rotates adjacent pairs, so convert_hf_to_gguf.py interleaves the
 * two halves: reshape(heads, 2, D/2, …).swapaxes(1, 2). Applies to the rows of a weight, bias or
 * LoRA B. (qwen2 runs NEOX-style RoPE in llama.cpp and keeps HF's order.)
 */
export function permuteRope(src: Float32Array, rows: number, heads: number): Float32Array {
  const cols = src.length / rows, D = rows / heads, half = D / 2, out = new Float32Array(src.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) for (let i = 0; i < half; i++) {
      const from = (h * D + j * half + i) * cols, to = (h * D + i * 2 + j) * cols;
      out.set(src.subarray(from, from + cols), to);
    }
  }
  return out;
}

function ropeHeads(cfg: ModelConfig, canon: string): number | null {
  if (cfg.arch !== 'llama') return null;
  if (/\.q_proj\.(weight|bias)$/.test(canon)) return cfg.nHead;
  if (/\.k_proj\.(weight|bias)$/.test(canon)) return cfg.nKvHead;
  return null;
}

/**
 * The element type a tensor is stored as, following convert_hf_to_gguf.py: vectors (norms, biases)
 * and position embeddings stay f32; matrices take the file's type; q8_0 needs rows that are whole
 * blocks of 32 and falls back to f16 otherwise.
 */
function storedType(name: string, shape: readonly number[], type: GgufTensorType): GgufTensorType {
  if (shape.length < 2 || name === 'position_embd.weight') return 'f32';
  if (type === 'q8_0' && shape[shape.length - 1]! % Q8_0_BLOCK !== 0) return 'f16';
  return type;
}

function fuseRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The model's base tensors (LoRA not merged) under llama.cpp's names and layouts. */
function ggufTensors(model: Transformer, type: GgufTensorType): GgufTensor[] {
  const cfg = model.cfg, out: GgufTensor[] = [];
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [n, t] of model.params) weights.set(n, { shape: [...t.shape], data: t.f32 });
  for (const [n, q] of model.frozenNF4) weights.set(n, { shape: [...q.shape], data: denseWeight(q) });
  const push = (name: string, shape: number[], data: Float32Array): void => {
    const st = storedType(name, shape, type);
    out.push({ name, shape, type: st, data: encodeTensor(data, st) });
  };
  for (const [canon, w] of weights) {
    if (cfg.arch === 'gpt2' && /\.self_attn\.[qkv]_proj\./.test(canon)) continue; // fused below
    const name = ggufTensorName(canon);
    if (!name) throw new Error(`gguf: no llama.cpp tensor for heed parameter '${canon}'`);
    const heads = ropeHeads(cfg, canon);
    push(name, w.shape, heads ? permuteRope(w.data, w.shape[0]!, heads) : w.data);
  }
  if (cfg.arch === 'gpt2') {
    // llama.cpp's gpt2 reads one fused attn_qkv (q rows, then k, then v), as GPT-2's c_attn.
    for (let i = 0; i < cfg.nLayer; i++) {
      for (const kind of ['weight', 'bias'] as const) {
        const parts = ['q', 'k', 'v'].map((p) => weights.get(`model.layers.${i}.self_attn.${p}_proj.${kind}`)!);
        const rows = parts.reduce((n, p) => n + p.shape[0]!, 0);
        push(`blk.${i}.attn_qkv.${kind}`, kind === 'weight' ? [rows, cfg.dModel] : [rows], fuseRows(parts.map((p) => p.data)));
      }
    }
  }
  return out;
}

export interface GgufModelOptions {
  type: GgufTensorType;
  /** general.name */
  name?: string;
  /** the model folder, named in errors */
  source?: string;
}

/** Metadata and tensors of a GGUF model file (LoRA adapters not merged: merge first to include them). */
export function ggufModel(model: Transformer, tok: TokenizerFolder, opts: GgufModelOptions): { metadata: GgufMetadata; tensors: GgufTensor[] } {
  const cfg = model.cfg;
  const metadata: GgufMetadata = [
    ['general.architecture', str(cfg.arch)],
    ['general.type', str('model')],
    ['general.name', str(opts.name ?? 'heed model')],
    ['general.file_type', u32(LLAMA_FTYPE[opts.type])],
    ...(opts.type === 'q8_0' ? [['general.quantization_version', u32(2)] as [string, GgufValue]] : []),
    ...ggufHyperParameters(cfg),
    ...ggufTokenizerMetadata(tok, cfg, opts.source ? join(opts.source, 'tokenizer.json') : 'tokenizer.json'),
  ];
  return { metadata, tensors: ggufTensors(model, opts.type) };
}

export function writeGgufModel(path: string, model: Transformer, tok: TokenizerFolder, opts: GgufModelOptions): void {
  const { metadata, tensors } = ggufModel(model, tok, opts);
  writeGguf(path, metadata, tensors);
}

/**
 * The model's LoRA adapters as a llama.cpp adapter file (convert_lora_to_gguf.py's layout):
 * `blk.N.<tensor>.weight.lora_a` = A [r, in] and `.lora_b` = B [out, r] (ggml reads them as
 * ne = [in, r] and [r, out]), B's rows permuted like the base weight's. llama.cpp scales by
 * alpha / r, so `adapter.lora.alpha` is heed's scale · r (which also covers rsLoRA's alpha / √r).
 */
export function ggufAdapter(model: Transformer, opts: { type: 'f32' | 'f16'; name?: string }): { metadata: GgufMetadata; tensors: GgufTensor[] } {
  const cfg = model.cfg;
  if (!model.loraConfig || model.lora.size === 0) throw new Error('gguf: the model has no LoRA adapter to export');
  if (cfg.arch === 'gpt2') throw new Error('gguf: LoRA adapters for gpt2 models cannot be written (llama.cpp fuses q, k and v into one attn_qkv)');
  const alphas = new Set([...model.lora.values()].map((l) => l.scale * l.A.shape[0]!));
  if (alphas.size !== 1) throw new Error('gguf: the adapter\'s layers have different scales; llama.cpp has one alpha per adapter');
  const tensors: GgufTensor[] = [];
  for (const [canon, l] of model.lora) {
    const name = ggufTensorName(canon);
    if (!name) throw new Error(`gguf: no llama.cpp tensor for LoRA target '${canon}'`);
    const heads = ropeHeads(cfg, canon), [O, r] = l.B.shape as [number, number];
    const b = heads ? permuteRope(l.B.f32, O, heads) : l.B.f32;
    tensors.push({ name: `${name}.lora_a`, shape: [...l.A.shape], type: opts.type, data: encodeTensor(l.A.f32, opts.type) });
    tensors.push({ name: `${name}.lora_b`, shape: [O, r], type: opts.type, data: encodeTensor(b, opts.type) });
  }
  const metadata: GgufMetadata = [
    ['general.architecture', str(cfg.arch)],
    ['general.type', str('adapter')],
    ['general.name', str(opts.name ?? 'heed adapter')],
    ['general.file_type', u32(LLAMA_FTYPE[opts.type])],
    ['adapter.type', str('lora')],
    ['adapter.lora.alpha', f32([...alphas][0]!)],
  ];
  return { metadata, tensors };
}

export function writeGgufAdapter(path: string, model: Transformer, opts: { type: 'f32' | 'f16'; name?: string }): void {
  const { metadata, tensors } = ggufAdapter(model, opts);
  writeGguf(path, metadata, tensors);
}
