// heed's side of `npm run bench -- align`: the reward model's K-way step, its scoring, and a DPO step
// on the preset's shapes with random tokens, through the same library calls the stages use.
import '../src/kernels/native.js';
import { PRESETS, type PresetName } from '../src/models/config.js';
import { Transformer } from '../src/models/transformer.js';
import { Rng } from '../src/core/rng.js';
import { backward, noGrad } from '../src/core/autograd.js';
import { AdamW } from '../src/nn/optim.js';
import { optimizerStep } from '../src/train/loop.js';
import { rankingLoss, scoreBatch, scores, toRewardModel, type EncodedRanking } from '../src/align/reward.js';
import { dpoBatchLoss, type EncodedPair } from '../src/align/dpo.js';
import { flag, median } from './common.js';

const mode = flag('mode', 'reward'), config = flag('config', 'llama-tiny') as PresetName, steps = Number(flag('steps', '5'));
const R = Number(flag('rankings', '4')), K = Number(flag('k', '4')), P = Number(flag('pairs', '8')), Tp = Number(flag('prompt', '64')), Tr = Number(flag('response', '64'));
const cfg = PRESETS[config], rng = new Rng(0), T = Tp + Tr;
const toks = (n: number) => Array.from({ length: n }, () => rng.int(cfg.vocabSize));

function timed(step: () => void, tokens: number): { med: number; lo: number; hi: number; samples: number[] } {
  const rates: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now(); step();
    if (i >= 2) rates.push(tokens / ((performance.now() - t0) / 1000));
  }
  const samples = rates.map((r) => Math.round(r * 10) / 10);
  rates.sort((a, b) => a - b);
  return { med: median(rates), lo: rates[0]!, hi: rates[rates.length - 1]!, samples };
}

let out: Record<string, unknown>;
if (mode === 'reward' || mode === 'score') {
  const rm = toRewardModel(Transformer.init(cfg, 0), 0);
  rm.trainAll();
  const opt = new AdamW(rm.trainable(), { lr: 1e-5 }), params = rm.trainable().map(([, t]) => t);
  const rankings: EncodedRanking[] = Array.from({ length: R }, () => { const prompt = toks(Tp); return { prompt, responses: Array.from({ length: K }, () => toks(Tr)), groups: Array.from({ length: K }, (_, i) => [i]) }; });
  const step = mode === 'reward'
    ? () => { opt.zeroGrad(); const r = rankingLoss(rm, rankings); backward(r.loss); optimizerStep(opt, params, r.count, 1, { label: 'bench', step: 1, loss: r.loss.item() }); }
    : () => noGrad(() => { scores(rm, scoreBatch(rankings.flatMap((r) => r.responses.map((x) => ({ prompt: r.prompt, response: x }))))); });
  const t = timed(step, R * K * T);
  out = { mode, tokens_per_s: Math.round(t.med * 10) / 10, min: Math.round(t.lo), max: Math.round(t.hi), sequences_per_s: Math.round((t.med / T) * 100) / 100, samples: t.samples };
} else {
  const m = Transformer.init(cfg, 0);
  m.trainAll();
  const opt = new AdamW(m.trainable(), { lr: 1e-5 }), params = m.trainable().map(([, t]) => t);
  const pairs: EncodedPair[] = Array.from({ length: P }, () => ({ prompt: toks(Tp), chosen: toks(Tr), rejected: toks(Tr), refChosen: -300, refRejected: -300 }));
  const t = timed(() => { opt.zeroGrad(); const r = dpoBatchLoss(m, pairs, { beta: 0.1, loss: 'sigmoid' }, true); backward(r.loss); optimizerStep(opt, params, r.count, 1, { label: 'bench', step: 1, loss: r.loss.item() }); }, 2 * P * T);
  out = { mode: 'dpo', tokens_per_s: Math.round(t.med * 10) / 10, min: Math.round(t.lo), max: Math.round(t.hi), samples: t.samples };
}
console.log(JSON.stringify({ engine: 'heed', config, ...out }));
