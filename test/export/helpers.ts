// What the export tests share: small models trained on real text (so that greedy decoding is not
// trivial), and the real llama.cpp from node-llama-cpp, installed on first use into test/llama
// (a test-only package, never one of heed's dependencies).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadNative } from '../../src/kernels/native.js';
import { PRESETS, type Arch, type ModelConfig } from '../../src/models/config.js';
import { Transformer, type LoraConfig } from '../../src/models/transformer.js';
import { saveModel } from '../../src/models/load.js';
import { saveAdapter } from '../../src/models/peft.js';
import { buildCorpus } from '../../src/data/index.js';
import { trainBPE, type Tokenizer } from '../../src/tokenizer/index.js';
import { AdamW } from '../../src/nn/optim.js';
import { backward, noGrad } from '../../src/core/autograd.js';
import { crossEntropy, reshape } from '../../src/core/ops.js';

loadNative();

const here = dirname(fileURLToPath(import.meta.url));
export const LLAMA_DIR = join(here, '..', 'llama');

export const tmp = (label: string): string => mkdtempSync(join(tmpdir(), `heed-${label}-`));

let text: { tok: Tokenizer; train: Int32Array; other: Int32Array } | null = null;

/**
 * A BPE tokenizer (Qwen2's pattern) and token streams of the opening of Moby-Dick and of a State of
 * the Union address: short enough that a tiny model learns to recite them within seconds, so its
 * greedy continuations are long, varied and confident (few near-ties for float rounding to flip).
 */
export function corpusTokens(): { tok: Tokenizer; train: Int32Array; other: Int32Array } {
  if (text) return text;
  const moby = buildCorpus({ sources: ['moby-dick'], valFraction: 0, seed: 0 }).train.join('\n').slice(0, 3_000);
  const sotu = buildCorpus({ sources: ['sotu'], valFraction: 0, seed: 0 }).train.join('\n').slice(0, 2_000);
  const tok = trainBPE([moby, sotu], { vocabSize: 640 });
  text = { tok, train: Int32Array.from(tok.encode(moby)), other: Int32Array.from(tok.encode(sotu)) };
  return text;
}

/** Prompts cut from the training text at fixed places. */
export function prompts(n: number, which: 'train' | 'other' = 'train'): number[][] {
  const s = corpusTokens()[which], out: number[][] = [];
  for (let i = 0; i < n; i++) { const at = Math.floor(((i + 0.5) * (s.length - 64)) / n); out.push(Array.from(s.subarray(at, at + 12))); }
  return out;
}

/**
 * `steps` of AdamW on next-token loss over windows of `stream` (B = 16 rows of T = 64), training
 * whatever `model.trainable()` returns. Plain on purpose: these tests check exports, not the loop.
 */
const LR = 1e-2;
function train(model: Transformer, stream: Int32Array, steps: number, seed: number): void {
  const B = 16, T = 64, params = model.trainable(), opt = new AdamW(params, { lr: LR, weightDecay: 0 });
  let at = seed * 7919;
  for (let step = 0; step < steps; step++) {
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = (at = (at + 104729) % (stream.length - T - 1));
      ids.set(stream.subarray(s, s + T), b * T);
      targets.set(stream.subarray(s + 1, s + T + 1), b * T);
    }
    const { logits } = model.forward(ids, B, T, { training: true });
    const loss = crossEntropy(reshape(logits, [B * T, model.cfg.vocabSize]), targets);
    opt.zeroGrad();
    backward(loss);
    opt.lr = LR * Math.min(1, (step + 1) / 5);
    opt.update();
  }
}

export const SHAPES: Record<Arch, ModelConfig> = {
  llama: { ...PRESETS['llama-tiny'], nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 160, maxPositions: 256, vocabSize: 640, bosTokenId: null, eosTokenId: null },
  qwen2: { ...PRESETS['llama-tiny'], arch: 'qwen2', qkvBias: true, tiedEmbeddings: false, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 2, ffn: 160, maxPositions: 256, vocabSize: 640, bosTokenId: null, eosTokenId: null },
  gpt2: { ...PRESETS.tiny, nLayer: 2, dModel: 64, nHead: 4, nKvHead: 4, ffn: 256, maxPositions: 256, vocabSize: 640, bosTokenId: null, eosTokenId: null },
};

/** A model of `arch` trained for `steps` on Moby-Dick, saved as a model folder. */
export function trainedModel(arch: Arch, steps = 80): { dir: string; model: Transformer; tok: Tokenizer } {
  const { tok, train: stream } = corpusTokens();
  const eos = tok.tokenToId('<|endoftext|>')!;
  const model = Transformer.init({ ...SHAPES[arch], eosTokenId: eos }, 1);
  model.trainAll();
  train(model, stream, steps, 1);
  const dir = tmp(`model-${arch}`);
  saveModel(dir, model, tok);
  return { dir, model, tok };
}

