// `heed export --to trl|axolotl`: the data and heed's recipe under the keys TRL, PEFT and Axolotl
// define (read from their sources into test/fixtures/export/upstream-keys.json), the assistant-only
// training template marks exactly what heed trains on; and a PEFT adapter written the way PEFT
// writes one comes back into heed (log-probabilities, merged export, GGUF adapter).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gguf } from '@huggingface/gguf';
import { Transformer } from '../../src/models/transformer.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { writeSafetensors, type TensorData } from '../../src/models/safetensors.js';
import { f32ToBf16, bf16ToF32 } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { noGrad } from '../../src/core/autograd.js';
import { tokenLogprobs } from '../../src/core/ops.js';
import { ChatTemplate, renderConversation } from '../../src/tokenizer/index.js';
import { CHATML_TRAINING_TEMPLATE } from '../../src/export/trainers.js';
import { corpusTokens, SHAPES, tmp } from './helpers.js';

const heed = (...args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });
const STACK = /\n\s+at .*:\d+:\d+/;
const upstream = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'export', 'upstream-keys.json'), 'utf8')) as Record<string, string[]>;
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const jsonl = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

const CONVS = [
  [{ role: 'user', content: 'What is 2 + 3?' }, { role: 'assistant', content: '5' }],
  [{ role: 'system', content: 'Answer in one word.' }, { role: 'user', content: 'Capital of France?' }, { role: 'assistant', content: 'Paris' }, { role: 'user', content: 'And Italy?' }, { role: 'assistant', content: 'Rome' }],
];
const PREFS = [{ prompt: [{ role: 'user', content: 'Say hi' }], chosen: [{ role: 'assistant', content: 'Hi!' }], rejected: [{ role: 'assistant', content: 'No.' }] }];
const RECIPE = {
  stage: 'sft', method: 'lora', lora: { r: 12, alpha: 24, dropout: 0.05, targetModules: ['q_proj', 'v_proj', 'down_proj'], rslora: true },
  data: '', valData: '', skipBadLines: false, trainPerFamily: 10, evalPerFamily: 2, seqLen: 384, pack: true, batchSize: 6, gradAccum: 3,
  lr: 0.0007, weightDecay: 0.01, steps: 0, epochs: 3, warmupRatio: 0.08, evalEvery: 150, seed: 11,
};

const root = tmp('trainers');
let model: string, recipe: string, prefs: string;

before(() => {
  const { tok } = corpusTokens();
  model = join(root, 'model');
  saveModel(model, Transformer.init({ ...SHAPES.llama, eosTokenId: tok.tokenToId('<|endoftext|>')! }, 3), tok);
  writeFileSync(join(root, 'train.jsonl'), CONVS.map((m) => JSON.stringify({ messages: m })).join('\n') + '\n');
  writeFileSync(join(root, 'val.jsonl'), JSON.stringify({ messages: CONVS[0] }) + '\n');
  prefs = join(root, 'prefs.jsonl');
  writeFileSync(prefs, PREFS.map((p) => JSON.stringify(p)).join('\n') + '\n');
  recipe = join(root, 'recipe.json');
  writeFileSync(recipe, JSON.stringify({ ...RECIPE, data: join(root, 'train.jsonl'), valData: join(root, 'val.jsonl') }));
});

function keysOf(obj: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(obj)) assert.ok(allowed.includes(k), `${what} has no key '${k}'`);
}

