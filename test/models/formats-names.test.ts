// Canonical ↔ HF tensor names and layouts (GPT-2's fused Conv1D checked by value), and model
// folders read from the PyTorch-written fixtures and written back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromHF, PRESETS, type ModelConfig } from '../../src/models/config.js';
import { expectedShapes, fromHFTensors, toHFTensors } from '../../src/models/hf-names.js';
import { readSafetensors, toF32, type TensorData } from '../../src/models/safetensors.js';
import { readModelFolder, writeModelFolder } from '../../src/models/folder.js';
import { f32ToBf16 } from '../../src/core/dtype.js';

const FIX = 'test/fixtures/models';
const small = (c: ModelConfig, o: Partial<ModelConfig> = {}): ModelConfig => ({ ...c, vocabSize: 11, nLayer: 2, dModel: 6, nHead: 2, nKvHead: c.arch === 'gpt2' ? 2 : 1, ffn: 10, maxPositions: 5, ...o });

/** Canonical tensors whose every element is distinct, so any misplaced value shows. */
function distinct(cfg: ModelConfig, dtype: 'F32' | 'BF16' = 'F32'): Map<string, TensorData> {
  const m = new Map<string, TensorData>();
  let k = 0;
  for (const [name, shape] of expectedShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = new Float32Array(n).map(() => ++k);
    m.set(name, dtype === 'F32' ? { dtype, shape, data: f } : { dtype, shape, data: f32ToBf16(f) });
  }
  return m;
}

const vals = (t: TensorData) => Array.from(toF32(t));
const at = (t: TensorData, r: number, c: number) => toF32(t)[r * t.shape[1]! + c]!;

