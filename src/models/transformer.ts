// The one decoder-only transformer. Switches in ModelConfig make it GPT-2 (LayerNorm, learned
// positions, GELU, biases), Llama/SmolLM (RMSNorm, RoPE, SwiGLU, GQA) or Qwen2 (plus q/k/v biases).
// Parameters live in a Map under heed's canonical (Llama-style) names, so loading and saving is a
// rename (hf-names.ts). LoRA adapters and NF4-frozen weights plug in per linear layer.
import { Tensor } from '../core/tensor.js';
import { Rng } from '../core/rng.js';
import * as op from '../core/ops.js';
import { isGradEnabled } from '../core/autograd.js';
import { K } from '../core/kernels.js';
import { isQ8, type Q8Weight } from '../core/q8.js';
import { quantizeNF4, denseWeight, type NF4Weight } from '../core/quant.js';
import { expectedShapes } from './hf-names.js';
import { toF32, type TensorData } from './safetensors.js';
import { headDim, type ModelConfig } from './config.js';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** module names, e.g. ['q_proj', 'v_proj'] */
  targetModules: string[];
  /** rank-stabilised scaling alpha/√r instead of alpha/r */
  rslora: boolean;
}

export interface LoraLayer { A: Tensor; B: Tensor; scale: number }

/**
 * KV cache of B slots, one sequence each: k[layer][slot], v[layer][slot] of (capacity, Hkv, D),
 * grown on demand up to Tmax positions. Each slot has its own length, so the rows of one batch can
 * sit at different lengths (continuous batching: sequences join and leave between decode steps),
 * and a slot is reused by resetting it.
 */
export class KVCache {
  readonly k: Float32Array[][]; readonly v: Float32Array[][];
  /** positions filled in each slot */
  readonly lens: Int32Array;
  constructor(readonly cfg: ModelConfig, readonly B: number, readonly Tmax: number) {
    const empty = () => Array.from({ length: B }, () => new Float32Array(0));
    this.k = Array.from({ length: cfg.nLayer }, empty);
    this.v = Array.from({ length: cfg.nLayer }, empty);
    this.lens = new Int32Array(B);
  }

  /** The longest slot (a batch that moves in lockstep has one length). */
  get len(): number { return this.lens.reduce((a, b) => Math.max(a, b), 0); }

  /** Empties a slot for the next sequence; its memory is kept for reuse. */
  reset(slot: number): void { this.lens[slot] = 0; }

  /** Makes room for n positions in a slot (capacity doubles, so a growing sequence copies O(n) in all). */
  reserve(slot: number, n: number): void {
    const step = this.cfg.nKvHead * headDim(this.cfg), have = this.k[0]![slot]!.length / step;
    if (n <= have) return;
    const cap = Math.min(this.Tmax, Math.max(n, 2 * have, 16)), used = this.lens[slot]! * step;
    for (const kv of [this.k, this.v]) for (const layer of kv) {
      const grown = new Float32Array(cap * step);
      grown.set(layer[slot]!.subarray(0, used));
      layer[slot] = grown;
    }
  }
}

/** The cache slot of each row (checked: in range, distinct, room for T more), with room reserved. */
function cacheSlots(cache: KVCache, B: number, T: number, given: Int32Array | undefined): Int32Array {
  if (!given && B > cache.B) throw new Error(`heed: forward got ${B} rows but the KV cache has ${cache.B} slots`);
  const slots = given ?? Int32Array.from({ length: B }, (_, b) => b);
  if (slots.length !== B) throw new Error(`heed: forward got ${slots.length} cache slots for B=${B}`);
  const seen = new Set<number>();
  for (const s of slots) {
    if (s < 0 || s >= cache.B || seen.has(s)) throw new Error(`heed: cache slot ${s} is out of range [0, ${cache.B}) or given twice`);
    seen.add(s);
    const n = cache.lens[s]! + T;
    if (n > cache.Tmax) throw new Error(`heed: sequence of ${n} tokens exceeds the model's ${cache.Tmax} positions`);
    cache.reserve(s, n);
  }
  return slots;
}

