// heed's canonical parameter names (Llama-style for every arch), their shapes, and the mapping to
// and from each Hugging Face family's checkpoint names, including GPT-2's fused, transposed Conv1D.
import type { ModelConfig } from './config.js';
import type { TensorArray, TensorData } from './safetensors.js';

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Every canonical parameter of `cfg` with its shape, in model order. */
export function expectedShapes(cfg: ModelConfig): Map<string, number[]> {
  const d = cfg.dModel;
  const hd = d / cfg.nHead;
  const qOut = cfg.nHead * hd;
  const kvOut = cfg.nKvHead * hd;
  const m = new Map<string, number[]>();
  const norm = (p: string) => {
    m.set(`${p}.weight`, [d]);
    if (cfg.normBias) m.set(`${p}.bias`, [d]);
  };
  const linear = (p: string, out: number, inp: number, bias: boolean) => {
    m.set(`${p}.weight`, [out, inp]);
    if (bias) m.set(`${p}.bias`, [out]);
  };
  m.set('model.embed_tokens.weight', [cfg.vocabSize, d]);
  if (cfg.positions === 'learned') m.set('model.embed_positions.weight', [cfg.maxPositions, d]);
  for (let i = 0; i < cfg.nLayer; i++) {
    const L = `model.layers.${i}`;
    norm(`${L}.input_layernorm`);
    linear(`${L}.self_attn.q_proj`, qOut, d, cfg.qkvBias);
    linear(`${L}.self_attn.k_proj`, kvOut, d, cfg.qkvBias);
    linear(`${L}.self_attn.v_proj`, kvOut, d, cfg.qkvBias);
    linear(`${L}.self_attn.o_proj`, d, qOut, cfg.oBias);
    norm(`${L}.post_attention_layernorm`);
    if (cfg.mlp === 'swiglu') linear(`${L}.mlp.gate_proj`, cfg.ffn, d, cfg.mlpBias);
    linear(`${L}.mlp.up_proj`, cfg.ffn, d, cfg.mlpBias);
    linear(`${L}.mlp.down_proj`, d, cfg.ffn, cfg.mlpBias);
  }
  norm('model.norm');
  if (cfg.head === 'score') m.set('score.weight', [1, d]);
  else if (!cfg.tiedEmbeddings) m.set('lm_head.weight', [cfg.vocabSize, d]);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Layout helpers, generic over the element type so F16/BF16 (raw Uint16Array) move unchanged.

function like(a: TensorArray, n: number): TensorArray {
  return new (a.constructor as new (n: number) => TensorArray)(n);
}

/** [rows, cols] → [cols, rows]. */
function transpose(t: TensorData): TensorData {
  const [rows, cols] = t.shape as [number, number];
  const src = t.data as unknown as ArrayLike<number> & { [i: number]: number };
  const out = like(t.data, rows * cols) as unknown as { [i: number]: number };
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c]!;
  }
  return { dtype: t.dtype, shape: [cols, rows], data: out as unknown as TensorArray };
}

/** Rows [r0, r1) of a row-major tensor (first-axis slice), copied. */
function rows(t: TensorData, r0: number, r1: number): TensorData {
  const inner = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dtype: t.dtype, shape: [r1 - r0, ...t.shape.slice(1)], data: t.data.slice(r0 * inner, r1 * inner) };
}

/** Stack tensors along the first axis. */
function concatRows(ts: TensorData[]): TensorData {
  const first = ts[0]!;
  const n = ts.reduce((a, t) => a + t.data.length, 0);
  const out = like(first.data, n) as unknown as { set(a: ArrayLike<unknown>, o: number): void };
  let off = 0;
  for (const t of ts) {
    if (t.dtype !== first.dtype) throw new Error(`cannot fuse ${first.dtype} with ${t.dtype}`);
    out.set(t.data as ArrayLike<unknown>, off);
    off += t.data.length;
  }
  return { dtype: first.dtype, shape: [ts.reduce((a, t) => a + t.shape[0]!, 0), ...first.shape.slice(1)], data: out as unknown as TensorArray };
}

