// heed's GGUF exports run in the real llama.cpp (node-llama-cpp's prebuilt library): its tokens and
// greedy continuations are heed's argmax at every position (teacher-forced; near-ties within 1e-3 aside) for f32 models of each architecture, a merged LoRA model and a
// base model with a LoRA GGUF adapter; its chat formatting gives heed's tokens; q8_0 agrees on a
// stated share of greedy tokens; a split-spaces tokenizer as heed pretrain makes them tokenizes
// real text in llama.cpp as in heed.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { exportModel } from '../../src/export/model.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { SPLIT_SPACES, renderPrompt, trainBPE, type ChatMessage } from '../../src/tokenizer/index.js';
import type { Arch } from '../../src/models/config.js';
import { Transformer } from '../../src/models/transformer.js';
import { buildCorpus } from '../../src/data/index.js';
import {
  SHAPES, greedyDisagreements, heedGreedy, llamaCpp, llamaGreedy, prompts, tmp, trainedAdapter, trainedModel,
  type LlamaModelHandle, type NodeLlamaCpp,
} from './helpers.js';

const N = 24; // tokens generated per prompt
let lib: NodeLlamaCpp;
let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
let base: string, adapter: string;
const out = tmp('llama-export');
const baseGguf = join(out, 'llama-f32.gguf');

before(async () => {
  lib = await llamaCpp();
  llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const m = trainedModel('llama', 100);
  base = m.dir;
  adapter = trainedAdapter(m.model);
  exportModel({ model: base, to: 'gguf', out: baseGguf, type: 'f32' });
});

async function withModel<T>(path: string, fn: (m: LlamaModelHandle) => Promise<T>): Promise<T> {
  const m = await llama.loadModel({ modelPath: path });
  try { return await fn(m); } finally { await m.dispose(); }
}

/** heed's and llama.cpp's greedy continuations of the same prompts. */
async function continuations(gguf: string, heedDir: string, opts: { adapter?: string; loraFile?: string; which?: 'train' | 'other'; tol?: number } = {}) {
  const h = loadModel(heedDir, { adapter: opts.adapter });
  const ps = prompts(4, opts.which ?? 'train');
  const heed = ps.map((p) => heedGreedy(h.model, p, N));
  const cpp = await withModel(gguf, async (m) => {
    const r: number[][] = [];
    for (const p of ps) {
      // llama.cpp tokenizes the prompt's text itself: its tokens must be heed's
      assert.deepEqual(m.tokenize(h.tok.tokenizer.decode(p)), p);
      r.push(await llamaGreedy(m, p, N, opts.loraFile));
    }
    return r;
  });
  // llama.cpp's tokens are heed's greedy choices at every position (a near-tie may go either way)
  const off = cpp.map((c, i) => greedyDisagreements(h.model, ps[i]!, c, opts.tol));
  return { heed, cpp, off, text: heed.map((t) => h.tok.tokenizer.decode(t)) };
}

test('llama f32: llama.cpp tokenizes as heed does and its greedy continuations equal heed\'s', async () => {
  const r = await continuations(baseGguf, base);
  assert.deepEqual(r.off, r.cpp.map(() => []));
  // the model recites its training text: long, varied continuations, not a repeated token
  for (const t of r.heed) assert.ok(new Set(t).size >= N / 2, JSON.stringify(r.text));
});

for (const arch of ['qwen2', 'gpt2'] as const satisfies Arch[]) {
  test(`${arch} f32: llama.cpp's greedy continuations equal heed's`, async () => {
    const m = trainedModel(arch, 60), gguf = join(out, `${arch}-f32.gguf`);
    exportModel({ model: m.dir, to: 'gguf', out: gguf, type: 'f32' });
    const r = await continuations(gguf, m.dir);
    assert.deepEqual(r.off, r.cpp.map(() => []));
  });
}

test('LoRA merged into the GGUF: llama.cpp continues as heed does with the adapter, unlike the base', async () => {
  const gguf = join(out, 'merged-f32.gguf');
  exportModel({ model: base, adapter, to: 'gguf', out: gguf, type: 'f32' });
  // W + s·BA is rounded once in the file, while heed adds s·B(Ax) at run time: near-ties of 1e-2
  const r = await continuations(gguf, base, { adapter, which: 'other', tol: 1e-2 });
  assert.deepEqual(r.off, r.cpp.map(() => []));
  const plain = await continuations(baseGguf, base, { which: 'other' });
  assert.notDeepEqual(plain.heed, r.heed, 'the adapter changes the continuations');
});

