// `npm run bench -- passk --model DIR [--k 8] [--temperature 1] [--per-family 10]`: how much a policy
// could gain from sharpening alone, on the built-in held-out prompts: greedy accuracy (pass@1), the
// mean accuracy of K samples at the temperature, pass@K (any of them right) and the accuracy of the
// majority answer. RL on verifiable rewards that only sharpens the policy moves greedy towards the
// majority answer; what pass@K adds beyond that has to be learned per item. One JSON line, with the
// counts per family (greedy right, any of K right, majority right, of n).
import { existsSync } from 'node:fs';
import '../src/kernels/native.js';
import { loadModel } from '../src/models/load.js';
import { builtinPrompts } from '../src/align/prompts.js';
import { rollouts, type Rollout, type TaskPrompt } from '../src/align/rollout.js';
import { answerCorrect } from '../src/data/score.js';
import { parseFlags } from './common.js';

const positive = (v: string) => Number.isInteger(Number(v)) && Number(v) > 0;
const f = parseFlags({
  model: { default: '', check: (v) => existsSync(v), help: 'model folder (an SFT or RL stage)' },
  k: { default: '8', check: positive, help: 'samples per prompt' },
  temperature: { default: '1', check: (v) => Number(v) > 0, help: 'sampling temperature' },
  'per-family': { default: '10', check: positive, help: 'held-out prompts per family' },
});
if (!f.model) { console.error('bench passk: --model DIR is required'); process.exit(2); }
const K = Number(f.k), T = Number(f.temperature);
const { model, tok } = loadModel(f.model);
const prompts = builtinPrompts({ seed: 0, perFamily: Number(f['per-family']), split: 'heldout' });
const right = (p: TaskPrompt, r: Pick<Rollout, 'finish' | 'text'>) => r.finish === 'stop' && p.answer !== undefined && answerCorrect(r.text, p.answer, p.accept, p.metric ?? 'normalized');
const greedy = rollouts(model, tok, prompts, { k: 1, sampling: { temperature: 0, maxNewTokens: 32 }, seed: 0, batch: 16 });
const sampled = rollouts(model, tok, prompts, { k: K, sampling: { temperature: T, maxNewTokens: 32 }, seed: 1, batch: 16 });
let g = 0, mean = 0, any = 0, majority = 0;
const fam = new Map<string, { n: number; greedy: number; pass: number; majority: number }>();
prompts.forEach((p, i) => {
  const row = fam.get(p.family ?? '') ?? { n: 0, greedy: 0, pass: 0, majority: 0 };
  fam.set(p.family ?? '', row);
  row.n++;
  if (right(p, greedy[i]![0]!)) { g++; row.greedy++; }
  const ok = sampled[i]!.map((r) => right(p, r));
  mean += ok.filter(Boolean).length / K;
  if (ok.some(Boolean)) { any++; row.pass++; }
  const votes = new Map<string, number>();
  for (const r of sampled[i]!) if (r.finish === 'stop') votes.set(r.text.trim(), (votes.get(r.text.trim()) ?? 0) + 1);
  const top = [...votes].sort((a, b) => b[1] - a[1])[0];
  if (top && right(p, { finish: 'stop', text: top[0] })) { majority++; row.majority++; }
});
const pct = (x: number) => Math.round((1000 * x) / prompts.length) / 10;
console.log(JSON.stringify({ bench: 'passk', model: f.model, prompts: prompts.length, k: K, temperature: T, greedy: pct(g), sampled_mean: pct(mean), pass_at_k: pct(any), majority_vote: pct(majority), per_family: Object.fromEntries(fam) }));
