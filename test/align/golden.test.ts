// The alignment losses against PyTorch (fixtures by test/fixtures/align/make_align.py, float64, each
// formula written there from its paper): the reward model's K-way ranking loss, DPO and IPO, PPO's
// GAE, whitening, clipped policy and value losses, GRPO's group advantages and loss with k3 KL, each
// value and every parameter's gradient, on both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import '../../src/kernels/native.js';
import { readSafetensors, toF32 } from '../../src/models/safetensors.js';
import { configFromHF, type ModelConfig } from '../../src/models/config.js';
import { Transformer } from '../../src/models/transformer.js';
import { Tensor } from '../../src/core/tensor.js';
import { backward } from '../../src/core/autograd.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import { rankingLoss } from '../../src/align/reward.js';
import { dpoBatchLoss, type EncodedPair } from '../../src/align/dpo.js';
import { assignAdvantages, minibatchLoss, type Sample } from '../../src/align/rl.js';
import type { Rollout } from '../../src/align/rollout.js';
import type { GrpoRecipe, PpoRecipe } from '../../src/train/recipes.js';

const dir = 'test/fixtures/align';
const st = readSafetensors(`${dir}/align.safetensors`).tensors, meta = JSON.parse(readFileSync(`${dir}/align.json`, 'utf8'));
const get = (k: string) => { const t = st.get(k); assert.ok(t, `fixture has no ${k}`); return toF32(t); };

/** A model from the fixture's `prefix.param.*` tensors. */
function load(prefix: string, head: ModelConfig['head'] = 'lm'): Transformer {
  const params = new Map<string, Tensor>();
  for (const [k, t] of st) if (k.startsWith(`${prefix}param.`)) params.set(k.slice(prefix.length + 6), new Tensor(toF32(t).slice(), t.shape));
  const m = new Transformer({ ...configFromHF(meta.config), head }, params);
  m.trainAll();
  return m;
}