/** A LoRA adapter trained on State of the Union text on top of `base`, saved as a PEFT folder. */
export function trainedAdapter(base: Transformer, lc: Partial<LoraConfig> = {}, steps = 40): string {
  const { other } = corpusTokens();
  base.addLora({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rslora: false, ...lc }, 3);
  train(base, other, steps, 2);
  const dir = tmp('adapter');
  saveAdapter(dir, base, 'base');
  return dir;
}

/**
 * node-llama-cpp (llama.cpp prebuilt for linux-x64) from test/llama, installed there on first use
 * with the versions its package.json pins. The flock keeps parallel test files from installing twice.
 */
export async function llamaCpp(): Promise<NodeLlamaCpp> {
  const entry = join(LLAMA_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) {
    execFileSync('flock', [join(tmpdir(), 'heed-llama-install.lock'), 'sh', '-c',
      `test -f "${entry}" || npm install --omit=optional --no-audit --no-fund --loglevel=error`], { cwd: LLAMA_DIR, stdio: 'inherit' });
  }
  return (await import(pathToFileURL(entry).href)) as NodeLlamaCpp;
}

// The slice of node-llama-cpp's API the tests use.
export interface LlamaModelHandle {
  tokenize(text: string, specialTokens?: boolean): number[];
  createContext(o: { contextSize: number; threads?: number; lora?: { adapters: Array<{ filePath: string; scale?: number }> } }): Promise<LlamaContextHandle>;
  dispose(): Promise<void>;
  fileInfo: { metadata: Record<string, unknown> };
}
export interface LlamaContextHandle {
  getSequence(): { evaluate(tokens: number[], o: { temperature: number }): AsyncIterable<number> };
  dispose(): Promise<void>;
}
export interface NodeLlamaCpp {
  getLlama(o: Record<string, unknown>): Promise<{ loadModel(o: { modelPath: string }): Promise<LlamaModelHandle> }>;
  resolveChatWrapper(o: unknown): unknown;
  LlamaText: unknown;
}

/** llama.cpp's greedy continuation of `prompt` ids: `n` tokens, or fewer at an end-of-generation token. */
export async function llamaGreedy(model: LlamaModelHandle, prompt: number[], n: number, adapter?: string): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: 2, ...(adapter ? { lora: { adapters: [{ filePath: adapter }] } } : {}) });
  const out: number[] = [];
  try {
    for await (const t of ctx.getSequence().evaluate(prompt, { temperature: 0 })) {
      out.push(t);
      if (out.length >= n) break;
    }
  } finally { await ctx.dispose(); }
  return out;
}

/**
 * Where llama.cpp's greedy continuation leaves heed's: teacher-forced on llama.cpp's tokens, the
 * positions at which its token is not heed's argmax up to `tol` in logit (two float32 engines that
 * sum in different orders may flip a near-tie; a real difference is far larger than 1e-3).
 */
export function greedyDisagreements(model: Transformer, prompt: readonly number[], cpp: readonly number[], tol = 1e-3): Array<{ at: number; gap: number }> {
  const seq = [...prompt], bad: Array<{ at: number; gap: number }> = [];
  noGrad(() => {
    for (let at = 0; at < cpp.length; at++) {
      const { logits } = model.forward(Int32Array.from(seq), 1, seq.length, { lastOnly: true });
      let best = -Infinity;
      for (let i = 0; i < logits.f32.length; i++) if (logits.f32[i]! > best) best = logits.f32[i]!;
      const gap = best - logits.f32[cpp[at]!]!;
      if (gap > tol) bad.push({ at, gap });
      seq.push(cpp[at]!);
    }
  });
  return bad;
}

/** heed's greedy continuation: the full forward pass each step, argmax of the last position. */
export function heedGreedy(model: Transformer, prompt: readonly number[], n: number, stop: readonly number[] = []): number[] {
  const seq = [...prompt], out: number[] = [];
  return noGrad(() => {
    while (out.length < n) {
      const { logits } = model.forward(Int32Array.from(seq), 1, seq.length, { lastOnly: true });
      let best = 0;
      for (let i = 1; i < logits.f32.length; i++) if (logits.f32[i]! > logits.f32[best]!) best = i;
      if (stop.includes(best)) break;
      out.push(best);
      seq.push(best);
    }
    return out;
  });
}
