// Hostile input, tried through the real bin (node bin/heed.js) as a new user would: empty,
// negative, huge, malformed, missing, wrong type, a folder for a file and a file for a folder,
// BOMs, invalid UTF-8, NaN weights, broken adapters. Each probe must exit 1 with a `heed:` (or
// commander `error:`) message naming the file, flag or field, print no stack trace, and leave
// nothing behind that looks like a finished output. A few probes check that harmless oddities
// (a BOM, a broken chat template when no chat is asked for) are accepted with exit 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transformer } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { saveAdapter } from '../../src/models/peft.js';
import { PRESETS, type ModelConfig } from '../../src/models/config.js';
import { readSafetensors, writeSafetensors } from '../../src/models/safetensors.js';
import { trainBPE } from '../../src/tokenizer/index.js';
import { QWEN3_DIR } from '../tokenizer/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'heed-probes-'));
const p = (...s: string[]) => join(root, ...s);
/** A probe whose output folder is a fresh path of its own (probes run in parallel). */
let outs = 0;
const writes = (name: string, make: (out: string) => Probe): Probe => make(p('out', `${name}-${outs++}`));

const MAX_POS = 64;
const CHAT = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}\n';
const BOM = '\uFEFF';
const BAD_UTF8 = Buffer.concat([Buffer.from(CHAT), Buffer.from('{"messages":[{"role":"user","content":"caf'), Buffer.from([0xe9]), Buffer.from('"},{"role":"assistant","content":"x"}]}\n')]);

function editJson(file: string, edit: (j: Record<string, unknown>) => unknown): void {
  const j = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify(edit(j) ?? j));
}

/** A copy of a fixture folder with one change. */
function variant(from: string, name: string, change: (dir: string) => void): string {
  const dir = p('v', name);
  cpSync(from, dir, { recursive: true });
  change(dir);
  return dir;
}

/** Overwrites the first element of a tensor in a safetensors file, in place (as a bad export would). */
function poison(file: string, tensor: string, value: number): void {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const e = header[tensor];
  assert.ok(e && e.dtype === 'F32', `no F32 tensor ${tensor}`);
  bytes.writeFloatLE(value, 8 + n + e.data_offsets[0] + 4 * 3);
  writeFileSync(file, bytes);
}

function editTensors(file: string, edit: (m: Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>) => void): void {
  const m = readSafetensors(file).tensors as Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>;
  const copy = new Map([...m].map(([k, t]) => [k, { dtype: t.dtype, shape: [...t.shape], data: Float32Array.from(t.data) }]));
  edit(copy);
  writeSafetensors(file, copy);
}

interface Probe {
  args: string[];
  /** expected exit code (default 1) */
  code?: number;
  /** stderr must match (for failures: it names the file, flag or field) */
  err?: RegExp;
  /** stdout must match (for accepted input) */
  out?: RegExp;
  stdin?: string | Buffer;
  /** paths that must not exist afterwards (outputs of a failed command) */
  absent?: string[];
  /** files whose bytes must be unchanged afterwards */
  unchanged?: string[];
}

// Fixture folders, built once in before(); probe tables refer to them by these paths.
const M = p('model'), ADAPTER = p('adapter'), TXT = p('corpus.txt'), GOOD = p('good.jsonl'), FILE = p('a-file.txt');
const EMPTY_DIR = p('empty-dir');