/** Largest |a − b| over the largest |b| (relative to the whole tensor's scale). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) { num = Math.max(num, Math.abs(a[i]! - b[i]!)); den = Math.max(den, Math.abs(b[i]!)); }
  return num / Math.max(den, 1e-12);
}

function checkGrads(m: Transformer, prefix: string, what: string): void {
  let n = 0;
  for (const [k, p] of m.params) {
    const want = get(`${prefix}grad.${k}`);
    assert.ok(p.grad, `${what}: ${k} got no gradient`);
    // float32 against float64: ~1e-5 of the tensor's scale; 1e-4 leaves room for summation order
    assert.ok(relErr(p.grad.f32, want) < 1e-4, `${what}: ${k} gradient relative error ${relErr(p.grad.f32, want)}`);
    n++;
  }
  assert.equal(n, m.params.size);
}

const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 2e-5 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

const roll = (x: { prompt: number[]; response: number[] }, i: number): Rollout => ({ prompt: i, k: 0, promptIds: x.prompt, response: x.response, text: '', finish: 'stop', seed: 0 });

const backends = ['ref', ...(nativeKernels() ? ['native'] : [])] as const;
if (process.env.HEED_REQUIRE_NATIVE === '1') assert.ok(nativeKernels(), 'HEED_REQUIRE_NATIVE=1 but the native addon is not loaded');

for (const be of backends) {
  test(`reward model K-way loss with centering and margin matches PyTorch (${be})`, () => {
    const prev = useBackend(be);
    try {
      const m = load('reward.', 'score'), { rankings, centerCoef, margin } = meta.reward;
      const rep = rankingLoss(m, rankings, { centerCoef, margin });
      close(rep.loss.item(), get('reward.loss')[0]!, 'loss');
      backward(rep.loss);
      checkGrads(m, 'reward.', 'reward');
    } finally { useBackend(prev as 'ref' | 'native'); }
  });

  for (const kind of ['sigmoid', 'ipo', 'rpo'] as const) test(`DPO (${kind}) loss and gradients match PyTorch (${be})`, () => {
    const prev = useBackend(be);
    try {
      const m = load(`dpo-${kind}.`), d = meta.dpo;
      const pairs: EncodedPair[] = d.pairs.map((p: { prompt: number[]; chosen: number[]; rejected: number[] }, i: number) => ({ ...p, refChosen: d.refChosen[i], refRejected: d.refRejected[i] }));
      const rep = dpoBatchLoss(m, pairs, { beta: meta[`dpo-${kind}`].beta, loss: kind === 'ipo' ? 'ipo' : 'sigmoid', rpoAlpha: meta[`dpo-${kind}`].rpoAlpha }, true);
      close(rep.loss.item(), get(`dpo-${kind}.loss`)[0]!, 'loss');
      backward(rep.loss);
      checkGrads(m, `dpo-${kind}.`, `dpo ${kind}`);
    } finally { useBackend(prev as 'ref' | 'native'); }
  });

  test(`PPO: GAE, whitening, clipped policy and value losses and their gradients match PyTorch (${be})`, () => {
    const prev = useBackend(be);
    try {
      const p = meta.ppo, policy = load('ppo.'), value = load('ppo.value.', 'score');
      const samples: Sample[] = p.rolls.map((x: { prompt: number[]; response: number[]; score: number }, i: number) => ({
        prompt: i, roll: roll(x, i), ended: true, score: x.score, oldLogp: Float32Array.from(p.oldLogp[i]), refLogp: Float32Array.from(p.refLogp[i]),
        values: Float32Array.from(p.oldValues[i]), adv: new Float32Array(x.response.length), returns: new Float32Array(x.response.length),
      }));
      const r = { stage: 'ppo', kl: 'k1', gamma: p.gamma, lambda: p.lambda, whiten: true, clip: p.clip, clipValue: p.clipValue, vfCoef: p.vfCoef } as PpoRecipe;
      // unwhitened GAE first, then the whitened advantages the loss uses
      assignAdvantages({ ...r, whiten: false }, samples, p.beta);
      assert.ok(relErr(samples.flatMap((s) => [...s.adv]), get('ppo.advantages')) < 1e-5, 'GAE advantages');
      assert.ok(relErr(samples.flatMap((s) => [...s.returns]), get('ppo.returns')) < 1e-5, 'returns');
      assignAdvantages(r, samples, p.beta);
      assert.ok(relErr(samples.flatMap((s) => [...s.adv]), get('ppo.whitened')) < 1e-5, 'whitened advantages');
      const mb = minibatchLoss(r, samples, policy, value);
      close(mb.policyLoss, get('ppo.policy_loss')[0]!, 'policy loss');
      close(mb.valueLoss!, get('ppo.value_loss')[0]!, 'value loss');
      assert.ok(mb.clipFrac > 0 && mb.clipFrac < 1, `some but not all tokens clipped (${mb.clipFrac})`);
      backward(mb.loss);
      checkGrads(policy, 'ppo.', 'ppo policy');
      checkGrads(value, 'ppo.value.', 'ppo value');
    } finally { useBackend(prev as 'ref' | 'native'); }
  });

  test(`GRPO: group advantages, clipped loss with β·k3 and gradients match PyTorch (${be})`, () => {
    const prev = useBackend(be);
    try {
      const g = meta.grpo, policy = load('grpo.');
      const samples: Sample[] = g.rolls.map((x: { prompt: number[]; response: number[]; reward: number }, i: number) => ({
        prompt: i, roll: roll(x, i), ended: true, score: x.reward, oldLogp: Float32Array.from(g.oldLogp[i]), refLogp: Float32Array.from(g.refLogp[i]),
        values: new Float32Array(x.response.length), adv: new Float32Array(x.response.length), returns: new Float32Array(x.response.length),
      }));
      const r = { stage: 'grpo', groupSize: g.groupSize, scaleStd: true, clip: g.clip, klCoef: g.beta } as GrpoRecipe;
      assignAdvantages(r, samples, 0);
      assert.ok(relErr(samples.map((s) => s.adv[0]!), get('grpo.advantages')) < 1e-5, 'group advantages');
      const mb = minibatchLoss(r, samples, policy, null);
      close(mb.loss.item(), get('grpo.loss')[0]!, 'loss');
      backward(mb.loss);
      checkGrads(policy, 'grpo.', 'grpo');
    } finally { useBackend(prev as 'ref' | 'native'); }
  });
}
