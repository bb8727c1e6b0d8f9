// The step generator: sequences that join and leave a running batch (each at its own length, with
// its own settings and seed, reusing cache slots) produce exactly what each produces alone; log-probs
// match a full forward without the cache; stop strings are cut and never streamed; settings are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/kernels/native.js';
import { Transformer } from '../../src/models/transformer.js';
import { PRESETS } from '../../src/models/config.js';
import { Generator, generate, type SequenceOptions, type TokenEvent } from '../../src/models/generate.js';
import { checkSampling } from '../../src/models/sampling.js';
import { isGradEnabled } from '../../src/core/autograd.js';

for (const arch of ['llama-tiny', 'tiny'] as const) {
  const cfg = { ...PRESETS[arch], vocabSize: 50, nLayer: 2, dModel: 32, nHead: 4, nKvHead: arch === 'tiny' ? 4 : 2, ffn: 48, maxPositions: 48 };
  const model = Transformer.init(cfg, 3);
  for (const t of model.params.values()) for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i]! *= 8;

  const alone = (p: number[], o: SequenceOptions) => {
    const g = new Generator(model, { slots: 1 });
    const s = g.add(p, o);
    while (!g.idle) g.step();
    return s.tokens;
  };

  test(`${arch}: sequences joining a running batch at different steps match each run alone`, () => {
    const jobs: Array<[number[], SequenceOptions, number]> = [ // prompt, settings, step it joins at
      [[1, 2, 3], { maxNewTokens: 12 }, 0],
      [[9, 8, 7, 6, 5, 4, 3], { maxNewTokens: 6, temperature: 1, seed: 5 }, 0],
      [[4], { maxNewTokens: 9, temperature: 0.8, topK: 5, seed: 2 }, 2],
      [[1, 2, 3], { maxNewTokens: 10, temperature: 1.3, topP: 0.9, seed: 11 }, 3],
      [[30, 31, 32, 33], { maxNewTokens: 5 }, 7],
    ];
    // two slots for five sequences: later ones wait in the queue and reuse freed slots
    const g = new Generator(model, { slots: 2 });
    const seqs: ReturnType<Generator['add']>[] = [];
    let maxActive = 0;
    for (let step = 0; seqs.length < jobs.length || !g.idle; step++) {
      jobs.forEach(([p, o, at], i) => { if (at === step) seqs[i] = g.add(p, o); });
      g.step();
      maxActive = Math.max(maxActive, g.active);
      assert.ok(step < 200);
    }
    assert.equal(maxActive, 2);
    jobs.forEach(([p, o], i) => {
      assert.deepEqual(seqs[i]!.tokens, alone(p, o), `sequence ${i}`);
      assert.equal(seqs[i]!.finish, 'length');
      assert.equal(seqs[i]!.tokens.length, o.maxNewTokens);
    });
    assert.ok(isGradEnabled(), 'a step leaves the tape switch as it found it');
  });

  test(`${arch}: the batch wrapper equals the generator; the context ends a sequence with "length"`, () => {
    const ps = [[5, 6], [7, 8, 9, 10, 11]];
    const r = generate(model, ps, { maxNewTokens: 7, temperature: 1, seed: 4 });
    assert.deepEqual(r.tokens, [alone(ps[0]!, { maxNewTokens: 7, temperature: 1, seed: 4 }), alone(ps[1]!, { maxNewTokens: 7, temperature: 1, seed: 5 })]);
    const long = Array.from({ length: 45 }, (_, i) => i % 50);
    const c = generate(model, [long], { maxNewTokens: 10 });
    assert.equal(c.tokens[0]!.length, 3);
    assert.equal(c.finish[0], 'length');
  });

  test(`${arch}: log-probs of each token equal a full forward's log-softmax`, () => {
    const g = new Generator(model, { slots: 3 });
    const other = g.add([3, 3, 3], { maxNewTokens: 8, temperature: 1, seed: 1 });
    g.step();
    const s = g.add([2, 7, 1], { maxNewTokens: 6, temperature: 1, seed: 9, logprobs: 3 });
    const events: TokenEvent[] = [];
    while (!g.idle) events.push(...g.step().filter((e) => e.seq === s));
    assert.ok(other.done);
    const ids = [...s.prompt, ...s.tokens], T = ids.length;
    const logits = model.forward(Int32Array.from(ids), 1, T).logits.f32, V = cfg.vocabSize;
    events.forEach((e, i) => {
      const row = logits.subarray((2 + i) * V, (3 + i) * V);
      const mx = Math.max(...row), lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
      assert.ok(Math.abs(e.logprob! - (row[e.token]! - lse)) < 1e-4, `token ${i}: ${e.logprob} vs ${row[e.token]! - lse}`);
      const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!).slice(0, 3);
      assert.deepEqual(e.top!.map((t) => t.token), order);
      e.top!.forEach((t) => assert.ok(Math.abs(t.logprob - (row[t.token]! - lse)) < 1e-4));
    });
  });
}