export interface ForwardOptions {
  /** absolute position of each token (B·T); default 0..T−1 (or the slot's length on) per row */
  positions?: Int32Array;
  /** (B, Tk) 1 = real token, 0 = padding; with a cache (cache slots, Tmax), indexed by slot */
  keyMask?: Uint8Array;
  /**
   * (B·T) packed-sequence ids: each run of equal ids in a row is one sequence, which attends only
   * within itself and counts positions from 0 (as it would alone). Not with a cache.
   */
  segments?: Int32Array;
  cache?: KVCache;
  /**
   * with a cache: the slot of each batch row (default row b → slot b). Each row continues its own
   * slot at that slot's length, so a decode step can run rows of different lengths as one batch.
   */
  slots?: Int32Array;
  /** only compute logits for the last position of each row */
  lastOnly?: boolean;
  /**
   * only compute logits at these flat positions b·T + t, returned as (rows, V): training on sparse
   * targets (SFT trains on answer tokens only) skips the LM head everywhere else
   */
  rows?: Int32Array;
  /** training mode (LoRA dropout) */
  training?: boolean;
  /** also return the final hidden states (the rows the logits were computed at) */
  wantHidden?: boolean;
  /**
   * false runs the base model without its LoRA adapters: a LoRA policy's reference model is the
   * same weights, never a second copy (default true)
   */
  adapters?: boolean;
}

export interface ForwardResult { logits: Tensor; hidden?: Tensor }

const LINEARS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const MLP_LINEARS = new Set<string>(['gate_proj', 'up_proj', 'down_proj']);
/** The block linears QLoRA stores in NF4 (embeddings and norms stay f32). */
const QUANTIZABLE = /\.(q|k|v|o|gate|up|down)_proj\.weight$/;

export class Transformer {
  readonly cfg: ModelConfig;
  readonly params: Map<string, Tensor>;
  /** LoRA adapters by the linear's canonical weight name (…q_proj.weight) */
  readonly lora = new Map<string, LoraLayer>();
  loraConfig: LoraConfig | null = null;
  /** NF4-frozen weights by canonical name (QLoRA); such names are absent from params */
  readonly frozenNF4 = new Map<string, NF4Weight>();
  /** RoPE's cos/sin table, grown on demand (a config may allow far more positions than are used) */
  private rope: op.RopeCache | null = null;
  /** seeds LoRA dropout masks; saved in checkpoints so a resume replays them */
  readonly dropoutRng = new Rng(17);

  constructor(cfg: ModelConfig, params: Map<string, Tensor>, nf4?: Map<string, NF4Weight>) {
    this.cfg = cfg;
    this.params = params;
    if (nf4) for (const [name, q] of nf4) { this.frozenNF4.set(name, q); params.delete(name); }
    const want = expectedShapes(cfg);
    for (const [name, shape] of want) {
      const t = params.get(name) ?? (this.frozenNF4.has(name) ? { shape: this.frozenNF4.get(name)!.shape } : undefined);
      if (!t) throw new Error(`heed: model is missing parameter '${name}'`);
      if (t.shape.join() !== shape.join()) throw new Error(`heed: parameter '${name}' has shape [${t.shape}] but the config needs [${shape}]`);
    }
  }

  /** Random initialisation (normal(0, initStd); residual projections scaled by 1/√(2·nLayer), as GPT-2). */
  static init(cfg: ModelConfig, seed = 0): Transformer {
    const rng = new Rng(seed), std = cfg.initStd ?? 0.02, params = new Map<string, Tensor>();
    for (const [name, shape] of expectedShapes(cfg)) {
      let t: Tensor;
      if (name.endsWith('norm.weight') || name.endsWith('layernorm.weight')) t = Tensor.ones(shape);
      else if (name.endsWith('.bias')) t = Tensor.zeros(shape);
      else {
        const resid = name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight');
        t = Tensor.randn(shape, rng, resid ? std / Math.sqrt(2 * cfg.nLayer) : std);
      }
      params.set(name, t);
    }
    return new Transformer(cfg, params);
  }

  /**
   * From canonical tensors of any float dtype (e.g. readModelFolder's). F32 tensors stay views of
   * the file's buffer. With nf4, block linears are quantized straight from the file and everything
   * else is copied, so the f32 file buffer can be freed (QLoRA's memory saving).
   */
  static fromTensors(cfg: ModelConfig, tensors: Map<string, TensorData>, opts: { nf4?: boolean } = {}): Transformer {
    const params = new Map<string, Tensor>(), nf4 = new Map<string, NF4Weight>();
    for (const [name, td] of tensors) {
      if (opts.nf4 && QUANTIZABLE.test(name)) nf4.set(name, quantizeNF4(toF32(td), td.shape));
      else params.set(name, new Tensor(opts.nf4 && td.dtype === 'F32' ? toF32(td).slice() : toF32(td), td.shape));
    }
    return new Transformer(cfg, params, nf4);
  }

