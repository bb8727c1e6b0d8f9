// `npm run bench -- gen --config gpt2|smollm-135m|... --batch 1 --weights f32|f16|bf16|q8_0 [--new 128] [--rounds 5]`:
// decoding speed with a KV cache, heed against llama.cpp's llama-bench on a GGUF of the same shapes
// and weight type (and, for f32, the PyTorch yardstick), in the same run, as JSON lines with ratios.
// `--prompt 512` measures prompt processing instead (the prefill of a 512-token prompt, in prompt
// tokens/s, against `llama-bench -p 512 -n 0`).
// The two engines take turns (rounds of two timed runs each, in ABBA order), so a neighbour's load
// that comes and goes on a shared machine falls on both rather than on whichever ran during it.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { heedChild, inTurn, median, parseFlags, runMeasured, torchAnchor, torchBlas } from './common.js';
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
  rounds: { default: '5', check: positive, help: 'turns of two timed runs per engine (against llama.cpp at batch 1)' },
  prompt: { default: '0', check: (v: string) => v === '0' || positive(v), help: 'prompt tokens: > 0 measures prompt processing (the prefill) instead of decoding' },
});
const config = f.config as PresetName, weights = f.weights as DecodeWeights, batch = Number(f.batch), fresh = Number(f.new), rounds = Number(f.rounds), prompt = Number(f.prompt);
const row = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'gen', config, weights, batch, ...(prompt ? { mode: 'prompt' } : {}), ...o }));
const r1 = (x: number) => Math.round(x * 10) / 10;

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

/** heed's child process: `reps` timed runs after a warm-up; its rates, or the error it printed. */
function heedRuns(reps: number): { samples: number[]; peakRssMb: number } | { error: string } {
  const h = runMeasured([...heedChild('gen-run.ts'), '--config', config, '--batch', f.batch, '--new', f.new, '--weights', weights, '--reps', String(reps), '--prompt', f.prompt]);
  if (h.json) return { samples: h.json.samples as number[], peakRssMb: h.peakRssMb };
  return { error: h.stderr.trim().split('\n').filter((l) => l.startsWith('Error') || l.includes('heed')).pop() ?? h.stderr.slice(-300) };
}

const bin = llamaBenchPath(), vsLlama = bin !== null && batch === 1;
const heed: number[] = [], llama: number[] = [], paired: number[] = [];
let peakRss = 0, heedError: string | null = null, build = '';
for (let round = 0; round < (vsLlama ? rounds : 1) && heedError === null; round++) {
  let hs: number[] = [], ls: number[] = [];
  const runHeed = () => {
    const h = heedRuns(vsLlama ? 2 : 5);
    if ('error' in h) { heedError = h.error; return; }
    hs = h.samples; peakRss = Math.max(peakRss, h.peakRssMb);
  };
  const runLlama = () => {
    if (!vsLlama || heedError !== null) return;
    const l = runLlamaBench(bin!, benchGguf(), { threads: 2, newTokens: fresh, depth: 16, reps: 2, prompt });
    ls = l.samples; build = l.build;
  };
  inTurn(round, runHeed, runLlama);
  heed.push(...hs); llama.push(...ls);
  if (hs.length && ls.length) paired.push(median(hs) / median(ls));
}
if (heedError !== null) row({ engine: 'heed', error: heedError });
else row({ engine: 'heed', ...(prompt ? { prompt_tokens: prompt } : { new_tokens: fresh }), tokens_per_s: r1(median(heed)), min: r1(Math.min(...heed)), max: r1(Math.max(...heed)), runs: heed.length, peak_rss_mb: peakRss });
const heedTps = heedError === null ? median(heed) : null;
if (!bin) row({ engine: 'llama.cpp', error: 'llama-bench is not built: npm run bench -- llama-build (about 5-25 minutes on two cores)' });
else if (batch !== 1) row({ engine: 'llama.cpp', error: 'llama-bench decodes one sequence; the llama.cpp comparison is at --batch 1' });
else if (llama.length) {
  row({ engine: 'llama.cpp', tokens_per_s: r1(median(llama)), min: r1(Math.min(...llama)), max: r1(Math.max(...llama)), runs: llama.length, threads: 2, build, command: `llama-bench -t 2 ${prompt ? `-p ${prompt} -n 0` : `-n ${fresh} -d 16 -p 0`} -r 2, ${rounds} times, taking turns with heed` });
  // the ratio of the medians over all runs, the median of each round's ratio, and the ratio of the best runs
  if (heedTps !== null) row({ ratio_vs_llama_cpp: Number((heedTps / median(llama)).toFixed(2)), paired_ratio_vs_llama_cpp: Number(median(paired).toFixed(2)), best_ratio_vs_llama_cpp: Number((Math.max(...heed) / Math.max(...llama)).toFixed(2)) });
}

// the PyTorch yardstick times decoding only
const anchor = weights === 'f32' && !prompt ? torchAnchor() : null;
if (anchor && heedTps !== null) {
  const t = runMeasured(['bash', anchor, 'gen', config, '--batch', f.batch, '--new', f.new]);
  if (t.json && !t.json.error) {
    row({ engine: 'torch', tokens_per_s: t.json.tokens_per_s, min: t.json.min, max: t.json.max, torch: t.json.torch, blas: torchBlas(), peak_rss_mb: t.peakRssMb });
    row({ ratio_vs_torch: Number((heedTps / (t.json.tokens_per_s as number)).toFixed(2)), memory_ratio: Number((peakRss / t.peakRssMb).toFixed(2)) });
  } else row({ engine: 'torch', error: t.json?.error ?? t.stderr.slice(-300) });
}