function buildFixtures(): void {
  mkdirSync(p('v'), { recursive: true });
  mkdirSync(p('out'), { recursive: true });
  mkdirSync(EMPTY_DIR);
  const text = 'The whale swam past the ship. The sea was calm, and the men slept. '.repeat(20);
  writeFileSync(TXT, text);
  writeFileSync(FILE, 'just a file\n');
  writeFileSync(GOOD, CHAT.repeat(3));
  const tok = trainBPE([text], { vocabSize: 300 });
  const cfg: ModelConfig = {
    ...PRESETS['llama-tiny'], vocabSize: 300, nLayer: 1, dModel: 16, nHead: 2, nKvHead: 1, ffn: 32, maxPositions: MAX_POS,
    eosTokenId: tok.tokenToId('<|endoftext|>')!, bosTokenId: null,
  };
  const model = Transformer.init(cfg, 1);
  saveModel(M, model, tok);
  model.addLora({ r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'], rslora: false });
  saveAdapter(ADAPTER, model, M);
}

const W = 'model.safetensors', TC = 'tokenizer_config.json', AC = 'adapter_config.json', AW = 'adapter_model.safetensors';
const Q = 'base_model.model.model.layers.0.self_attn.q_proj';
const gen = (model: string, ...more: string[]) => ['generate', '--model', model, '--prompt', 'The sea', '--max-new-tokens', '2', '--temperature', '0', ...more];

/** The probe table, built after the fixtures exist (variants are made as the table is built). */
function probes(): Record<string, Probe> {
  const cfgEdit = (name: string, edit: (j: Record<string, unknown>) => unknown) => variant(M, name, (d) => editJson(join(d, 'config.json'), edit));
  const adEdit = (name: string, edit: (j: Record<string, unknown>) => unknown) => variant(ADAPTER, name, (d) => editJson(join(d, AC), edit));
  const adTensors = (name: string, edit: Parameters<typeof editTensors>[1]) => variant(ADAPTER, name, (d) => editTensors(join(d, AW), edit));
  const fileWith = (name: string, data: string | Buffer) => { const f = p(name); writeFileSync(f, data); return f; };
  const longPrompt = 'the sea '.repeat(80);
  const ids = (n: number) => Array.from({ length: n }, (_, i) => 10 + (i % 50)).join(',');

  return {
    // ---- heed data ----
    'data without --out': { args: ['data'], err: /--out/ },
    'demo --budget -5': writes('demo', (out) => ({ args: ['demo', '--out', out, '--budget', '-5'], err: /--budget must be an integer from 0 to 10000, got '-5'/, absent: [out] })),
    'demo --budget soon': writes('demo', (out) => ({ args: ['demo', '--out', out, '--budget', 'soon'], err: /--budget must be an integer/, absent: [out] })),
    'data --out on a file': { args: ['data', '--out', FILE, '--train-per-family', '1', '--eval-per-family', '1'], err: new RegExp(`${FILE}.*(file|folder)`), unchanged: [FILE] },
    'data --seed -1': writes('data', (out) => ({ args: ['data', '--out', out, '--seed', '-1'], err: /--seed/, absent: [out] })),
    'data --train-per-family -5': writes('data', (out) => ({ args: ['data', '--out', out, '--train-per-family', '-5'], err: /--train-per-family/, absent: [out] })),
    'data --train-per-family 1e12': writes('data', (out) => ({ args: ['data', '--out', out, '--train-per-family', '1e12'], err: /--train-per-family/, absent: [out] })),
    'data --eval-per-family empty': writes('data', (out) => ({ args: ['data', '--out', out, '--eval-per-family', ''], err: /--eval-per-family/, absent: [out] })),
    'data --zero-shot unknown family': writes('data', (out) => ({ args: ['data', '--out', out, '--zero-shot', 'nope'], err: /nope/, absent: [out] })),
    // ---- heed data check ----
    'data check, missing file': { args: ['data', 'check', p('missing.jsonl')], err: /missing\.jsonl: no such file/ },
    'data check, a folder': { args: ['data', 'check', EMPTY_DIR], err: /empty-dir: is a folder/ },
    'data check, empty file': { args: ['data', 'check', fileWith('empty.jsonl', '')], err: /empty\.jsonl: .*no conversations/ },
    'data check, whitespace only': { args: ['data', 'check', fileWith('blank.jsonl', '\n  \n\t\n')], err: /blank\.jsonl: .*no conversations/ },
    'data check, BOM is accepted': { args: ['data', 'check', fileWith('bom.jsonl', BOM + CHAT)], code: 0, out: /ok, format openai, 1 conversations/ },
    'data check, invalid UTF-8': { args: ['data', 'check', fileWith('latin1.jsonl', BAD_UTF8)], err: /latin1\.jsonl: not valid UTF-8: byte 127 .*line 2/ },
    'data check, bad JSON line': { args: ['data', 'check', fileWith('badjson.jsonl', CHAT + '{"messages": [\n')], err: /badjson\.jsonl:2: bad JSON/ },
    'data check, a JSON array': { args: ['data', 'check', fileWith('array.jsonl', `[${CHAT.trim()}]\n`)], err: /array\.jsonl:1: line is not a JSON object/ },
    'data check --format yaml': { args: ['data', 'check', GOOD, '--format', 'yaml'], err: /--format/ },
    // ---- heed tokenize ----
    'tokenize, missing folder': { args: ['tokenize', '--tokenizer', p('nope'), '--text', 'hi'], err: /nope: no tokenizer\.json/ },
    'tokenize, a file for the folder': { args: ['tokenize', '--tokenizer', FILE, '--text', 'hi'], err: /a-file\.txt: .*not a folder/ },
    'tokenize --decode, not JSON': { args: ['tokenize', '--tokenizer', M, '--decode', '--text', 'hello'], err: /--decode expects a JSON array/ },
    'tokenize --decode, not integers': { args: ['tokenize', '--tokenizer', M, '--decode', '--text', '[1,"a"]'], err: /--decode expects a JSON array of integer/ },
    'tokenize --decode, id out of range': { args: ['tokenize', '--tokenizer', M, '--decode', '--text', '[5,99999]'], err: /99999/ },
    'tokenize --decode, negative id': { args: ['tokenize', '--tokenizer', M, '--decode', '--text', '[-1]'], err: /-1/ },
    'tokenize, invalid UTF-8 on stdin': { args: ['tokenize', '--tokenizer', M], stdin: Buffer.from([0x68, 0x69, 0xff]), err: /stdin: not valid UTF-8: byte 2/ },
    'tokenize, tokenizer.json not JSON': { args: ['tokenize', '--tokenizer', variant(M, 'tokjson', (d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": ')), '--text', 'hi'], err: /tokenizer\.json: not valid JSON/ },
    'tokenize, tokenizer.json a Unigram model': { args: ['tokenize', '--tokenizer', variant(M, 'tokuni', (d) => editJson(join(d, 'tokenizer.json'), (j) => ({ ...j, model: { type: 'Unigram', vocab: [] } }))), '--text', 'hi'], err: /tokenizer\.json: .*Unigram/ },
    'tokenize, tokenizer.json invalid UTF-8': { args: ['tokenize', '--tokenizer', variant(M, 'tokutf', (d) => writeFileSync(join(d, 'tokenizer.json'), Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))), '--text', 'hi'], err: /tokenizer\.json: not valid UTF-8: byte 6/ },
    'tokenize, tokenizer.json with a BOM is accepted': { args: ['tokenize', '--tokenizer', variant(M, 'tokbom', (d) => writeFileSync(join(d, 'tokenizer.json'), BOM + readFileSync(join(d, 'tokenizer.json'), 'utf8'))), '--text', 'The'], code: 0, out: /^\[\d+/ },
    'tokenize, tokenizer_config.json not JSON': { args: ['tokenize', '--tokenizer', variant(M, 'tcjson', (d) => writeFileSync(join(d, TC), '{"eos_token": }')), '--text', 'hi'], err: /tokenizer_config\.json: not valid JSON at line 1/ },
    'tokenize, tokenizer_config.json with a BOM is accepted': { args: ['tokenize', '--tokenizer', variant(M, 'tcbom', (d) => writeFileSync(join(d, TC), BOM + readFileSync(join(d, TC), 'utf8'))), '--text', 'The'], code: 0, out: /^\[\d+/ },
    // ---- heed tokenizer train ----
    'tokenizer train, missing input': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', p('nope.txt'), '--out', out], err: /nope\.txt: no such file/, absent: [out] })),
    'tokenizer train, folder without .txt': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', EMPTY_DIR, '--out', out], err: /empty-dir: the folder holds no \.txt files/, absent: [out] })),
    'tokenizer train, empty input': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', fileWith('empty.txt', ''), '--out', out], err: /empty\.txt.*no text/, absent: [out] })),
    'tokenizer train, invalid UTF-8': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', fileWith('latin1.txt', Buffer.from([0x61, 0x0a, 0x62, 0xe9, 0x0a])), '--out', out], err: /latin1\.txt: not valid UTF-8: byte 3 .*line 2/, absent: [out] })),
    'tokenizer train --vocab-size 0': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', TXT, '--vocab-size', '0', '--out', out], err: /--vocab-size/, absent: [out] })),
    'tokenizer train --vocab-size 100': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', TXT, '--vocab-size', '100', '--out', out], err: /--vocab-size.*259/, absent: [out] })),
    'tokenizer train --vocab-size 1e9': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', TXT, '--vocab-size', '1e9', '--out', out], err: /--vocab-size/, absent: [out] })),
    'tokenizer train --out on a file': { args: ['tokenizer', 'train', '--input', TXT, '--vocab-size', '300', '--out', FILE], err: /a-file\.txt: .*(file|folder)/, unchanged: [FILE] },
    'tokenizer train with a BOM is accepted': writes('tok', (out) => ({ args: ['tokenizer', 'train', '--input', fileWith('bom.txt', BOM + 'abc abc abc'), '--vocab-size', '262', '--out', out], code: 0, out: /"vocabSize":262/ })),
    // ---- heed init ----
    'init, unknown preset': writes('init', (out) => ({ args: ['init', '--preset', 'huge', '--out', out], err: /unknown preset 'huge'/, absent: [out] })),
    'init, preset __proto__': writes('init', (out) => ({ args: ['init', '--preset', '__proto__', '--out', out], err: /unknown preset '__proto__'/, absent: [out] })),
    'init --out on a file': { args: ['init', '--preset', 'tiny', '--tokenizer', M, '--out', FILE], err: /a-file\.txt: .*(file|folder)/, unchanged: [FILE] },
    'init --out on a non-empty folder': { args: ['init', '--preset', 'tiny', '--tokenizer', M, '--out', ADAPTER], err: /adapter: .*not empty/, unchanged: [join(ADAPTER, AC)] },
    'init --tokenizer missing': writes('init', (out) => ({ args: ['init', '--preset', 'tiny', '--tokenizer', p('nope'), '--out', out], err: /nope: no tokenizer\.json/, absent: [out] })),
    'init --tokenizer larger than the preset': writes('init', (out) => ({ args: ['init', '--preset', 'tiny', '--tokenizer', QWEN3_DIR, '--out', out], err: /151\d+ tokens, more than the preset's 4096/, absent: [out] })),
    // ---- model folders (generate, logprobs) ----
    'generate, missing folder': { args: gen(p('nope')), err: /nope: not a model folder/ },
    'generate, a file for the folder': { args: gen(FILE), err: /a-file\.txt: not a model folder/ },
    'generate, NaN weight': { args: gen(variant(M, 'nan', (d) => poison(join(d, W), 'model.layers.0.mlp.up_proj.weight', NaN))), err: /model\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" holds NaN/ },
    'logprobs, Inf weight': { args: ['logprobs', '--model', variant(M, 'inf', (d) => poison(join(d, W), 'model.norm.weight', Infinity)), '--ids', '1,2,3'], err: /model\.safetensors: tensor "model\.norm\.weight" holds Inf/ },
    'generate, config.json not JSON': { args: gen(variant(M, 'cfgjson', (d) => writeFileSync(join(d, 'config.json'), '{"model_type": "llama",}'))), err: /config\.json: not valid JSON at line 1, column 24/ },
    'generate, config.json empty': { args: gen(variant(M, 'cfgempty', (d) => writeFileSync(join(d, 'config.json'), ''))), err: /config\.json: not valid JSON \(the file is empty\)/ },
    'generate, config.json an array': { args: gen(variant(M, 'cfgarr', (d) => writeFileSync(join(d, 'config.json'), '[]'))), err: /config\.json: .*JSON object/ },
    'generate, config.json invalid UTF-8': { args: gen(variant(M, 'cfgutf', (d) => writeFileSync(join(d, 'config.json'), Buffer.concat([Buffer.from('{"model_type": "ll'), Buffer.from([0xff]), Buffer.from('ama"}')])))), err: /config\.json: not valid UTF-8: byte 18/ },
    'generate, config.json a folder': { args: gen(variant(M, 'cfgdir', (d) => { rmSync(join(d, 'config.json')); mkdirSync(join(d, 'config.json')); })), err: /config\.json: is a folder/ },
    'generate, config.json with a BOM is accepted': { args: gen(variant(M, 'cfgbom', (d) => writeFileSync(join(d, 'config.json'), BOM + readFileSync(join(d, 'config.json'), 'utf8')))), code: 0, out: /^The sea/ },
    'generate, hidden_size negative': { args: gen(cfgEdit('neg', (j) => ({ ...j, hidden_size: -16 }))), err: /config\.json: "hidden_size" must be an integer ≥ 1, got -16/ },
    'generate, heads do not divide the width': { args: gen(cfgEdit('heads', (j) => ({ ...j, num_attention_heads: 3, head_dim: undefined }))), err: /config\.json: "num_attention_heads" = 3 does not divide "hidden_size" = 16/ },
    'generate, kv heads do not divide the heads': { args: gen(cfgEdit('kvheads', (j) => ({ ...j, num_key_value_heads: 3 }))), err: /config\.json: "num_key_value_heads" = 3 does not divide "num_attention_heads" = 2/ },
    'generate, rms_norm_eps negative': { args: gen(cfgEdit('eps', (j) => ({ ...j, rms_norm_eps: -1 }))), err: /config\.json: "rms_norm_eps" must be a positive number/ },
    'generate, model_type bert': { args: gen(cfgEdit('bert', (j) => ({ ...j, model_type: 'bert' }))), err: /config\.json: "model_type" = "bert" is not supported/ },
    'generate, vocab_size larger than the weights': { args: gen(cfgEdit('vbig', (j) => ({ ...j, vocab_size: 1e6 }))), err: /model\.safetensors.*embed_tokens/ },
    'generate, max_position_embeddings 5e7 does not hang': { args: ['logprobs', '--model', cfgEdit('pos', (j) => ({ ...j, max_position_embeddings: 5e7 })), '--ids', '1,2,3'], code: 0, out: /"logprobs"/ },
    'generate, missing model.safetensors': { args: gen(variant(M, 'now', (d) => rmSync(join(d, W)))), err: /no model\.safetensors/ },
    'generate, truncated model.safetensors': { args: gen(variant(M, 'trunc', (d) => writeFileSync(join(d, W), readFileSync(join(d, W)).subarray(0, 500)))), err: /model\.safetensors: invalid safetensors file/ },
    'generate, a tensor missing': { args: gen(variant(M, 'miss', (d) => editTensors(join(d, W), (m) => { m.delete('model.norm.weight'); }))), err: /model\.norm\.weight/ },
    'generate, tokenizer_config.json not JSON': { args: gen(variant(M, 'tcbad', (d) => writeFileSync(join(d, TC), '{'))), err: /tokenizer_config\.json: not valid JSON/ },
    'generate, broken chat template, plain prompt works': { args: gen(variant(M, 'tmpl', (d) => editJson(join(d, TC), (j) => ({ ...j, chat_template: '{% for m in messages %}{{ m.content }' })))), code: 0, out: /^The sea/ },
    'logprobs, broken chat template works': { args: ['logprobs', '--model', p('v', 'tmpl'), '--ids', '1,2,3'], code: 0, out: /"logprobs"/ },
    'generate --chat, broken template names tokenizer_config.json': { args: gen(p('v', 'tmpl'), '--chat'), err: /tokenizer_config\.json: chat template: cannot parse/ },
    'generate --chat, broken chat_template.jinja': { args: gen(variant(M, 'jinja', (d) => writeFileSync(join(d, 'chat_template.jinja'), '{% if %}')), '--chat'), err: /chat_template\.jinja: chat template: cannot parse/ },
    'generate, empty prompt': { args: ['generate', '--model', M, '--prompt', '', '--max-new-tokens', '2'], err: /--prompt is empty/ },
    'generate, prompt longer than the positions': { args: ['generate', '--model', M, '--prompt', longPrompt, '--max-new-tokens', '2'], err: new RegExp(`--prompt is \\d+ tokens; the model holds ${MAX_POS} positions`) },
    'logprobs, more ids than positions': { args: ['logprobs', '--model', M, '--ids', ids(MAX_POS + 1)], err: new RegExp(`${MAX_POS + 1} tokens; the model holds ${MAX_POS} positions`) },
    'logprobs --ids empty': { args: ['logprobs', '--model', M, '--ids', ''], err: /--ids/ },
    'logprobs, one id': { args: ['logprobs', '--model', M, '--ids', '5'], err: /--ids gives 1 token; log-probabilities need at least two/ },
    'logprobs, id out of range': { args: ['logprobs', '--model', M, '--ids', '1,99999'], err: /--ids: item 2 \('99999'\)/ },
    'logprobs without ids or text': { args: ['logprobs', '--model', M], err: /--ids or --text/ },
    'chat, missing folder': { args: ['chat', '--model', p('nope')], stdin: 'hi\n', err: /nope: not a model folder/ },
    // ---- adapters ----
    'adapter, missing folder': { args: gen(M, '--adapter', p('nope')), err: /nope: not a PEFT adapter folder/ },
    'adapter, config not JSON': { args: gen(M, '--adapter', variant(ADAPTER, 'acjson', (d) => writeFileSync(join(d, AC), '{"r": 2,'))), err: /adapter_config\.json: not valid JSON/ },
    'adapter, weights missing': { args: gen(M, '--adapter', variant(ADAPTER, 'aw', (d) => rmSync(join(d, AW)))), err: /adapter_model\.safetensors: no such file/ },
    'adapter, a tensor missing': { args: gen(M, '--adapter', adTensors('amiss', (m) => { m.delete(`${Q}.lora_B.weight`); })), err: new RegExp(`adapter_model\\.safetensors: missing tensor '${Q}\\.lora_B\\.weight'`) },
    'adapter, an extra tensor': { args: gen(M, '--adapter', adTensors('aextra', (m) => { m.set('base_model.model.lm_head.lora_A.weight', { dtype: 'F32', shape: [2, 16], data: new Float32Array(32) }); })), err: /adapter_model\.safetensors: unexpected tensor 'base_model\.model\.lm_head\.lora_A\.weight'/ },
    'adapter, a misshapen tensor': { args: gen(M, '--adapter', adTensors('ashape', (m) => { m.set(`${Q}.lora_A.weight`, { dtype: 'F32', shape: [3, 16], data: new Float32Array(48) }); })), err: new RegExp(`'${Q}\\.lora_A\\.weight' has shape \\[3,16\\] but the model needs \\[2,16\\]`) },
    'adapter, NaN tensor': { args: gen(M, '--adapter', variant(ADAPTER, 'anan', (d) => poison(join(d, AW), `${Q}.lora_A.weight`, NaN))), err: new RegExp(`adapter_model\\.safetensors: tensor "${Q}\\.lora_A\\.weight" holds NaN`) },
    'merge, NaN adapter writes nothing': writes('merge', (out) => ({ args: ['merge', '--model', M, '--adapter', p('v', 'anan'), '--out', out], err: /holds NaN/, absent: [out] })),
    'adapter, use_dora': { args: gen(M, '--adapter', adEdit('dora', (j) => ({ ...j, use_dora: true }))), err: /adapter_config\.json: "use_dora" = true is not supported/ },
    'adapter, fan_in_fan_out': { args: gen(M, '--adapter', adEdit('fifo', (j) => ({ ...j, fan_in_fan_out: true }))), err: /adapter_config\.json: "fan_in_fan_out" = true is not supported/ },
    'adapter, peft_type IA3': { args: gen(M, '--adapter', adEdit('ia3', (j) => ({ ...j, peft_type: 'IA3' }))), err: /adapter_config\.json: "peft_type" = "IA3" is not supported/ },
    'adapter, modules_to_save': { args: gen(M, '--adapter', adEdit('mts', (j) => ({ ...j, modules_to_save: ['lm_head'] }))), err: /adapter_config\.json: "modules_to_save" = \["lm_head"\] is not supported/ },
    'adapter, layers_to_transform': { args: gen(M, '--adapter', adEdit('ltt', (j) => ({ ...j, layers_to_transform: [0] }))), err: /adapter_config\.json: "layers_to_transform" = \[0\] is not supported/ },
    'adapter, bias all': { args: gen(M, '--adapter', adEdit('bias', (j) => ({ ...j, bias: 'all' }))), err: /adapter_config\.json: "bias" = "all" is not supported/ },
    'adapter, an unknown key': { args: gen(M, '--adapter', adEdit('unk', (j) => ({ ...j, lora_magic: 3 }))), err: /adapter_config\.json: "lora_magic" is not a LoRA option heed knows/ },
    'adapter, r 0': { args: gen(M, '--adapter', adEdit('r0', (j) => ({ ...j, r: 0 }))), err: /adapter_config\.json: "r" must be a positive integer/ },
    'adapter, lora_dropout 1.5': { args: gen(M, '--adapter', adEdit('drop', (j) => ({ ...j, lora_dropout: 1.5 }))), err: /adapter_config\.json: "lora_dropout" must be in \[0, 1\)/ },
    'adapter, target_modules lm_head': { args: gen(M, '--adapter', adEdit('tm', (j) => ({ ...j, target_modules: ['q_proj', 'lm_head'] }))), err: /adapter_config\.json: "target_modules" lists "lm_head"/ },
    'adapter, config with a BOM is accepted': { args: gen(M, '--adapter', variant(ADAPTER, 'abom', (d) => writeFileSync(join(d, AC), BOM + readFileSync(join(d, AC), 'utf8')))), code: 0, out: /^The sea/ },
    // ---- heed eval ----
    'eval --per-family -1': { args: ['eval', '--model', M, '--per-family', '-1'], err: /--per-family/ },
    'eval --per-family 0': { args: ['eval', '--model', M, '--per-family', '0'], err: /--per-family/ },
    'eval --max-new-tokens 0': { args: ['eval', '--model', M, '--max-new-tokens', '0'], err: /--max-new-tokens/ },
    'eval --out on a file': { args: ['eval', '--model', M, '--per-family', '1', '--out', FILE], err: /a-file\.txt: .*(file|folder)/, unchanged: [FILE] },
    'eval, no chat template': { args: ['eval', '--model', variant(M, 'notmpl', (d) => editJson(join(d, TC), (j) => ({ ...j, chat_template: undefined }))), '--per-family', '1'], err: /notmpl: .*no chat template/ },
    // ---- the program itself ----
    'an unknown command': { args: ['frobnicate'], err: /unknown command 'frobnicate'/ },
    'a missing required option': { args: ['generate', '--prompt', 'x'], err: /required option '--model <dir>' not specified/ },
  };
}

interface Result { code: number | null; stdout: string; stderr: string }

function runBin(args: string[], stdin?: string | Buffer): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/heed.js', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    // a hang is a failure, not a stuck suite
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? '');
  });
}

/** Runs `jobs` with at most `n` at a time. */
async function pool<T>(jobs: Array<() => Promise<T>>, n: number): Promise<T[]> {
  const out = new Array<T>(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) { const i = next++; out[i] = await jobs[i]!(); }
  }));
  return out;
}

const STACK = /\n\s+at .*:\d+:\d+/;

buildFixtures();
const table = probes();

describe('hostile input to every command', () => {
  const results = new Map<string, { probe: Probe; r: Result; before: Map<string, Buffer> }>();

  before(async () => {
    const done = await pool(Object.entries(table).map(([name, probe]) => async () => {
      const before = new Map((probe.unchanged ?? []).map((f) => [f, readFileSync(f)] as const));
      return [name, { probe, before, r: await runBin(probe.args, probe.stdin) }] as const;
    }), 3);
    for (const [name, v] of done) results.set(name, v);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  test('the table has at least 60 probes across every command', () => {
    const n = Object.keys(table).length;
    assert.ok(n >= 60, `${n} probes`);
    const commands = new Set(Object.values(table).map((x) => x.args[0] === 'data' && x.args[1] === 'check' ? 'data check' : x.args[0] === 'tokenizer' ? 'tokenizer train' : x.args[0]));
    for (const c of ['data', 'data check', 'tokenize', 'tokenizer train', 'init', 'generate', 'logprobs', 'chat', 'merge', 'eval']) assert.ok(commands.has(c), c);
  });

  for (const [name, probe] of Object.entries(table)) {
    test(name, () => {
      const x = results.get(name);
      assert.ok(x, `probe ${name} did not run`);
      const { r, before } = x;
      const show = `exit ${r.code}\nstderr: ${r.stderr.slice(0, 1500)}\nstdout: ${r.stdout.slice(0, 300)}`;
      assert.equal(r.code, probe.code ?? 1, show);
      assert.doesNotMatch(r.stderr, STACK, `stack trace\n${show}`);
      assert.doesNotMatch(r.stderr, /heed: heed:/, show);
      if (probe.err) assert.match(r.stderr, probe.err, show);
      if (probe.out) assert.match(r.stdout, probe.out, show);
      if ((probe.code ?? 1) !== 0) assert.match(r.stderr, /^(heed|error): /m, show);
      for (const a of probe.absent ?? []) assert.ok(!existsSync(a), `${a} was left behind: ${existsSync(a) ? readdirSync(a).join(', ') : ''}`);
      for (const [f, bytes] of before) assert.deepEqual(readFileSync(f), bytes, `${f} changed`);
    });
  }
});