test('expectedShapes lists every parameter with its shape', () => {
  const g = expectedShapes(PRESETS.tiny);
  assert.equal(g.size, 2 + 4 * 16 + 2); // embeds, 16 per GPT-2 block, final norm (tied: no head)
  assert.deepEqual(g.get('model.embed_positions.weight'), [512, 256]);
  assert.deepEqual(g.get('model.layers.3.mlp.down_proj.bias'), [256]);
  const l = expectedShapes(PRESETS['smollm-135m']);
  assert.equal(l.size, 1 + 30 * 9 + 1);
  assert.deepEqual(l.get('model.layers.0.self_attn.k_proj.weight'), [192, 576]);
  assert.deepEqual(l.get('model.layers.0.self_attn.o_proj.weight'), [576, 576]);
  assert.deepEqual(l.get('model.layers.29.mlp.gate_proj.weight'), [1536, 576]);
  assert.equal(l.has('lm_head.weight'), false);
  assert.equal(l.has('model.layers.0.input_layernorm.bias'), false);
  assert.deepEqual(expectedShapes({ ...PRESETS['llama-tiny'], tiedEmbeddings: false }).get('lm_head.weight'), [4096, 256]);
  // the parameter count matches the known size of SmolLM-135M
  const count = [...l.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  assert.equal(count, 134_515_008);
});

test('GPT-2: q|k|v fused into Conv1D c_attn [d, 3d] and split back, values checked', () => {
  for (const dtype of ['F32', 'BF16'] as const) {
    const cfg = small(PRESETS.tiny);
    const d = cfg.dModel;
    const canon = distinct(cfg, dtype);
    const hf = toHFTensors(cfg, canon);
    const cAttn = hf.get('transformer.h.1.attn.c_attn.weight')!;
    assert.deepEqual(cAttn.shape, [d, 3 * d]);
    assert.equal(cAttn.dtype, dtype);
    const q = canon.get('model.layers.1.self_attn.q_proj.weight')!;
    const k = canon.get('model.layers.1.self_attn.k_proj.weight')!;
    const v = canon.get('model.layers.1.self_attn.v_proj.weight')!;
    for (let i = 0; i < d; i++) {
      for (let o = 0; o < d; o++) {
        // Conv1D: W[in, out]; Linear: W[out, in]
        assert.equal(at(cAttn, i, o), at(q, o, i));
        assert.equal(at(cAttn, i, d + o), at(k, o, i));
        assert.equal(at(cAttn, i, 2 * d + o), at(v, o, i));
      }
    }
    const bias = hf.get('transformer.h.1.attn.c_attn.bias')!;
    assert.deepEqual(vals(bias), [
      ...vals(canon.get('model.layers.1.self_attn.q_proj.bias')!),
      ...vals(canon.get('model.layers.1.self_attn.k_proj.bias')!),
      ...vals(canon.get('model.layers.1.self_attn.v_proj.bias')!),
    ]);
    const fc = hf.get('transformer.h.0.mlp.c_fc.weight')!;
    assert.deepEqual(fc.shape, [d, cfg.ffn]);
    assert.equal(at(fc, 2, 7), at(canon.get('model.layers.0.mlp.up_proj.weight')!, 7, 2));
    assert.deepEqual(hf.get('transformer.h.0.mlp.c_proj.weight')!.shape, [cfg.ffn, d]);
    assert.deepEqual(hf.get('transformer.h.0.attn.c_proj.weight')!.shape, [d, d]);
    assert.equal(hf.has('lm_head.weight'), false);
    assert.equal(hf.size, 2 + 2 * 12 + 2);
    const back = fromHFTensors(cfg, hf);
    assert.deepEqual([...back.keys()].sort(), [...canon.keys()].sort());
    for (const [name, t] of canon) {
      assert.deepEqual(back.get(name)!.shape, t.shape, name);
      assert.deepEqual(Array.from(back.get(name)!.data as Float32Array), Array.from(t.data as Float32Array), name);
    }
  }
});

test('GPT-2 reads the hub layout: no prefix, mask buffers skipped, tied head ignored', () => {
  const cfg = configFromHF(JSON.parse(readFileSync(`${FIX}/tiny-gpt2/config.json`, 'utf8')));
  const { tensors: hf } = readSafetensors(`${FIX}/tiny-gpt2/model.safetensors`);
  assert.ok(hf.has('h.0.attn.bias') && hf.has('wte.weight'));
  const canon = fromHFTensors(cfg, hf);
  assert.equal(canon.size, expectedShapes(cfg).size);
  const w = hf.get('h.0.attn.c_attn.weight')!; // [8, 24]
  const v = canon.get('model.layers.0.self_attn.v_proj.weight')!;
  assert.equal(at(v, 3, 5), at(w, 5, 16 + 3));
  const b = hf.get('h.0.attn.c_attn.bias')!;
  assert.deepEqual(vals(canon.get('model.layers.0.self_attn.k_proj.bias')!), vals(b).slice(8, 16));
  const down = canon.get('model.layers.1.mlp.down_proj.weight')!; // [8, 32] from c_proj [32, 8]
  assert.deepEqual(down.shape, [8, 32]);
  assert.equal(at(down, 6, 30), at(hf.get('h.1.mlp.c_proj.weight')!, 30, 6));
  // the same tensors with the GPT2LMHeadModel prefix and a redundant tied head read identically
  const prefixed = new Map<string, TensorData>([...hf].map(([n, t]) => [`transformer.${n}`, t]));
  prefixed.set('lm_head.weight', hf.get('wte.weight')!);
  const again = fromHFTensors(cfg, prefixed);
  for (const [n, t] of canon) assert.deepEqual(vals(again.get(n)!), vals(t), n);
});

test('missing, unexpected and misshapen tensors name the tensor and both shapes', () => {
  const cfg = small(PRESETS.tiny);
  const hf = toHFTensors(cfg, distinct(cfg));
  const drop = new Map(hf);
  drop.delete('transformer.h.1.mlp.c_fc.bias');
  assert.throws(() => fromHFTensors(cfg, drop, 'm.safetensors'), /^Error: m\.safetensors: missing tensor "h\.1\.mlp\.c_fc\.bias" \(expected shape \[10\]\)/);
  const extra = new Map(hf).set('transformer.h.0.attn.rotary', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
  assert.throws(() => fromHFTensors(cfg, extra, 'm'), /m: unexpected tensor "h\.0\.attn\.rotary" for this gpt2 config/);
  const wrong = new Map(hf).set('transformer.h.0.attn.c_attn.weight', { dtype: 'F32', shape: [18, 6], data: new Float32Array(108) });
  assert.throws(() => fromHFTensors(cfg, wrong, 'm'), /tensor "h\.0\.attn\.c_attn\.weight" has shape \[18, 6\], expected \[6, 18\]/);
  const both = new Map(hf).set('wte.weight', hf.get('transformer.wte.weight')!);
  assert.throws(() => fromHFTensors(cfg, both, 'm'), /"wte\.weight" appears both with and without/);

  const lcfg = small(PRESETS['llama-tiny']);
  const lhf = toHFTensors(lcfg, distinct(lcfg));
  const lwrong = new Map(lhf).set('model.layers.0.self_attn.k_proj.weight', { dtype: 'F32', shape: [6, 6], data: new Float32Array(36) });
  assert.throws(() => fromHFTensors(lcfg, lwrong, 'x'), /x: tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[6, 6\], expected \[3, 6\]/);
  const lmissing = new Map(lhf);
  lmissing.delete('model.norm.weight');
  assert.throws(() => fromHFTensors(lcfg, lmissing, 'x'), /missing tensor "model\.norm\.weight" \(expected shape \[6\]\)/);
  const lextra = new Map(lhf).set('model.layers.0.self_attn.q_proj.bias', { dtype: 'F32', shape: [6], data: new Float32Array(6) });
  assert.throws(() => fromHFTensors(lcfg, lextra, 'x'), /unexpected tensor "model\.layers\.0\.self_attn\.q_proj\.bias" for this llama config/);
  assert.throws(() => toHFTensors(lcfg, lmissing), /toHFTensors: missing tensor "model\.norm\.weight"/);
  // buffers old checkpoints carry, and a tied head saved anyway, are accepted
  const lok = new Map(lhf)
    .set('model.layers.1.self_attn.rotary_emb.inv_freq', { dtype: 'F32', shape: [1], data: new Float32Array(1) })
    .set('lm_head.weight', lhf.get('model.embed_tokens.weight')!);
  assert.equal(fromHFTensors(lcfg, lok).size, expectedShapes(lcfg).size);
});

test('model folders: the three fixtures read, with shards, BF16 and generation config', () => {
  const g = readModelFolder(`${FIX}/tiny-gpt2`);
  assert.equal(g.config.arch, 'gpt2');
  assert.deepEqual(g.generationConfig, { bos_token_id: 15, eos_token_id: 15 });
  assert.equal(g.tensors.size, expectedShapes(g.config).size);
  const l = readModelFolder(`${FIX}/tiny-llama`);
  assert.equal(l.generationConfig, null);
  assert.deepEqual(l.tensors.get('lm_head.weight')!.shape, [16, 8]);
  const q = readModelFolder(`${FIX}/tiny-qwen2`);
  assert.equal(q.tensors.get('model.layers.1.self_attn.q_proj.bias')!.dtype, 'BF16');
  assert.deepEqual(q.tensors.get('model.layers.1.self_attn.v_proj.bias')!.shape, [4]);
});

test('writeModelFolder → readModelFolder round-trips, F32 exact and BF16 rounded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-folder-'));
  try {
    const src = readModelFolder(`${FIX}/tiny-gpt2`);
    writeModelFolder(join(dir, 'f32'), src.config, src.tensors, { generationConfig: { max_new_tokens: 5 } });
    assert.deepEqual(readdirSync(join(dir, 'f32')).sort(), ['config.json', 'generation_config.json', 'model.safetensors']);
    const back = readModelFolder(join(dir, 'f32'));
    assert.deepEqual(back.config, src.config);
    assert.deepEqual(back.generationConfig, { max_new_tokens: 5 });
    for (const [n, t] of src.tensors) assert.deepEqual(vals(back.tensors.get(n)!), vals(t), n);
    const names = [...readSafetensors(join(dir, 'f32', 'model.safetensors')).tensors.keys()];
    assert.ok(names.every((n) => n.startsWith('transformer.')), 'GPT-2 written as GPT2LMHeadModel saves it');

    writeModelFolder(join(dir, 'bf16'), src.config, src.tensors, { dtype: 'BF16' });
    const cfgJson = JSON.parse(readFileSync(join(dir, 'bf16', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfgJson.torch_dtype, 'bfloat16');
    const gen = JSON.parse(readFileSync(join(dir, 'bf16', 'generation_config.json'), 'utf8')) as unknown;
    assert.deepEqual(gen, { bos_token_id: 15, eos_token_id: 15 });
    const b = readModelFolder(join(dir, 'bf16'));
    for (const [n, t] of src.tensors) {
      assert.equal(b.tensors.get(n)!.dtype, 'BF16');
      assert.deepEqual(Array.from(b.tensors.get(n)!.data as Uint16Array), Array.from(f32ToBf16(toF32(t))), n);
    }

    // BF16 weights written back as BF16 keep their exact bits (the qwen2 fixture is BF16)
    const q = readModelFolder(`${FIX}/tiny-qwen2`);
    writeModelFolder(join(dir, 'q'), q.config, q.tensors, { dtype: 'BF16' });
    const orig = readSafetensors(`${FIX}/tiny-qwen2/model.safetensors`).tensors;
    const mine = readSafetensors(join(dir, 'q', 'model.safetensors')).tensors;
    assert.deepEqual([...mine.keys()].sort(), [...orig.keys()].sort());
    for (const [n, t] of orig) assert.deepEqual(Array.from(mine.get(n)!.data as Uint16Array), Array.from(t.data as Uint16Array), n);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