// ---------------------------------------------------------------------------------------------
// GPT-2. Conv1D stores weights as [in, out] (y = x·W + b), the transpose of nn.Linear; c_attn
// fuses q|k|v along `out`. heed writes the names `GPT2LMHeadModel.save_pretrained` writes (with the
// `transformer.` prefix), which every transformers version loads whether or not lm_head is tied.

const GPT2_PREFIX = 'transformer.';

function gpt2Layer(i: number): [hf: string, canon: string, conv1d: boolean][] {
  const H = `h.${i}`, L = `model.layers.${i}`;
  return [
    [`${H}.ln_1.weight`, `${L}.input_layernorm.weight`, false],
    [`${H}.ln_1.bias`, `${L}.input_layernorm.bias`, false],
    [`${H}.attn.c_proj.weight`, `${L}.self_attn.o_proj.weight`, true],
    [`${H}.attn.c_proj.bias`, `${L}.self_attn.o_proj.bias`, false],
    [`${H}.ln_2.weight`, `${L}.post_attention_layernorm.weight`, false],
    [`${H}.ln_2.bias`, `${L}.post_attention_layernorm.bias`, false],
    [`${H}.mlp.c_fc.weight`, `${L}.mlp.up_proj.weight`, true],
    [`${H}.mlp.c_fc.bias`, `${L}.mlp.up_proj.bias`, false],
    [`${H}.mlp.c_proj.weight`, `${L}.mlp.down_proj.weight`, true],
    [`${H}.mlp.c_proj.bias`, `${L}.mlp.down_proj.bias`, false],
  ];
}

function gpt2Plain(cfg: ModelConfig): [hf: string, canon: string, conv1d: boolean][] {
  const out: [string, string, boolean][] = [
    ['wte.weight', 'model.embed_tokens.weight', false],
    ['wpe.weight', 'model.embed_positions.weight', false],
  ];
  for (let i = 0; i < cfg.nLayer; i++) out.push(...gpt2Layer(i));
  out.push(['ln_f.weight', 'model.norm.weight', false], ['ln_f.bias', 'model.norm.bias', false]);
  return out;
}

function checkCanonical(cfg: ModelConfig, tensors: Map<string, TensorData>, file: string): void {
  const shapes = expectedShapes(cfg);
  for (const [name, shape] of shapes) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${file}: missing tensor "${name}" (expected shape ${fmt(shape)})`);
    if (!same(t.shape, shape)) throw new Error(`${file}: tensor "${name}" has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
  }
  for (const name of tensors.keys()) {
    if (!shapes.has(name)) throw new Error(`${file}: unexpected tensor "${name}" for this ${cfg.arch} config`);
  }
}

/** Canonical tensors → the names and layouts of `cfg.arch`'s HF checkpoints. */
export function toHFTensors(cfg: ModelConfig, tensors: Map<string, TensorData>): Map<string, TensorData> {
  checkCanonical(cfg, tensors, 'toHFTensors');
  if (cfg.arch !== 'gpt2') return new Map(tensors);
  const get = (n: string) => tensors.get(n)!;
  const out = new Map<string, TensorData>();
  for (const [hf, canon, conv] of gpt2Plain(cfg)) out.set(GPT2_PREFIX + hf, conv ? transpose(get(canon)) : get(canon));
  for (let i = 0; i < cfg.nLayer; i++) {
    const A = `model.layers.${i}.self_attn`;
    // Linear q/k/v [d, d] stacked along out → [3d, d], transposed → Conv1D [d, 3d].
    out.set(`${GPT2_PREFIX}h.${i}.attn.c_attn.weight`, transpose(concatRows([get(`${A}.q_proj.weight`), get(`${A}.k_proj.weight`), get(`${A}.v_proj.weight`)])));
    out.set(`${GPT2_PREFIX}h.${i}.attn.c_attn.bias`, concatRows([get(`${A}.q_proj.bias`), get(`${A}.k_proj.bias`), get(`${A}.v_proj.bias`)]));
  }
  if (cfg.head === 'score') out.set('score.weight', get('score.weight'));
  else if (!cfg.tiedEmbeddings) out.set('lm_head.weight', get('lm_head.weight'));
  return out;
}

