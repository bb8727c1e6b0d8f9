// Generation options on a seeded tiny model: greedy is deterministic, sampling is reproducible per
// seed, top-k / top-p restrict the support, stop tokens and stop strings end a row, limits hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { generate, sampleToken } from '../../src/models/generate.js';
import { Rng } from '../../src/core/rng.js';

const cfg = { ...PRESETS['llama-tiny'], vocabSize: 50, nLayer: 2, dModel: 32, nHead: 4, nKvHead: 2, ffn: 48, maxPositions: 64 };
const model = Transformer.init(cfg, 7);
for (const t of model.params.values()) for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i]! *= 8; // peakier logits

test('greedy is deterministic; sampling is reproducible for a seed and differs across seeds', () => {
  const p = [[1, 2, 3]];
  assert.deepEqual(generate(model, p, { maxNewTokens: 10 }).tokens, generate(model, p, { maxNewTokens: 10 }).tokens);
  const a = generate(model, p, { maxNewTokens: 20, temperature: 1, seed: 1 }).tokens;
  assert.deepEqual(generate(model, p, { maxNewTokens: 20, temperature: 1, seed: 1 }).tokens, a);
  assert.notDeepEqual(generate(model, p, { maxNewTokens: 20, temperature: 1, seed: 2 }).tokens, a);
});

test('top-k and top-p only ever pick from the allowed set', () => {
  const logits = Float32Array.from([0, 5, 1, 4, -2, 3]); // order: 1, 3, 5, 2, 0, 4
  const rng = new Rng(0), seenK = new Set<number>(), seenP = new Set<number>();
  for (let i = 0; i < 400; i++) seenK.add(sampleToken(logits.slice(), { temperature: 2, topK: 2 }, rng));
  assert.deepEqual([...seenK].sort(), [1, 3]);
  // softmax mass: token 1 ≈ 0.64, token 3 ≈ 0.24 → top-p 0.8 keeps exactly these two
  for (let i = 0; i < 400; i++) seenP.add(sampleToken(logits.slice(), { temperature: 1, topP: 0.8 }, rng));
  assert.deepEqual([...seenP].sort(), [1, 3]);
  assert.equal(sampleToken(logits.slice(), { temperature: 0 }, rng), 1);
});

test('stop tokens and stop strings end a row; the limit gives finish "length"', () => {
  const free = generate(model, [[4, 5]], { maxNewTokens: 12 }).tokens[0]!;
  assert.equal(free.length, 12);
  const stopAt = free[3]!, first = free.indexOf(stopAt);
  const r = generate(model, [[4, 5]], { maxNewTokens: 12, stopTokens: [stopAt] });
  assert.deepEqual(r.tokens[0], free.slice(0, first));
  assert.equal(r.finish[0], 'stop');
  const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
  const text = decode(free), needle = text.slice(5, 7);
  const s = generate(model, [[4, 5]], { maxNewTokens: 12, stopStrings: [needle], decode });
  assert.equal(s.texts![0], text.slice(0, text.indexOf(needle)));
  assert.equal(s.finish[0], 'stop');
  assert.equal(generate(model, [[4, 5]], { maxNewTokens: 3 }).finish[0], 'length');
});

test('a batch of different prompt lengths matches each prompt run alone', () => {
  const ps = [[9], [3, 8, 1, 4, 4, 2], [7, 7, 7]];
  const batched = generate(model, ps, { maxNewTokens: 8 }).tokens;
  ps.forEach((p, i) => assert.deepEqual(batched[i], generate(model, [p], { maxNewTokens: 8 }).tokens[0], `row ${i}`));
});

test('top-k and top-p on a large vocabulary keep exactly the set a full sort defines, in its proportions', () => {
  const V = 5000, rng = new Rng(3), base = Float32Array.from({ length: V }, () => rng.normal() * 3);
  // the definition, by a full sort: probabilities at temperature t, the nucleus or the k best
  const keptSet = (t: number, topK: number, topP: number): Set<number> => {
    const mx = Math.max(...base), p = Array.from(base, (l) => Math.exp((l - mx) / t)), total = p.reduce((a, b) => a + b, 0);
    let idx = [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b);
    if (topK > 0) idx = idx.slice(0, topK);
    if (topP < 1) { let acc = 0, n = 0; while (n < idx.length) { acc += p[idx[n]!]! / total; n++; if (acc >= topP) break; } idx = idx.slice(0, n); }
    return new Set(idx);
  };
  for (const [t, topK, topP] of [[1, 0, 0.5], [0.7, 0, 0.9], [1.3, 40, 1], [1, 25, 0.8]] as const) {
    const want = keptSet(t, topK, topP), seen = new Map<number, number>(), draws = 4000;
    for (let i = 0; i < draws; i++) { const tok = sampleToken(base.slice(), { temperature: t, topK, topP }, rng); seen.set(tok, (seen.get(tok) ?? 0) + 1); }
    for (const tok of seen.keys()) assert.ok(want.has(tok), `t=${t} k=${topK} p=${topP}: token ${tok} is outside the kept set`);
    // the most likely kept token is drawn about as often as its renormalised probability says
    const mx = Math.max(...base), w = [...want].map((i) => Math.exp((base[i]! - mx) / t)), best = [...want][w.indexOf(Math.max(...w))]!;
    const expect = Math.max(...w) / w.reduce((a, b) => a + b, 0), got = (seen.get(best) ?? 0) / draws;
    assert.ok(Math.abs(got - expect) < 0.04, `t=${t} k=${topK} p=${topP}: best token drawn ${got.toFixed(3)} of the time, expected ${expect.toFixed(3)}`);
    if (want.size <= 60) assert.ok(seen.size >= Math.min(want.size, 3), `t=${t} k=${topK} p=${topP}: only ${seen.size} distinct tokens drawn`);
  }
});
