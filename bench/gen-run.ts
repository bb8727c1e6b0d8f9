// The heed side of the generation benchmark: a 16-token random prompt per row, then `new` tokens
// sampled from the full softmax (temperature 1), timed from the first sampled token: median and best of
// --reps runs (default 5) after a warm-up, and every run's rate (gen.ts interleaves these with llama-bench).
// With --prompt P: a P-token random prompt per row, timed from the call to the first sampled token
// (the prefill), in prompt tokens per second.
// --weights stores the block linears and the LM head as decoding reads them (f32, f16, bf16, q8_0).
import '../src/kernels/native.js';
import { PRESETS, type PresetName } from '../src/models/config.js';
import { Transformer } from '../src/models/transformer.js';
import { generate } from '../src/models/generate.js';
import { Rng } from '../src/core/rng.js';
import { flag, median } from './common.js';
import { storeWeights, type DecodeWeights } from './weights.js';

const name = flag('config', 'gpt2') as PresetName, B = Number(flag('batch', '1')), fresh = Number(flag('new', '128'));
const weights = flag('weights', 'f32') as DecodeWeights, reps = Number(flag('reps', '5')), P = Number(flag('prompt', '0'));
const cfg = PRESETS[name];
const model = storeWeights(Transformer.init(cfg, 0), weights), rng = new Rng(1);
const rates: number[] = [];
for (let rep = 0; rep <= reps; rep++) {
  const prompts = Array.from({ length: B }, () => Array.from({ length: P || 16 }, () => rng.int(cfg.vocabSize)));
  const n = P ? 1 : rep === 0 ? 8 : fresh;
  let t0 = 0, steps = 0;
  const start = performance.now();
  generate(model, prompts, { maxNewTokens: n, temperature: 1, seed: rep, onStep: () => { if (steps++ === 0) t0 = performance.now(); } });
  const secs = P ? (t0 - start) / 1000 : (performance.now() - t0) / 1000;
  if (rep > 0) rates.push(P ? (B * P) / secs : (B * (steps - 1)) / secs);
}
const samples = rates.map((r) => Math.round(r * 10) / 10);
rates.sort((a, b) => a - b);
console.log(JSON.stringify({ ...(P ? { prompt_tokens: P } : { new_tokens: fresh }), tokens_per_s: Math.round(median(rates) * 10) / 10, min: Math.round(rates[0]! * 10) / 10, max: Math.round(rates[rates.length - 1]! * 10) / 10, samples }));