test('--to trl: SFT/DPO/Reward configs and LoraConfig hold the recipe under TRL\'s, transformers\' and PEFT\'s keys; data as messages and preference JSONL', () => {
  const out = join(root, 'trl');
  const r = heed('export', '--model', model, '--to', 'trl', '--recipe', recipe, '--preferences', prefs, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['chat_template.jinja', 'data', 'dpo_config.json', 'heed_export.json', 'lora_config.json', 'reward_config.json', 'sft_config.json', 'train_dpo.py', 'train_reward.py', 'train_sft.py']);
  const sft = json(join(out, 'sft_config.json'));
  keysOf(sft, [...upstream.SFTConfig!, ...upstream.TrainingArguments!], 'SFTConfig');
  assert.deepEqual(
    [sft.learning_rate, sft.per_device_train_batch_size, sft.gradient_accumulation_steps, sft.num_train_epochs, sft.warmup_steps, sft.weight_decay, sft.max_length, sft.seed, sft.eval_steps],
    [0.0007, 6, 3, 3, 0.08, 0.01, 384, 11, 150]);
  assert.equal(sft.lr_scheduler_type, 'cosine_with_min_lr');
  assert.deepEqual(sft.lr_scheduler_kwargs, { min_lr_rate: 0.1 });
  assert.equal(sft.packing, true);
  assert.equal(sft.assistant_only_loss, true);
  assert.equal(sft.chat_template_path, 'chat_template.jinja');
  assert.equal('max_steps' in sft, false, 'steps 0 = epochs');
  assert.deepEqual([sft.adam_beta1, sft.adam_beta2, sft.max_grad_norm], [0.9, 0.999, 1]);
  const lora = json(join(out, 'lora_config.json'));
  keysOf(lora, upstream.LoraConfig!, 'LoraConfig');
  assert.deepEqual(lora, { r: 12, lora_alpha: 24, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj', 'down_proj'], use_rslora: true, bias: 'none', task_type: 'CAUSAL_LM' });
  const dpo = json(join(out, 'dpo_config.json')), reward = json(join(out, 'reward_config.json'));
  keysOf(dpo, [...upstream.DPOConfig!, ...upstream.TrainingArguments!], 'DPOConfig');
  keysOf(reward, [...upstream.RewardConfig!, ...upstream.TrainingArguments!], 'RewardConfig');
  assert.equal(dpo.beta, 0.1);
  assert.equal(reward.max_length, 384);
  assert.deepEqual(jsonl(join(out, 'data', 'train.jsonl')), CONVS.map((messages) => ({ messages })));
  assert.deepEqual(jsonl(join(out, 'data', 'validation.jsonl')), [{ messages: CONVS[0] }]);
  assert.deepEqual(jsonl(join(out, 'data', 'preferences.jsonl')), PREFS);
  const script = readFileSync(join(out, 'train_sft.py'), 'utf8');
  assert.match(script, /from trl import SFTConfig, SFTTrainer/);
  assert.match(script, /peft_config=LoraConfig\(\*\*json\.load\(open\("lora_config\.json"\)\)\)/);
});

test('the TRL training template marks exactly the tokens heed trains on (assistant replies and their <|im_end|>)', () => {
  const tok = loadModel(model).tok;
  // the template with {% generation %} markers turned into sentinels; without them it is heed's ChatML
  const marked = new ChatTemplate(CHATML_TRAINING_TEMPLATE.replace('{% generation %}', "{{ '\\u0001' }}").replace('{% endgeneration %}', "{{ '\\u0002' }}"));
  const plain = new ChatTemplate(CHATML_TRAINING_TEMPLATE.replace('{% generation %}', '').replace('{% endgeneration %}', ''));
  for (const conv of CONVS) {
    assert.equal(plain.render(conv), tok.chatTemplate!.render(conv));
    const spans = [...marked.render(conv).matchAll(/\u0001([^\u0002]*)\u0002/g)].map((m) => m[1]);
    const r = renderConversation(tok.tokenizer, tok.chatTemplate!, conv);
    const trained: string[] = [];
    let cur: number[] = [];
    r.ids.forEach((id, i) => { if (r.lossMask[i]) cur.push(id); else if (cur.length) { trained.push(tok.tokenizer.decode(cur)); cur = []; } });
    if (cur.length) trained.push(tok.tokenizer.decode(cur));
    assert.deepEqual(spans, trained);
  }
});

test('--to axolotl: the YAML holds the recipe under Axolotl\'s keys, loss on assistant turns of chat_template datasets', () => {
  const out = join(root, 'axolotl');
  const r = heed('export', '--model', model, '--to', 'axolotl', '--recipe', recipe, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const yaml = readFileSync(join(out, 'axolotl.yaml'), 'utf8');
  const top = [...yaml.matchAll(/^([a-z_0-9]+):/gm)].map((m) => m[1]!);
  for (const k of top) assert.ok(upstream.axolotl!.includes(k), `Axolotl has no key '${k}'`);
  const dsKeys = [...yaml.matchAll(/^ {2}(?:- )?([a-z_]+):/gm)].map((m) => m[1]!);
  for (const k of dsKeys) assert.ok(upstream['axolotl.datasets']!.includes(k), `Axolotl datasets have no key '${k}'`);
  for (const line of [
    `base_model: ${JSON.stringify(model)}`, 'adapter: "lora"', 'lora_r: 12', 'lora_alpha: 24', 'lora_dropout: 0.05', 'peft_use_rslora: true',
    'chat_template: "tokenizer_default"', 'sequence_len: 384', 'sample_packing: true', 'micro_batch_size: 6', 'gradient_accumulation_steps: 3',
    'num_epochs: 3', 'learning_rate: 0.0007', 'lr_scheduler: "cosine"', 'cosine_min_lr_ratio: 0.1', 'warmup_ratio: 0.08', 'weight_decay: 0.01', 'seed: 11',
  ]) assert.ok(yaml.split('\n').includes(line), `missing line ${line}`);
  assert.match(yaml, /^lora_target_modules:\n {2}- "q_proj"\n {2}- "v_proj"\n {2}- "down_proj"$/m);
  assert.match(yaml, /^datasets:\n {2}- path: "data\/train\.jsonl"\n(?: {4}.*\n)* {4}type: "chat_template"\n(?: {4}.*\n)* {4}roles_to_train:\n {6}- "assistant"$/m);
  assert.deepEqual(jsonl(join(out, 'data', 'train.jsonl')), CONVS.map((messages) => ({ messages })));
});

test('trl/axolotl errors: --preferences with axolotl, an unknown recipe, a recipe of another stage', () => {
  for (const [args, msg] of [
    [['--to', 'axolotl', '--recipe', recipe, '--preferences', prefs], /--preferences applies to --to trl/],
    [['--to', 'trl', '--recipe', 'no-such-recipe'], /recipe 'no-such-recipe' not found|no-such-recipe/],
    [['--to', 'trl', '--recipe', 'pretrain-quick'], /stage/],
  ] as const) {
    const out = join(tmp('bad-trl'), 'o');
    const r = heed('export', '--model', model, ...args, '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, STACK);
    assert.equal(existsSync(out), false);
  }
});

/**
 * A PEFT folder as PEFT's save_pretrained writes one after get_peft_model(model, LoraConfig(r=8,
 * lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")) and training in bf16:
 * every LoraConfig field with its default, target_modules in set order, bf16 tensors named
 * base_model.model.<module>.lora_A.weight / lora_B.weight.
 */
function peftFolder(dir: string, base: Transformer): Map<string, { A: Float32Array; B: Float32Array }> {
  const rng = new Rng(9), r = 8, tensors = new Map<string, TensorData>(), ab = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (let i = 0; i < base.cfg.nLayer; i++) for (const m of ['q_proj', 'v_proj']) {
    const w = base.params.get(`model.layers.${i}.self_attn.${m}.weight`)!, [O, I] = w.shape as [number, number];
    const A = f32ToBf16(Float32Array.from({ length: r * I }, () => rng.normal() * 0.2));
    const B = f32ToBf16(Float32Array.from({ length: O * r }, () => rng.normal() * 0.2));
    tensors.set(`base_model.model.model.layers.${i}.self_attn.${m}.lora_A.weight`, { dtype: 'BF16', shape: [r, I], data: A });
    tensors.set(`base_model.model.model.layers.${i}.self_attn.${m}.lora_B.weight`, { dtype: 'BF16', shape: [O, r], data: B });
    ab.set(`model.layers.${i}.self_attn.${m}.weight`, { A: bf16ToF32(A), B: bf16ToF32(B) });
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({
    alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'heed/base',
    bias: 'none', corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false,
    inference_mode: true, init_lora_weights: true, kasa_config: null, layer_replication: null, layers_pattern: null,
    layers_to_transform: null, loftq_config: {}, lora_alpha: 16, lora_bias: false, lora_dropout: 0.0, lora_ga_config: null,
    megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, monteclora_config: null, peft_type: 'LORA',
    peft_version: '0.18.0', qalora_group_size: 16, r, rank_pattern: {}, revision: null, target_modules: ['v_proj', 'q_proj'],
    target_parameters: null, task_type: 'CAUSAL_LM', trainable_token_indices: null, use_bdlora: null, use_dora: false,
    use_qalora: false, use_rslora: false, velora_config: null,
  }, null, 2));
  return ab;
}

test('a PEFT adapter as PEFT writes it comes back: heed logprobs with --adapter equals W + (alpha/r)·B·A merged by hand; export to hf and GGUF', async () => {
  const base = loadModel(model).model, adapter = join(root, 'peft-made');
  spawnSync('mkdir', ['-p', adapter]);
  const ab = peftFolder(adapter, base);
  // the reference: merge by hand (no heed LoRA code), then score with the plain forward pass
  const merged = loadModel(model).model;
  for (const [name, { A, B }] of ab) {
    const w = merged.params.get(name)!, [O, I] = w.shape as [number, number], r = 8;
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += B[o * r + k]! * A[k * I + i]!;
      w.f32[o * I + i] = w.f32[o * I + i]! + (16 / r) * s;
    }
  }
  const ids = corpusTokens().train.subarray(0, 12);
  const want = noGrad(() => Array.from(tokenLogprobs(merged.forward(ids.subarray(0, 11), 1, 11).logits, ids.subarray(1)).f32));
  const r = heed('logprobs', '--model', model, '--adapter', adapter, '--ids', Array.from(ids).join(','));
  assert.equal(r.status, 0, r.stderr);
  const got = (JSON.parse(r.stdout) as { logprobs: number[] }).logprobs;
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-4, `token ${i}: ${g} vs ${want[i]}`));
  const plain = noGrad(() => Array.from(tokenLogprobs(base.forward(ids.subarray(0, 11), 1, 11).logits, ids.subarray(1)).f32));
  assert.ok(plain.some((p, i) => Math.abs(p - want[i]!) > 1e-2), 'the adapter changes the log-probabilities');

  const hf = join(root, 'peft-merged');
  assert.equal(heed('export', '--model', model, '--adapter', adapter, '--to', 'hf', '--out', hf).status, 0);
  const m2 = loadModel(hf).model, w = merged.params.get('model.layers.1.self_attn.v_proj.weight')!.f32;
  m2.params.get('model.layers.1.self_attn.v_proj.weight')!.f32.forEach((v, i) => assert.ok(Math.abs(v - w[i]!) < 1e-5));
  const g = join(root, 'peft.gguf');
  assert.equal(heed('export', '--model', model, '--adapter', adapter, '--to', 'gguf', '--adapter-only', '--out', g).status, 0);
  const md = (await gguf(g, { allowLocalFile: true })).metadata as Record<string, unknown>;
  assert.equal(md['adapter.lora.alpha'], 16);
});
