// `npm run bench -- gen --config gpt2|smollm-135m|... --batch 1 --weights f32|f16|bf16|q8_0 [--new 128]`:
// decoding speed with a KV cache, heed against llama.cpp's llama-bench on a GGUF of the same shapes
// and weight type (and, for f32, the PyTorch yardstick), in the same run, as JSON lines with ratios.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { heedChild, parseFlags, runMeasured, torchAnchor, torchBlas } from './common.js';
import { CACHE, llamaBenchPath, runLlamaBench } from './llama.js';
import { DECODE_WEIGHTS, type DecodeWeights } from './weights.js';
import { PRESETS, type PresetName } from '../src/models/config.js';
import { Transformer } from '../src/models/transformer.js';
import { writeGgufModel } from '../src/models/gguf-export.js';
import { trainBPE } from '../src/tokenizer/index.js';

const positive = (v: string) => Number.isInteger(Number(v)) && Number(v) > 0;
const f = parseFlags({
  config: { default: 'gpt2', values: Object.keys(PRESETS), help: 'model shape' },
  batch: { default: '1', check: positive, help: 'sequences decoded together' },
  new: { default: '128', check: positive, help: 'tokens generated per sequence' },
  weights: { default: 'f32', values: DECODE_WEIGHTS, help: 'how the weights are stored while decoding' },
});
const config = f.config as PresetName, weights = f.weights as DecodeWeights, batch = Number(f.batch), fresh = Number(f.new);
const row = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'gen', config, weights, batch, ...o }));

const h = runMeasured([...heedChild('gen-run.ts'), '--config', config, '--batch', f.batch, '--new', f.new, '--weights', weights]);
const heedTps = h.json ? (h.json.tokens_per_s as number) : null, heedBest = h.json ? (h.json.max as number) : null;
if (h.json) row({ engine: 'heed', ...h.json, peak_rss_mb: h.peakRssMb });
else row({ engine: 'heed', error: h.stderr.trim().split('\n').filter((l) => l.startsWith('Error') || l.includes('heed')).pop() ?? h.stderr.slice(-300) });

/** A GGUF of the preset's shapes (random weights: decoding speed does not depend on their values). */
function benchGguf(): string {
  const dir = join(CACHE, 'bench'), path = join(dir, `${config}-${weights}.gguf`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const cfg = PRESETS[config], tok = trainBPE(['the quick brown fox jumps over the lazy dog'], { vocabSize: 300 });
  const eos = tok.tokenToId('<|endoftext|>')!;
  const model = Transformer.init({ ...cfg, eosTokenId: eos, bosTokenId: null }, 0);
  writeGgufModel(path, model, { tokenizer: tok, chatTemplate: null, bosTokenId: null, eosTokenId: eos, eosTokenIds: [eos], eotTokenId: null, padTokenId: null, config: {} }, { type: weights, name: `heed bench ${config}` });
  return path;
}

const bin = llamaBenchPath();
if (!bin) row({ engine: 'llama.cpp', error: 'llama-bench is not built: npm run bench -- llama-build (about 5-25 minutes on two cores)' });
else if (batch !== 1) row({ engine: 'llama.cpp', error: 'llama-bench decodes one sequence; the llama.cpp comparison is at --batch 1' });
else {
  const l = runLlamaBench(bin, benchGguf(), { threads: 2, newTokens: fresh, depth: 16 });
  row({ engine: 'llama.cpp', tokens_per_s: Math.round(l.tokens_per_s * 10) / 10, best: Math.round(l.best * 10) / 10, stddev: Math.round(l.stddev * 10) / 10, threads: l.threads, build: l.build, command: `llama-bench -t 2 -n ${fresh} -d 16 -p 0 -r 5` });
  // ratios of the central figures (heed's median, llama.cpp's mean) and of the best runs
  if (heedTps !== null) row({ ratio_vs_llama_cpp: Number((heedTps / l.tokens_per_s).toFixed(2)), best_ratio_vs_llama_cpp: Number((heedBest! / l.best).toFixed(2)) });
}

const anchor = weights === 'f32' ? torchAnchor() : null;
if (anchor && heedTps !== null) {
  const t = runMeasured(['bash', anchor, 'gen', config, '--batch', f.batch, '--new', f.new]);
  if (t.json && !t.json.error) {
    row({ engine: 'torch', tokens_per_s: t.json.tokens_per_s, min: t.json.min, max: t.json.max, torch: t.json.torch, blas: torchBlas(), peak_rss_mb: t.peakRssMb });
    row({ ratio_vs_torch: Number((heedTps / (t.json.tokens_per_s as number)).toFixed(2)), memory_ratio: Number((h.peakRssMb / t.peakRssMb).toFixed(2)) });
  } else row({ engine: 'torch', error: t.json?.error ?? t.stderr.slice(-300) });
}
