// GGUF files heed writes, checked against things that are not heed: q8_0 and f16 bytes against
// llama.cpp's converter library (gguf-py fixtures), and every file read back by @huggingface/gguf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import { encodeTensor, quantizeQ8_0 } from '../../src/models/gguf.js';
import { ggufTensorName, llamaCppPreTokenizer, permuteRope, writeGgufAdapter, writeGgufModel } from '../../src/models/gguf-export.js';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel, loadModel } from '../../src/models/load.js';
import { GPT2_PATTERN, QWEN2_PATTERN, WORDS_PATTERN, heedTokenizerJSON } from '../../src/tokenizer/index.js';
import type { Arch } from '../../src/models/config.js';
import { loadNative } from '../../src/kernels/native.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import { corpusTokens, SHAPES, tmp } from './helpers.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'gguf');
const bytes = (name: string) => new Uint8Array(readFileSync(join(fixtures, name)));
const input = () => { const b = readFileSync(join(fixtures, 'input.f32')); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice(); };

loadNative();
const backends = ['ref', ...(nativeKernels() ? ['native'] : [])] as const;
if (process.env.HEED_REQUIRE_NATIVE === '1' && backends.length < 2) throw new Error('HEED_REQUIRE_NATIVE=1 but the native addon did not load');
for (const backend of backends) {
  const on = <T>(f: () => T): T => { const prev = useBackend(backend); try { return f(); } finally { useBackend(prev as 'ref' | 'native'); } };
  test(`${backend}: q8_0 blocks are byte-identical to gguf-py (ggml-quants.c reference): f16 scale, roundf ties away from zero, zero blocks`, () => {
    assert.deepEqual(on(() => quantizeQ8_0(input())), bytes('input.q8_0'));
  });

  test(`${backend}: f16 tensors are byte-identical to numpy float16 (round to nearest even)`, () => {
    assert.deepEqual(on(() => encodeTensor(input(), 'f16')), bytes('input.f16'));
  });
}

test('q8_0 refuses a length that is not whole blocks of 32', () => {
  assert.throws(() => quantizeQ8_0(new Float32Array(48)), /48 values are not a whole number of blocks of 32/);
});

test('RoPE permutation interleaves each head\'s halves as convert_hf_to_gguf.py does', () => {
  // 2 heads of D = 4, one column: HF rows [a0 a1 b0 b1 | c0 c1 d0 d1] → [a0 b0 a1 b1 | c0 d0 c1 d1]
  const w = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(Array.from(permuteRope(w, 8, 2)), [0, 2, 1, 3, 4, 6, 5, 7]);
});

test('tensor names follow llama.cpp', () => {
  assert.equal(ggufTensorName('model.embed_tokens.weight'), 'token_embd.weight');
  assert.equal(ggufTensorName('model.layers.3.self_attn.o_proj.weight'), 'blk.3.attn_output.weight');
  assert.equal(ggufTensorName('model.layers.0.post_attention_layernorm.bias'), 'blk.0.ffn_norm.bias');
  assert.equal(ggufTensorName('lm_head.weight'), 'output.weight');
  assert.equal(ggufTensorName('model.layers.0.mlp.router.weight'), null);
});

