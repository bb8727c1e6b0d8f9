// The heed side of the training benchmark (run as a child so its peak memory is its own): the same
// model, batch, optimizer and flop count as the PyTorch yardstick's train().
import { loadNative } from '../src/kernels/native.js';
import { PRESETS, type PresetName } from '../src/models/config.js';
import { Transformer } from '../src/models/transformer.js';
import { AdamW } from '../src/nn/optim.js';
import { crossEntropy, reshape } from '../src/core/ops.js';
import { backward } from '../src/core/autograd.js';
import { Rng } from '../src/core/rng.js';
import { addonSimd, flag, median } from './common.js';

const SHAPES: Record<string, { batch: number; seq: number }> = { tiny: { batch: 8, seq: 256 }, 'llama-tiny': { batch: 8, seq: 256 }, gpt2: { batch: 4, seq: 256 }, 'smollm-135m': { batch: 4, seq: 256 } };
const name = flag('config', 'tiny') as PresetName, steps = Number(flag('steps', '10'));
const addon = loadNative();
const simd = addonSimd(addon);
const cfg = PRESETS[name];
if (!cfg) throw new Error(`unknown config ${name}`);
const { batch: B, seq: T } = SHAPES[name]!;
const model = Transformer.init(cfg, 0);
model.trainAll();
const opt = new AdamW(model.trainable(), { lr: 3e-4, weightDecay: 0.1, betas: [0.9, 0.999] });
const rng = new Rng(0), V = cfg.vocabSize;
const x = Int32Array.from({ length: B * T }, () => rng.int(V)), y = Int32Array.from({ length: B * T }, () => rng.int(V));
const rates: number[] = [];
let loss = 0;
for (let i = 0; i < steps + 2; i++) {
  const t0 = performance.now();
  const { logits } = model.forward(x, B, T, { training: true });
  const l = crossEntropy(reshape(logits, [B * T, V]), y);
  opt.zeroGrad();
  backward(l);
  opt.update();
  loss = l.item();
  if (i >= 2) rates.push((B * T) / ((performance.now() - t0) / 1000));
}
const n = model.numParams(), med = median(rates), flopsPerToken = 6 * n + 12 * cfg.nLayer * cfg.dModel * T;
rates.sort((a, b) => a - b);
console.log(JSON.stringify({ simd, params: n, tokens_per_s: Math.round(med * 10) / 10, min: Math.round(rates[0]! * 10) / 10, max: Math.round(rates[rates.length - 1]! * 10) / 10, model_gflops: Math.round((med * flopsPerToken) / 1e8) / 10, steps: rates.length, loss: Math.round(loss * 1e4) / 1e4 }));
