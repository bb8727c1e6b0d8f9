// HF config.json ↔ ModelConfig: presets, fixtures, round trips, and clear errors for keys heed
// does not understand or values it does not implement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configFromHF, configProblem, configToHF, PRESETS, type ModelConfig } from '../../src/models/config.js';

const FIX = 'test/fixtures/models';
const fixture = (name: string) => JSON.parse(readFileSync(`${FIX}/${name}/config.json`, 'utf8')) as Record<string, unknown>;

test('presets have the shapes of the PyTorch yardstick', () => {
  const shape = (c: ModelConfig) => [c.arch, c.vocabSize, c.nLayer, c.dModel, c.nHead, c.nKvHead, c.ffn, c.maxPositions];
  assert.deepEqual(shape(PRESETS.tiny), ['gpt2', 4096, 4, 256, 4, 4, 1024, 512]);
  assert.deepEqual(shape(PRESETS.gpt2), ['gpt2', 50257, 12, 768, 12, 12, 3072, 1024]);
  assert.deepEqual(shape(PRESETS['llama-tiny']), ['llama', 4096, 4, 256, 4, 2, 688, 2048]);
  assert.deepEqual(shape(PRESETS['smollm-135m']), ['llama', 49152, 30, 576, 9, 3, 1536, 2048]);
  for (const p of [PRESETS.tiny, PRESETS.gpt2]) {
    assert.equal(p.normEps, 1e-5);
    assert.ok(p.tiedEmbeddings && p.qkvBias && p.oBias && p.mlpBias && p.normBias);
    assert.equal(p.norm, 'layer');
  }
  for (const p of [PRESETS['llama-tiny'], PRESETS['smollm-135m']]) {
    assert.equal(p.normEps, 1e-5);
    assert.equal(p.ropeTheta, 10000);
    assert.ok(p.tiedEmbeddings && !p.qkvBias && !p.oBias && !p.mlpBias && !p.normBias);
    assert.equal(p.mlp, 'swiglu');
  }
});

test('every preset round-trips through config.json', () => {
  for (const [name, p] of Object.entries(PRESETS)) {
    assert.equal(configProblem(p), null, name);
    const hf = configToHF(p);
    assert.deepEqual(configFromHF(JSON.parse(JSON.stringify(hf))), p, name);
  }
  const bf = configToHF(PRESETS['smollm-135m'], { dtype: 'BF16' });
  assert.equal(bf.torch_dtype, 'bfloat16');
  assert.deepEqual(bf.architectures, ['LlamaForCausalLM']);
  assert.equal(bf.num_key_value_heads, 3);
  assert.equal(bf.tie_word_embeddings, true);
  const g = configToHF(PRESETS.gpt2);
  assert.deepEqual(g.architectures, ['GPT2LMHeadModel']);
  assert.equal(g.n_inner, 3072);
  assert.equal(g.torch_dtype, 'float32');
  assert.equal(g.activation_function, 'gelu_new');
});

test('qwen2 and untied/biased llama configs round-trip', () => {
  const q: ModelConfig = { ...PRESETS['llama-tiny'], arch: 'qwen2', qkvBias: true, tiedEmbeddings: false, padTokenId: 3, ropeTheta: 1e6 };
  const hf = configToHF(q);
  assert.deepEqual(hf.architectures, ['Qwen2ForCausalLM']);
  assert.equal(hf.use_sliding_window, false);
  assert.deepEqual(configFromHF(hf), q);
  const l: ModelConfig = { ...PRESETS['llama-tiny'], qkvBias: true, oBias: true, mlpBias: true, tiedEmbeddings: false };
  assert.deepEqual(configFromHF(configToHF(l)), l);
});

test('fixture configs map to the right switches', () => {
  const g = configFromHF(fixture('tiny-gpt2'));
  assert.deepEqual(
    { ...g },
    { arch: 'gpt2', vocabSize: 16, nLayer: 2, dModel: 8, nHead: 2, nKvHead: 2, ffn: 32, maxPositions: 8, norm: 'layer', normEps: 1e-5,
      positions: 'learned', ropeTheta: 10000, mlp: 'gelu', qkvBias: true, oBias: true, mlpBias: true, normBias: true,
      tiedEmbeddings: true, bosTokenId: 15, eosTokenId: 15, initStd: 0.02 },
  );
  const l = configFromHF(fixture('tiny-llama'));
  assert.equal(l.nKvHead, 1);
  assert.equal(l.ffn, 12);
  assert.equal(l.normEps, 1e-6);
  assert.equal(l.maxPositions, 32);
  assert.equal(l.tiedEmbeddings, false);
  assert.equal(l.qkvBias, false);
  const q = configFromHF(fixture('tiny-qwen2'));
  assert.equal(q.arch, 'qwen2');
  assert.ok(q.qkvBias && !q.oBias && !q.mlpBias && q.tiedEmbeddings);
});