  /** Canonical f32 tensors (LoRA not merged; NF4 weights dequantized). */
  toTensors(): Map<string, TensorData> {
    const out = new Map<string, TensorData>();
    for (const [name, t] of this.params) out.set(name, { dtype: 'F32', shape: [...t.shape], data: t.f32 });
    for (const [name, q] of this.frozenNF4) out.set(name, { dtype: 'F32', shape: [...q.shape], data: denseWeight(q).slice() });
    return out;
  }

  /** Marks every base parameter trainable (full fine-tuning / pretraining). */
  trainAll(): void { for (const t of this.params.values()) t.requiresGrad = true; }

  /** Names and tensors of what the optimizer should update. */
  trainable(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [n, t] of this.params) if (t.requiresGrad) out.push([n, t]);
    for (const [n, l] of this.lora) { out.push([n.replace(/\.weight$/, '.lora_A.weight'), l.A], [n.replace(/\.weight$/, '.lora_B.weight'), l.B]); }
    return out;
  }

  /** Adds LoRA adapters (A ~ Kaiming-uniform, B = 0, as PEFT) and freezes the base. */
  addLora(lc: LoraConfig, seed = 0): void {
    const rng = new Rng(seed);
    this.loraConfig = lc;
    for (const t of this.params.values()) t.requiresGrad = false;
    const scale = lc.rslora ? lc.alpha / Math.sqrt(lc.r) : lc.alpha / lc.r;
    for (let i = 0; i < this.cfg.nLayer; i++) for (const m of LINEARS) {
      if (!lc.targetModules.includes(m)) continue;
      const name = `model.layers.${i}.${MLP_LINEARS.has(m) ? 'mlp' : 'self_attn'}.${m}.weight`;
      const w = this.params.get(name) ?? null, shape = w?.shape ?? this.frozenNF4.get(name)?.shape;
      if (!shape) continue; // e.g. gate_proj on a GELU model
      const [O, I] = shape as [number, number], bound = 1 / Math.sqrt(I);
      this.lora.set(name, { A: Tensor.uniform([lc.r, I], rng, -bound, bound).param(), B: Tensor.zeros([O, lc.r]).param(), scale });
    }
    if (this.lora.size === 0) throw new Error(`heed: LoRA target modules ${JSON.stringify(lc.targetModules)} match no linear layer of this ${this.cfg.arch} model`);
  }

  /** QLoRA: stores every frozen linear weight of the blocks as NF4 (call before or after addLora). */
  quantizeBase(blockSize = 64): void {
    for (const [name, t] of [...this.params]) {
      if (!QUANTIZABLE.test(name)) continue;
      this.frozenNF4.set(name, quantizeNF4(t.f32, t.shape, blockSize));
      this.params.delete(name);
    }
  }

  /** Folds LoRA into the base weights (W += scale·B·A) and drops the adapters. */
  mergeLora(): void {
    for (const [name, l] of this.lora) {
      const q = this.frozenNF4.get(name);
      let w = this.params.get(name);
      if (q) { w = new Tensor(denseWeight(q).slice(), q.shape); this.frozenNF4.delete(name); this.params.set(name, w); }
      const ba = op.matmul(l.B.detach(), l.A.detach()), wd = w!.f32, d = ba.f32;
      for (let i = 0; i < wd.length; i++) wd[i] = wd[i]! + l.scale * d[i]!;
    }
    this.lora.clear();
    this.loraConfig = null;
  }

  private p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`heed: missing parameter '${name}'`);
    return t;
  }

  private bias(name: string): Tensor | null { return this.params.get(name) ?? null; }

  /** The RoPE table covering positions [0, n), grown by doubling up to the config's limit. */
  private ropeFor(n: number): op.RopeCache {
    if (!this.rope || this.rope.maxPos < n) {
      const size = Math.min(this.cfg.maxPositions, Math.max(n, 2 * (this.rope?.maxPos ?? 256)));
      this.rope = op.ropeCache(headDim(this.cfg), size, this.cfg.ropeTheta);
    }
    return this.rope;
  }

  /** A linear layer with whatever is attached to it: NF4 base, LoRA adapter (unless adapters are off). */
  private proj(x: Tensor, prefix: string, training: boolean, adapters: boolean): Tensor {
    const wn = `${prefix}.weight`, b = this.bias(`${prefix}.bias`), q = this.frozenNF4.get(wn), l = adapters ? this.lora.get(wn) : undefined;
    if (l) return op.loraLinear(x, q ?? this.p(wn), b, l.A, l.B, l.scale, this.loraConfig?.dropout ?? 0, this.dropoutRng, training);
    return op.linear(x, q ?? this.p(wn), b);
  }

  /**
   * Linear layers that read the same input (q/k/v, gate/up): with no adapter attached (or adapters
   * off) and no NF4 base, one op.linears call, which decoding runs as one kernel over all of them.
   */
  private projs(x: Tensor, prefixes: readonly string[], training: boolean, adapters: boolean): Tensor[] {
    const plain = prefixes.every((p) => !this.frozenNF4.has(`${p}.weight`) && !(adapters && this.lora.has(`${p}.weight`)));
    if (!plain) return prefixes.map((p) => this.proj(x, p, training, adapters));
    return op.linears(x, prefixes.map((p) => this.p(`${p}.weight`)), prefixes.map((p) => this.bias(`${p}.bias`)));
  }

  private norm(x: Tensor, prefix: string): Tensor {
    const w = this.p(`${prefix}.weight`), eps = this.cfg.normEps;
    return this.cfg.norm === 'rms' ? op.rmsNorm(x, w, eps) : op.layerNorm(x, w, this.bias(`${prefix}.bias`), eps);
  }

  /**
   * The language model: trunk, then the LM head. ids: (B·T) token ids, row-major. Returns logits
   * (B, T, V), or (B, 1, V) with lastOnly, or (rows, V) with rows.
   */
  forward(ids: Int32Array, B: number, T: number, o: ForwardOptions = {}): ForwardResult {
    const hidden = this.trunk(ids, B, T, o), logits = this.lmHead(hidden);
    return o.wantHidden ? { logits, hidden } : { logits };
  }

  /** Logits over the vocabulary from final hidden states (..., d) → (..., V). */
  lmHead(hidden: Tensor): Tensor {
    if (this.cfg.head === 'score') throw new Error('heed: this model has a scalar score head (a reward model), not an LM head');
    return op.linear(hidden, this.cfg.tiedEmbeddings ? this.p('model.embed_tokens.weight') : this.p('lm_head.weight'));
  }

  /** The scalar head (reward models): hidden (..., d) → scores (...,) = score.weight · h + score_bias. */
  scoreHead(hidden: Tensor): Tensor {
    const w = this.params.get('score.weight');
    if (!w) throw new Error('heed: this model has no score head (config head "score", tensor score.weight)');
    const s = op.reshape(op.linear(hidden, w), hidden.shape.slice(0, -1));
    return this.cfg.scoreBias ? op.addScalar(s, this.cfg.scoreBias) : s;
  }

  /**
   * The transformer without a head: final normed hidden states (B, T, d), or (B, 1, d) with
   * lastOnly, or (rows, d) with rows. Heads (LM, scalar reward, value) are small functions on them,
   * so a head is computed only where it is needed.
   */
  trunk(ids: Int32Array, B: number, T: number, o: ForwardOptions = {}): Tensor {
    const c = this.cfg, D = headDim(c), H = c.nHead, Hkv = c.nKvHead, training = o.training ?? false, ad = o.adapters ?? true;
    if (ids.length !== B * T) throw new Error(`heed: forward got ${ids.length} ids for B=${B}, T=${T}`);
    const cache = o.cache, slots = cache ? cacheSlots(cache, B, T, o.slots) : null;
    if (!cache && T > c.maxPositions) throw new Error(`heed: sequence of ${T} tokens exceeds the model's ${c.maxPositions} positions`);
    let positions = o.positions, keyStart: Int32Array | null = null;
    if (o.segments) {
      if (cache) throw new Error('heed: forward takes segments or a cache, not both');
      if (o.segments.length !== B * T) throw new Error(`heed: forward got ${o.segments.length} segment ids for B=${B}, T=${T}`);
      keyStart = new Int32Array(B * T);
      const pos = positions ? null : (positions = new Int32Array(B * T));
      for (let b = 0; b < B; b++) {
        let start = 0;
        for (let t = 0; t < T; t++) {
          if (t > 0 && o.segments[b * T + t] !== o.segments[b * T + t - 1]) start = t;
          keyStart[b * T + t] = start;
          if (pos) pos[b * T + t] = t - start;
        }
      }
    }
    if (!positions) {
      positions = new Int32Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = (slots ? cache!.lens[slots[b]!]! : 0) + t;
    }
    let maxPos = 0;
    for (let i = 0; i < positions.length; i++) if (positions[i]! > maxPos) maxPos = positions[i]!;
    const rope = c.positions === 'rope' ? this.ropeFor(maxPos + 1) : null;
    let x = op.embedding(this.p('model.embed_tokens.weight'), new Tensor(ids, [B, T], 'i32'));
    if (c.positions === 'learned') x = op.add(x, op.embedding(this.p('model.embed_positions.weight'), new Tensor(positions, [B, T], 'i32')));
    // a decode step with nothing to record runs each block as one kernel call (decodeLayer)
    const fuse = cache && T === 1 && !o.keyMask && !training && !isGradEnabled() && B <= 16;
    const dims = fuse ? Int32Array.of(B, c.dModel, H, Hkv, D, c.ffn, c.norm === 'rms' ? 0 : 1, c.mlp === 'swiglu' ? 0 : 1) : null;
    const lens = fuse ? Int32Array.from(slots!, (s) => cache!.lens[s]!) : null;
    for (let i = 0; i < c.nLayer; i++) {
      const L = `model.layers.${i}`;
      const block = fuse ? this.decodeWeights(L, ad) : null;
      if (block) {
        K().decodeLayer(x.f32, dims!, c.normEps, positions, rope?.cos ?? null, rope?.sin ?? null, block.weights, block.kinds,
          Array.from(slots!, (s) => cache!.k[i]![s]!), Array.from(slots!, (s) => cache!.v[i]![s]!), lens!, 1 / Math.sqrt(D));
        continue;
      }
      const h = this.norm(x, `${L}.input_layernorm`);
      const [qf, kf, vf] = this.projs(h, [`${L}.self_attn.q_proj`, `${L}.self_attn.k_proj`, `${L}.self_attn.v_proj`], training, ad);
      let q = op.reshape(qf!, [B, T, H, D]), k = op.reshape(kf!, [B, T, Hkv, D]);
      const v = op.reshape(vf!, [B, T, Hkv, D]);
      if (rope) { q = op.rope(q, positions, rope); k = op.rope(k, positions, rope); }
      const att = cache ? this.cachedAttention(q, k, v, cache, slots!, i, o.keyMask ?? null) : op.attention(q, k, v, { keyMask: o.keyMask ?? null, keyStart });
      x = op.add(x, this.proj(op.reshape(att, [B, T, H * D]), `${L}.self_attn.o_proj`, training, ad));
      const h2 = this.norm(x, `${L}.post_attention_layernorm`);
      const m = c.mlp === 'swiglu'
        ? op.swiglu(...(this.projs(h2, [`${L}.mlp.gate_proj`, `${L}.mlp.up_proj`], training, ad) as [Tensor, Tensor]))
        : op.gelu(this.proj(h2, `${L}.mlp.up_proj`, training, ad));
      x = op.add(x, this.proj(m, `${L}.mlp.down_proj`, training, ad));
    }
    if (slots) for (const s of slots) cache!.lens[s] = cache!.lens[s]! + T;
    if (o.rows && o.lastOnly) throw new Error('heed: forward takes rows or lastOnly, not both');
    // the final norm is per position, so selecting rows first gives the same values for less work
    if (o.lastOnly && T > 1) {
      const rows = Int32Array.from({ length: B }, (_, b) => b * T + T - 1);
      x = op.reshape(op.selectRows(op.reshape(x, [B * T, c.dModel]), rows), [B, 1, c.dModel]);
    }
    if (o.rows) x = op.selectRows(op.reshape(x, [B * T, c.dModel]), o.rows);
    return this.norm(x, 'model.norm');
  }

  /**
   * A block's weights as decodeLayer takes them, or null when the block needs the op-by-op path: an
   * adapter attached (and on), an NF4 base, or a tensor stored some other way than the kernel reads.
   */
  private decodeWeights(L: string, adapters: boolean): { weights: Array<Float32Array | Uint16Array | Uint8Array | null>; kinds: Int32Array } | null {
    const weights: Array<Float32Array | Uint16Array | Uint8Array | null> = [], kinds = new Int32Array(7).fill(-1);
    const f32 = (name: string, optional: boolean): boolean => {
      const t = this.params.get(name);
      if (!t) { weights.push(null); return optional; }
      if (isQ8(t) || t.dtype !== 'f32') return false;
      weights.push(t.data as Float32Array);
      return true;
    };
    const lin = (name: string, slot: number): boolean => {
      const wn = `${name}.weight`, t = this.params.get(wn);
      if (!t) { weights.push(null); return slot === 4 && this.cfg.mlp === 'gelu'; }   // GELU models have no gate_proj
      if (this.frozenNF4.has(wn) || (adapters && this.lora.has(wn))) return false;
      const kind = op.storageKind(t);
      if (kind < 0) return false;
      kinds[slot] = kind;
      weights.push(isQ8(t) ? (t as unknown as Q8Weight).blocks : (t.data as Float32Array | Uint16Array));
      return true;
    };
    const a = `${L}.self_attn`, m = `${L}.mlp`;
    const ok = f32(`${L}.input_layernorm.weight`, false) && f32(`${L}.input_layernorm.bias`, true)
      && lin(`${a}.q_proj`, 0) && lin(`${a}.k_proj`, 1) && lin(`${a}.v_proj`, 2)
      && f32(`${a}.q_proj.bias`, true) && f32(`${a}.k_proj.bias`, true) && f32(`${a}.v_proj.bias`, true)
      && lin(`${a}.o_proj`, 3) && f32(`${a}.o_proj.bias`, true)
      && f32(`${L}.post_attention_layernorm.weight`, false) && f32(`${L}.post_attention_layernorm.bias`, true)
      && lin(`${m}.gate_proj`, 4) && lin(`${m}.up_proj`, 5) && lin(`${m}.down_proj`, 6)
      && f32(`${m}.gate_proj.bias`, true) && f32(`${m}.up_proj.bias`, true) && f32(`${m}.down_proj.bias`, true);
    return ok ? { weights, kinds } : null;
  }

  /**
   * Writes this step's k, v into each row's cache slot and attends over everything that slot holds.
   * Each row is its own call on a zero-copy view of its slot, so rows may sit at different lengths.
   */
  private cachedAttention(q: Tensor, k: Tensor, v: Tensor, cache: KVCache, slots: Int32Array, layer: number, keyMask: Uint8Array | null): Tensor {
    const [B, T, H, D] = q.shape as [number, number, number, number], Hkv = this.cfg.nKvHead, step = Hkv * D;
    const out = new Float32Array(q.size);
    for (let b = 0; b < B; b++) {
      const s = slots[b]!, pos0 = cache.lens[s]!, Tk = pos0 + T, kc = cache.k[layer]![s]!, vc = cache.v[layer]![s]!;
      kc.set(k.f32.subarray(b * T * step, (b + 1) * T * step), pos0 * step);
      vc.set(v.f32.subarray(b * T * step, (b + 1) * T * step), pos0 * step);
      const qb = new Tensor(q.f32.subarray(b * T * H * D, (b + 1) * T * H * D), [1, T, H, D]);
      const kb = new Tensor(kc.subarray(0, Tk * step), [1, Tk, Hkv, D]);
      const vb = new Tensor(vc.subarray(0, Tk * step), [1, Tk, Hkv, D]);
      const mask = keyMask ? keyMask.subarray(s * cache.Tmax, s * cache.Tmax + Tk) : null;
      out.set(op.attention(qb, kb, vb, { qOffset: pos0, keyMask: mask }).f32, b * T * H * D);
    }
    return new Tensor(out, q.shape);
  }

  /** Number of parameters (base, counting NF4 weights). */
  numParams(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    for (const q of this.frozenNF4.values()) n += q.shape[0]! * q.shape[1]!;
    return n;
  }
}