/**
 * An HF checkpoint's tensors → canonical names and layouts, checked against `cfg`: a missing,
 * unexpected or misshapen tensor is an error naming it with the expected and found shapes.
 */
export function fromHFTensors(cfg: ModelConfig, tensors: Map<string, TensorData>, file = 'checkpoint'): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  const take = (hf: string, shape: number[]): TensorData => {
    const t = tensors.get(hf);
    if (!t) throw new Error(`${file}: missing tensor "${hf}" (expected shape ${fmt(shape)})`);
    if (!same(t.shape, shape)) throw new Error(`${file}: tensor "${hf}" has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
    return t;
  };

  if (cfg.arch !== 'gpt2') {
    const shapes = expectedShapes(cfg);
    for (const [name, shape] of shapes) out.set(name, take(name, shape));
    for (const name of tensors.keys()) {
      if (shapes.has(name)) continue;
      // Tied checkpoints may still carry the shared head; old transformers saved RoPE's buffer.
      if (name === 'lm_head.weight' && cfg.tiedEmbeddings && cfg.head !== 'score') continue;
      if (/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name)) continue;
      throw new Error(`${file}: unexpected tensor "${name}" for this ${cfg.arch} config`);
    }
    return out;
  }

  // GPT-2 checkpoints come both with (GPT2LMHeadModel) and without (GPT2Model, the hub's gpt2) the
  // `transformer.` prefix; normalise to bare names, refusing a file that mixes the two.
  const bare = new Map<string, TensorData>();
  for (const [name, t] of tensors) {
    const b = name.startsWith(GPT2_PREFIX) ? name.slice(GPT2_PREFIX.length) : name;
    if (bare.has(b)) throw new Error(`${file}: tensor "${b}" appears both with and without the "${GPT2_PREFIX}" prefix`);
    bare.set(b, t);
  }
  const shapes = expectedShapes(cfg);
  const used = new Set<string>();
  const takeBare = (hf: string, shape: number[]) => {
    used.add(hf);
    const t = bare.get(hf);
    if (!t) throw new Error(`${file}: missing tensor "${hf}" (expected shape ${fmt(shape)})`);
    if (!same(t.shape, shape)) throw new Error(`${file}: tensor "${hf}" has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
    return t;
  };
  for (const [hf, canon, conv] of gpt2Plain(cfg)) {
    const s = shapes.get(canon)!;
    out.set(canon, conv ? transpose(takeBare(hf, [s[1]!, s[0]!])) : takeBare(hf, s));
  }
  const d = cfg.dModel;
  for (let i = 0; i < cfg.nLayer; i++) {
    const A = `model.layers.${i}.self_attn`;
    const w = transpose(takeBare(`h.${i}.attn.c_attn.weight`, [d, 3 * d])); // → [3d, d]: q rows, k rows, v rows
    const b = takeBare(`h.${i}.attn.c_attn.bias`, [3 * d]);
    (['q', 'k', 'v'] as const).forEach((p, j) => {
      out.set(`${A}.${p}_proj.weight`, rows(w, j * d, (j + 1) * d));
      out.set(`${A}.${p}_proj.bias`, rows(b, j * d, (j + 1) * d));
    });
  }
  if (cfg.head === 'score') out.set('score.weight', takeBare('score.weight', [1, d]));
  else if (!cfg.tiedEmbeddings) out.set('lm_head.weight', takeBare('lm_head.weight', [cfg.vocabSize, d]));
  for (const name of bare.keys()) {
    if (used.has(name)) continue;
    // Causal-mask buffers older transformers versions saved, and a tied head saved anyway.
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) continue;
    if (name === 'lm_head.weight' && cfg.tiedEmbeddings && cfg.head !== 'score') continue;
    throw new Error(`${file}: unexpected tensor "${name}" for this gpt2 config`);
  }
  return out;
}