test('base GGUF + LoRA GGUF adapter: llama.cpp applies the adapter as heed does', async () => {
  const lora = join(out, 'lora.gguf');
  exportModel({ model: base, adapter, to: 'gguf', adapterOnly: true, out: lora, type: 'f32' });
  const r = await continuations(baseGguf, base, { adapter, loraFile: lora, which: 'other', tol: 1e-2 });
  assert.deepEqual(r.off, r.cpp.map(() => []));
});

test('the chat template stored in the GGUF, applied by llama.cpp, gives heed\'s prompt tokens', async () => {
  const h = loadModel(base);
  const msgs: ChatMessage[] = [
    { role: 'system', content: 'You answer briefly.' },
    { role: 'user', content: 'Who is called Ishmael?' },
    { role: 'assistant', content: 'The narrator.' },
    { role: 'user', content: 'And the whale?' },
  ];
  const want = renderPrompt(h.tok.tokenizer, h.tok.chatTemplate!, msgs);
  const history = [
    { type: 'system', text: msgs[0]!.content }, { type: 'user', text: msgs[1]!.content },
    { type: 'model', response: [msgs[2]!.content] }, { type: 'user', text: msgs[3]!.content }, { type: 'model', response: [] },
  ];
  await withModel(baseGguf, async (m) => {
    const md = m.fileInfo.metadata as { tokenizer?: { chat_template?: string } };
    assert.equal(md.tokenizer?.chat_template, h.tok.chatTemplate!.source);
    // node-llama-cpp resolves a wrapper from the GGUF's template (ChatML) and also runs the Jinja
    // template itself; each rendering is tokenized by llama.cpp, special tokens included
    for (const type of ['auto', 'jinjaTemplate'] as const) {
      const wrapper = (lib.resolveChatWrapper as (m: unknown, o: unknown) => { generateContextState(o: unknown): { contextText: { tokenize(t: unknown): number[] } } })(m, { type });
      const got = wrapper.generateContextState({ chatHistory: history }).contextText.tokenize((m as unknown as { tokenizer: unknown }).tokenizer);
      assert.deepEqual(got, want, `${type}: ${h.tok.tokenizer.decode(got)}`);
    }
  });
});

test('q8_0: llama.cpp\'s greedy tokens agree with heed\'s f32 on at least 95% of positions', async () => {
  const gguf = join(out, 'llama-q8_0.gguf');
  exportModel({ model: base, to: 'gguf', out: gguf, type: 'q8_0' });
  const h = loadModel(base), ps = prompts(8);
  let same = 0, total = 0;
  await withModel(gguf, async (m) => {
    for (const p of ps) {
      const a = heedGreedy(h.model, p, N), b = await llamaGreedy(m, p, N);
      total += a.length;
      same += a.filter((t, i) => t === b[i]).length;
    }
  });
  const share = same / total;
  process.stderr.write(`q8_0 greedy agreement with heed f32: ${same}/${total} = ${(100 * share).toFixed(1)}%\n`);
  assert.ok(share >= 0.95, `agreement ${share}`);
});

test('a split-spaces tokenizer (SPLIT_SPACES, as heed pretrain makes them) exports, and llama.cpp tokenizes real text as heed does', async () => {
  const moby = buildCorpus({ sources: ['moby-dick'], valFraction: 0, seed: 0 }).train.join('\n');
  const tok = trainBPE([moby.slice(0, 200_000)], { vocabSize: 1200, ...SPLIT_SPACES });
  const dir = tmp('split-spaces'), gguf = join(out, 'split-spaces.gguf');
  saveModel(dir, Transformer.init({ ...SHAPES.llama, vocabSize: tok.vocabSize }, 1), tok);
  exportModel({ model: dir, to: 'gguf', out: gguf, type: 'f32' });
  const texts = [
    moby.slice(200_000, 204_000), // prose the tokenizer never saw
    ' Moscow', 'is Moscow', '  two  spaces,\tand a tab', '(parenthesised) "quoted" -dashed', "don't, 'round, 'right' and we're",
    'The 1851 edition: 635 pages.\n\nNew paragraph\r\nand CRLF', 'naïve café Ærøskøbing', '   ',
  ];
  await withModel(gguf, async (m) => {
    assert.equal(m.fileInfo.metadata.tokenizer && (m.fileInfo.metadata.tokenizer as { ggml: { pre: string } }).ggml.pre, 'qwen2');
    for (const t of texts) assert.deepEqual(m.tokenize(t), tok.encode(t), JSON.stringify(t.slice(0, 80)));
  });
  // and the split-spaces property holds in llama.cpp too: " Moscow" is " " + "Moscow"
  assert.deepEqual(tok.encode(' Moscow'), [...tok.encode(' '), ...tok.encode('Moscow')]);
});