test('pre-tokenizer: Qwen2, Llama 3 and GPT-2 patterns map to llama.cpp names; the split-spaces pattern is refused', () => {
  const with_ = (p: string) => heedTokenizerJSON(['a'], [], [], p);
  assert.equal(llamaCppPreTokenizer(with_(QWEN2_PATTERN)), 'qwen2');
  assert.equal(llamaCppPreTokenizer(with_(GPT2_PATTERN)), 'gpt-2');
  assert.equal(llamaCppPreTokenizer({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false } }), 'gpt-2');
  assert.equal(llamaCppPreTokenizer({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', add_prefix_space: false }] } }), 'smollm');
  assert.throws(() => llamaCppPreTokenizer(with_(WORDS_PATTERN), 'tok/tokenizer.json'), /tok\/tokenizer\.json: no llama\.cpp pre-tokenizer .*split-spaces/);
  assert.throws(() => llamaCppPreTokenizer(with_('\\w+')), /no llama\.cpp pre-tokenizer/);
  assert.throws(() => llamaCppPreTokenizer({ ...with_(QWEN2_PATTERN), normalizer: { type: 'Lowercase' } }), /normalizer "Lowercase"/);
  assert.throws(() => llamaCppPreTokenizer({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true } }), /no llama\.cpp pre-tokenizer/);
});

function folder(arch: Arch): string {
  const { tok } = corpusTokens();
  const dir = tmp(`gguf-${arch}`);
  saveModel(dir, Transformer.init({ ...SHAPES[arch], eosTokenId: tok.tokenToId('<|endoftext|>')! }, 7), tok);
  return dir;
}

const DTYPE = { f32: GGMLQuantizationType.F32, f16: GGMLQuantizationType.F16, bf16: GGMLQuantizationType.BF16, q8_0: GGMLQuantizationType.Q8_0 } as const;

for (const arch of ['llama', 'qwen2', 'gpt2'] as const) {
  test(`@huggingface/gguf reads back ${arch} models in f32, f16, bf16 and q8_0: metadata, tensor shapes, types and data`, async () => {
    const m = loadModel(folder(arch)), cfg = m.model.cfg, out = tmp('gguf-out');
    for (const type of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
      const path = join(out, `${type}.gguf`);
      writeGgufModel(path, m.model, m.tok, { type, name: 'test' });
      const r = await gguf(path, { allowLocalFile: true });
      const md = r.metadata as Record<string, unknown>;
      assert.equal(md['general.architecture'], arch);
      assert.equal(md[`${arch}.block_count`], cfg.nLayer);
      assert.equal(md[`${arch}.embedding_length`], cfg.dModel);
      assert.equal(md[`${arch}.attention.head_count_kv`], cfg.nKvHead);
      assert.equal(md['tokenizer.ggml.model'], 'gpt2');
      assert.equal(md['tokenizer.ggml.pre'], 'qwen2');
      const tokens = md['tokenizer.ggml.tokens'] as string[];
      assert.equal(tokens.length, cfg.vocabSize);
      assert.equal(tokens[m.tok.tokenizer.tokenToId('<|im_end|>')!], '<|im_end|>');
      assert.equal((md['tokenizer.ggml.token_type'] as number[])[m.tok.tokenizer.tokenToId('<|im_end|>')!], 3);
      assert.equal(md['tokenizer.ggml.eos_token_id'], m.tok.eosTokenId);
      assert.equal(md['tokenizer.chat_template'], m.tok.chatTemplate!.source);
      const infos = new Map(r.tensorInfos.map((t) => [t.name, t]));
      const fused = arch === 'gpt2' ? cfg.nLayer * 2 * 2 : 0; // per layer q/k/v weight+bias → one attn_qkv weight+bias
      assert.equal(r.tensorInfos.length, m.model.params.size - fused);
      const emb = infos.get('token_embd.weight')!;
      assert.deepEqual(emb.shape.map(Number), [cfg.dModel, cfg.vocabSize]); // ggml order: ne[0] is the row length
      assert.equal(emb.dtype, DTYPE[type]);
      assert.equal(infos.get('blk.1.attn_norm.weight')!.dtype, GGMLQuantizationType.F32);
      if (arch === 'gpt2') {
        assert.deepEqual(infos.get('blk.0.attn_qkv.weight')!.shape.map(Number), [cfg.dModel, 3 * cfg.dModel]);
        assert.equal(infos.get('position_embd.weight')!.dtype, GGMLQuantizationType.F32);
      }
      assert.equal(infos.has('output.weight'), !cfg.tiedEmbeddings);
      if (type === 'f32') {
        // the data region: token embeddings as written, v_proj unpermuted, norm weights
        const file = readFileSync(path), at = (name: string) => Number(r.tensorDataOffset + infos.get(name)!.offset);
        const read = (name: string, n: number) => new Float32Array(file.buffer.slice(file.byteOffset + at(name), file.byteOffset + at(name) + 4 * n));
        assert.deepEqual(read('token_embd.weight', cfg.vocabSize * cfg.dModel), m.model.params.get('model.embed_tokens.weight')!.f32);
        if (arch !== 'gpt2') assert.deepEqual(read('blk.1.attn_v.weight', cfg.nKvHead * 16 * cfg.dModel), m.model.params.get('model.layers.1.self_attn.v_proj.weight')!.f32);
        assert.deepEqual(read('output_norm.weight', cfg.dModel), m.model.params.get('model.norm.weight')!.f32);
      }
    }
  });
}

test('@huggingface/gguf reads back a LoRA adapter: general.type adapter, alpha = scale·r, lora_a [r, in] and lora_b [out, r]', async () => {
  const m = loadModel(folder('llama'));
  m.model.addLora({ r: 4, alpha: 6, dropout: 0, targetModules: ['q_proj', 'v_proj'], rslora: false }, 0);
  const path = join(tmp('adapter'), 'a.gguf');
  writeGgufAdapter(path, m.model, { type: 'f32' });
  const r = await gguf(path, { allowLocalFile: true });
  const md = r.metadata as Record<string, unknown>;
  assert.equal(md['general.type'], 'adapter');
  assert.equal(md['adapter.type'], 'lora');
  assert.equal(md['adapter.lora.alpha'], 6);
  const infos = new Map(r.tensorInfos.map((t) => [t.name, t]));
  assert.equal(r.tensorInfos.length, 2 * 2 * SHAPES.llama.nLayer);
  assert.deepEqual(infos.get('blk.0.attn_q.weight.lora_a')!.shape.map(Number), [SHAPES.llama.dModel, 4]);
  assert.deepEqual(infos.get('blk.1.attn_v.weight.lora_b')!.shape.map(Number), [4, SHAPES.llama.nKvHead * 16]);
  // rsLoRA scales by alpha/√r; llama.cpp divides by r, so the file's alpha is alpha·√r
  const q = loadModel(folder('llama'));
  q.model.addLora({ r: 4, alpha: 6, dropout: 0, targetModules: ['q_proj'], rslora: true }, 0);
  writeGgufAdapter(path, q.model, { type: 'f32' });
  assert.equal(((await gguf(path, { allowLocalFile: true })).metadata as Record<string, unknown>)['adapter.lora.alpha'], 12);
});
