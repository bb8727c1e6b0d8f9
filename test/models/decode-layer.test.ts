// A decode step runs each transformer block as one kernel call (decodeLayer) when nothing is
// recorded; it must give the logits and KV cache of the op-by-op path (which the golden tests hold to
// PyTorch) for both block kinds (GPT-2: LayerNorm, learned positions, GELU, biases; Llama: RMSNorm,
// RoPE, SwiGLU, grouped KV heads), every storage kind the kernel reads, rows at different cache
// lengths, and on both backends. The op-by-op path is what a step with gradients on takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../../src/kernels/native.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import { noGrad } from '../../src/core/autograd.js';
import { f32ToBf16, f32ToF16 } from '../../src/core/dtype.js';
import { isQ8, q8Weight } from '../../src/core/q8.js';
import { storeWeights } from '../../src/models/stored.js';
import { Tensor } from '../../src/core/tensor.js';
import { PRESETS, type ModelConfig } from '../../src/models/config.js';
import { KVCache, Transformer } from '../../src/models/transformer.js';

loadNative();
const backends = nativeKernels() ? ['ref', 'native'] as const : ['ref'] as const;

const configs: Record<string, ModelConfig> = {
  gpt2: { ...PRESETS.tiny, vocabSize: 61, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 4, ffn: 96, maxPositions: 32 },
  llama: { ...PRESETS['llama-tiny'], vocabSize: 61, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 96, maxPositions: 32 },
};

/** The model with its block linears stored as `kind` (what decoding from a GGUF or a q8_0 export reads). */
function stored(m: Transformer, kind: string): Transformer {
  if (kind === 'f32') return m;
  const params = new Map(m.params);
  for (const [name, t] of params) {
    if (!/_proj\.weight$/.test(name)) continue;
    params.set(name, kind === 'q8_0' ? (q8Weight(t.f32, t.shape) as unknown as Tensor)
      : new Tensor(kind === 'f16' ? f32ToF16(t.f32) : f32ToBf16(t.f32), t.shape, kind as 'f16' | 'bf16'));
  }
  return new Transformer(m.cfg, params);
}

for (const backend of backends) {
  for (const [arch, cfg] of Object.entries(configs)) {
    test(`${backend}: a fused decode step equals the op-by-op step (${arch}; f32, f16, bf16, q8_0; rows at different lengths)`, () => {
      const prev = useBackend(backend);
      try {
        const base = Transformer.init(cfg, 3);
        // non-trivial norms and biases, so every term of the block is exercised
        for (const [name, t] of base.params) if (/norm|bias/.test(name)) t.f32.forEach((_, i, a) => { a[i] = (name.endsWith('bias') ? 0 : 1) + 0.1 * Math.sin(i + name.length); });
        for (const kind of ['f32', 'f16', 'bf16', 'q8_0']) {
          const m = stored(base, kind), B = 3;
          const fused = new KVCache(cfg, B, cfg.maxPositions), plain = new KVCache(cfg, B, cfg.maxPositions);
          // prompts of 2, 5 and 3 tokens, each in its own slot
          [[1, 2], [3, 4, 5, 6, 7], [8, 9, 10]].forEach((p, s) => {
            for (const c of [fused, plain]) noGrad(() => m.forward(Int32Array.from(p), 1, p.length, { cache: c, slots: Int32Array.of(s) }));
          });
          let ids = Int32Array.of(11, 12, 13);
          for (let step = 0; step < 4; step++) {
            const slots = step % 2 ? Int32Array.of(2, 0, 1) : Int32Array.of(0, 1, 2);
            const a = noGrad(() => m.forward(ids, B, 1, { cache: fused, slots, lastOnly: true })).logits.f32;
            const b = m.forward(ids, B, 1, { cache: plain, slots, lastOnly: true }).logits.f32;   // gradients on: op by op
            let scale = 0;
            for (const v of b) scale = Math.max(scale, Math.abs(v));
            a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 2e-5 * scale, `${kind} step ${step} logit ${i}: ${v} vs ${b[i]}`));
            for (let l = 0; l < cfg.nLayer; l++) for (let s = 0; s < B; s++) {
              const n = fused.lens[s]! * cfg.nKvHead * (cfg.dModel / cfg.nHead);
              assert.deepEqual(fused.lens[s], plain.lens[s]);
              fused.k[l]![s]!.subarray(0, n).forEach((v, i) => assert.ok(Math.abs(v - plain.k[l]![s]![i]!) <= 1e-5 * (1 + Math.abs(v)), `${kind} k cache layer ${l} slot ${s}`));
              fused.v[l]![s]!.subarray(0, n).forEach((v, i) => assert.ok(Math.abs(v - plain.v[l]![s]![i]!) <= 1e-5 * (1 + Math.abs(v)), `${kind} v cache layer ${l} slot ${s}`));
            }
            ids = Int32Array.from(ids, (t) => (t * 7 + step) % cfg.vocabSize);
          }
        }
      } finally { useBackend(prev as 'ref' | 'native'); }
    });
  }
}

test('a block with a LoRA adapter on takes the op-by-op path, and with adapters off the fused one, each equal to its reference', () => {
  const cfg = configs.llama!, m = Transformer.init(cfg, 5);
  m.addLora({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], rslora: false }, 1);
  for (const l of m.lora.values()) l.B.f32.forEach((_, i, a) => { a[i] = 0.05 * Math.cos(i); });
  for (const adapters of [true, false]) {
    const c1 = new KVCache(cfg, 1, cfg.maxPositions), c2 = new KVCache(cfg, 1, cfg.maxPositions);
    for (const c of [c1, c2]) noGrad(() => m.forward(Int32Array.of(1, 2, 3), 1, 3, { cache: c, adapters }));
    const a = noGrad(() => m.forward(Int32Array.of(4), 1, 1, { cache: c1, adapters })).logits.f32;
    const b = m.forward(Int32Array.of(4), 1, 1, { cache: c2, adapters }).logits.f32;
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-5 * (1 + Math.abs(b[i]!)), `adapters ${adapters} logit ${i}`));
  }
});

test('q8_0 storage holds a linear whose input width is not a multiple of 32 as f16 (and says which); the fused step still equals the op-by-op one', () => {
  const cfg = { ...configs.llama!, ffn: 80 }, m = Transformer.init(cfg, 9), fell: string[] = [];
  const s = storeWeights(m, 'q8_0', (name) => fell.push(name));
  assert.deepEqual(fell, ['model.layers.0.mlp.down_proj.weight', 'model.layers.1.mlp.down_proj.weight']);
  assert.equal((s.params.get('model.layers.0.mlp.down_proj.weight') as Tensor).dtype, 'f16');
  assert.ok(isQ8(s.params.get('model.layers.0.mlp.up_proj.weight')));
  const c1 = new KVCache(cfg, 1, cfg.maxPositions), c2 = new KVCache(cfg, 1, cfg.maxPositions);
  for (const c of [c1, c2]) noGrad(() => s.forward(Int32Array.of(1, 2, 3), 1, 3, { cache: c }));
  const a = noGrad(() => s.forward(Int32Array.of(4), 1, 1, { cache: c1 })).logits.f32, b = s.forward(Int32Array.of(4), 1, 1, { cache: c2 }).logits.f32;
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-5 * (1 + Math.abs(b[i]!)), `logit ${i}: ${v} vs ${b[i]}`));
});