test('defaults follow transformers when optional keys are absent', () => {
  const l = configFromHF({ model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
  assert.equal(l.nKvHead, 2);
  assert.equal(l.normEps, 1e-6);
  assert.equal(l.maxPositions, 2048);
  assert.equal(l.tiedEmbeddings, false);
  assert.equal(l.bosTokenId, null);
  const g = configFromHF({ model_type: 'gpt2', vocab_size: 10, n_embd: 8, n_layer: 1, n_head: 2 });
  assert.equal(g.ffn, 32);
  assert.equal(g.maxPositions, 1024);
  assert.equal(g.tiedEmbeddings, true);
  // Llama 3 style: a list of eos ids resolves to the first
  assert.equal(configFromHF({ ...configToHF(PRESETS['llama-tiny']), eos_token_id: [7, 9] }).eosTokenId, 7);
});

test('unsupported or unknown keys fail naming the file and the key', () => {
  const llama = configToHF(PRESETS['llama-tiny']);
  const gpt2 = configToHF(PRESETS.tiny);
  const qwen = configToHF({ ...PRESETS['llama-tiny'], arch: 'qwen2', qkvBias: true });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...llama, rope_scaling: { type: 'linear', factor: 2 } }, /"rope_scaling" = .* is not supported/],
    [{ ...llama, hidden_act: 'gelu' }, /"hidden_act" = "gelu" is not supported/],
    [{ ...llama, sliding_window: 128 }, /"sliding_window" is not a llama config key/],
    [{ ...llama, partial_rotary_factor: 0.5 }, /"partial_rotary_factor" is not a llama config key/],
    [{ ...llama, head_dim: 128 }, /"head_dim" = 128 is not supported/],
    [{ ...llama, model_type: 'mistral' }, /"model_type" = "mistral" is not supported/],
    [{ ...llama, num_attention_heads: 3, head_dim: undefined }, /"num_attention_heads" = 3 does not divide "hidden_size" = 256/],
    [{ ...llama, num_key_value_heads: 3 }, /"num_key_value_heads" = 3 does not divide "num_attention_heads" = 4/],
    [{ ...llama, hidden_size: 12, num_attention_heads: 4, head_dim: undefined }, /"hidden_size" \/ "num_attention_heads" = 3 is odd; RoPE needs an even head dimension/],
    [{ ...gpt2, n_head: 3 }, /"n_head" = 3 does not divide "n_embd" = 256/],
    [{ ...llama, vocab_size: 1.5 }, /"vocab_size" must be an integer/],
    [{ ...llama, hidden_size: -256 }, /"hidden_size" must be an integer ≥ 1, got -256/],
    [{ ...llama, num_hidden_layers: 0 }, /"num_hidden_layers" must be an integer ≥ 1, got 0/],
    [{ ...llama, intermediate_size: '688' }, /"intermediate_size" must be an integer ≥ 1, got "688"/],
    [{ ...llama, max_position_embeddings: 1e300 }, /"max_position_embeddings" must be an integer ≥ 1/],
    [{ ...llama, rms_norm_eps: -1e-5 }, /"rms_norm_eps" must be a positive number/],
    [{ ...llama, rope_theta: 0 }, /"rope_theta" must be a positive number/],
    [{ ...llama, tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/],
    [{ ...llama, eos_token_id: -1 }, /"eos_token_id" must be a token id/],
    [Object.fromEntries(Object.entries(llama).filter(([k]) => k !== 'hidden_size')), /"hidden_size" is required but missing/],
    [Object.fromEntries(Object.entries(llama).filter(([k]) => k !== 'model_type')), /"model_type" is required but missing/],
    [{ ...gpt2, activation_function: 'relu' }, /"activation_function" = "relu" is not supported/],
    [{ ...gpt2, scale_attn_by_inverse_layer_idx: true }, /"scale_attn_by_inverse_layer_idx" = true/],
    [{ ...gpt2, add_cross_attention: true }, /"add_cross_attention" = true/],
    [{ ...gpt2, num_attention_heads: 4 }, /"num_attention_heads" is not a gpt2 config key/],
    [{ ...gpt2, n_ctx: 99 }, /"n_ctx" = 99 differs from n_positions 512/],
    [{ ...qwen, use_sliding_window: true }, /"use_sliding_window" = true is not supported/],
    [{ ...qwen, layer_types: ['sliding_attention'] }, /"layer_types" must list only "full_attention"/],
    [{ ...qwen, mlp_bias: true }, /"mlp_bias" is not a qwen2 config key/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => configFromHF(json, '/models/x/config.json'), (e: Error) => {
      assert.match(e.message, /^\/models\/x\/config\.json: /);
      assert.match(e.message, re);
      return true;
    }, re.source);
  }
  // harmless keys pass
  const ok = { ...llama, transformers_version: '4.44', architectures: ['LlamaForCausalLM'], use_cache: false, attention_dropout: 0.1,
    is_llama_config: true, rope_interleaved: false, _name_or_path: 'x', pad_token_id: null };
  assert.equal(configFromHF(ok).dModel, 256);
  assert.throws(() => configFromHF([1]), /config\.json: not a JSON object/);
});

test('configToHF refuses configs the HF family cannot express', () => {
  assert.throws(() => configToHF({ ...PRESETS.tiny, norm: 'rms' }), /gpt2 models need norm = "layer"/);
  assert.throws(() => configToHF({ ...PRESETS['llama-tiny'], qkvBias: true }), /llama models need oBias = true/);
  assert.throws(() => configToHF({ ...PRESETS['llama-tiny'], arch: 'qwen2' }), /qwen2 models need qkvBias = true/);
  assert.throws(() => configToHF({ ...PRESETS.tiny, nKvHead: 2 }), /gpt2 models need nKvHead = 4/);
});