const cfg = { ...PRESETS['llama-tiny'], vocabSize: 50, nLayer: 1, dModel: 32, nHead: 4, nKvHead: 2, ffn: 48, maxPositions: 64 };
const model = Transformer.init(cfg, 5);
for (const t of model.params.values()) for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i]! *= 8;
const letter = (i: number) => String.fromCharCode(97 + (i % 26));
const decoder = () => ({ push: letter, flush: () => '' });

test('stop strings: the text is cut before the first one and no streamed piece ever shows part of it', () => {
  const free = new Generator(model, { slots: 1, decoder });
  const f = free.add([4, 5], { maxNewTokens: 30 });
  while (!free.idle) free.step();
  const text = f.text, needle = text.slice(9, 12);
  const g = new Generator(model, { slots: 1, decoder });
  const s = g.add([4, 5], { maxNewTokens: 30, stopStrings: ['zzzzzz', needle] });
  let streamed = '';
  while (!g.idle) for (const e of g.step()) streamed += e.text;
  assert.equal(s.finish, 'stop');
  assert.equal(s.text, text.slice(0, text.indexOf(needle)));
  assert.equal(streamed, s.text, 'what was streamed is exactly the cut text: no piece of the stop string went out');
  assert.equal(s.tokens.length, text.indexOf(needle) + needle.length, 'tokens run through the one that completed the stop string');
});

test('a cancelled sequence leaves at once and its slot serves the next', () => {
  const g = new Generator(model, { slots: 1 });
  const a = g.add([1, 2], { maxNewTokens: 40 }), b = g.add([3, 4], { maxNewTokens: 4 });
  g.step(); g.step();
  assert.equal(a.tokens.length, 2);
  assert.equal(g.queued, 1);
  g.cancel(a);
  while (!g.idle) g.step();
  assert.equal(a.tokens.length, 2);
  assert.equal(a.finish, null);
  assert.equal(b.tokens.length, 4);
  assert.deepEqual(b.tokens, generate(model, [[3, 4]], { maxNewTokens: 4 }).tokens[0]);
});

test('sampling settings are checked by one schema with the caller\'s names', () => {
  const names = { temperature: '--temperature', topP: '--top-p', topK: '--top-k', maxNewTokens: '--max-new-tokens' };
  assert.throws(() => checkSampling({ temperature: -1 }, names), /^Error: --temperature must be between 0 and 2 \(got -1\)$/);
  assert.throws(() => checkSampling({ topP: 2 }, names), /--top-p must be in \(0, 1\] \(got 2\)/);
  assert.throws(() => checkSampling({ topK: -5 }, names), /--top-k must be 0 \(off\) or more \(got -5\)/);
  assert.throws(() => checkSampling({ maxNewTokens: 0 }, names), /--max-new-tokens must be at least 1 \(got 0\)/);
  assert.throws(() => checkSampling({ maxNewTokens: 2.5 }, { maxNewTokens: 'max_tokens' }), /max_tokens must be an integer/);
  assert.throws(() => generate(model, [[1]], { maxNewTokens: 0 }), /maxNewTokens must be at least 1/);
  assert.throws(() => new Generator(model, { slots: 1 }).add([1], { stopStrings: ['x'] }), /stop strings need a decoder/);
  assert.throws(() => new Generator(model, { slots: 1 }).add([99]), /outside the vocabulary of 50/);
  assert.deepEqual(checkSampling({ temperature: 0.5, topP: 1, seed: -3 }), { temperature: 0.5, topP: 1, seed: -3 });
});

test('vocabLimit: ids beyond a smaller tokenizer are never sampled nor offered as alternatives', () => {
  const g = new Generator(model, { slots: 2, vocabLimit: 20 });
  const a = g.add([1, 2], { maxNewTokens: 30, temperature: 2, seed: 3, logprobs: 2 }), b = g.add([3], { maxNewTokens: 30 });
  const events: TokenEvent[] = [];
  while (!g.idle) events.push(...g.step().filter((e) => e.seq === a));
  assert.ok([...a.tokens, ...b.tokens].every((t) => t < 20));
  for (const e of events) {
    assert.ok(e.top!.every((t) => t.token < 20));
    assert.ok(e.logprob! <= 0 && e.logprob! > -Infinity);
  }
  // unlimited, the same model does reach ids ≥ 20
  assert.ok(generate(model, [[1, 2]], { maxNewTokens: 30, temperature: 2, seed: 3 }).tokens[0]!.some((t) => t >= 20));
});
