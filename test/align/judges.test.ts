// Judges by hand: each checkable rule's score, the verifiable judge by the task's metric, a chain
// deciding at its first non-tie, K responses ranked from pairwise verdicts with tie groups, the
// seeded principle draw, and the constitution file's validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chainJudges, judgeByName, loadConstitution, PrincipleDraw, rankResponses, repetition, RULE_SCORES, rulesJudge, verifiableJudge, type Candidate, type Principle,
} from '../../src/align/judges.js';
import type { TaskPrompt } from '../../src/align/rollout.js';

const c = loadConstitution();
const pr = (id: string): Principle => c.principles.find((p) => p.id === id)!;
const cand = (text: string, endedTurn = true): Candidate => ({ text, endedTurn });
const q: TaskPrompt = { messages: [{ role: 'user', content: 'What is the capital of France?' }], answer: 'Paris', metric: 'normalized' };

test('the default constitution loads; a bad one is an error naming the file and the field', () => {
  assert.ok(c.principles.length >= 5);
  assert.ok(c.principles.filter((p) => p.rule).length >= 4);
  const dir = mkdtempSync(join(tmpdir(), 'heed-const-')), f = join(dir, 'c.json');
  writeFileSync(f, JSON.stringify({ name: 'x', principles: [{ id: 'a', text: 'Which one is better here?', rule: 'tallest' }] }));
  assert.throws(() => loadConstitution(f), /c\.json: principles\.0\.rule: Invalid enum value/);
  writeFileSync(f, JSON.stringify({ name: 'x', principles: [{ id: 'a', text: 'Which one is better here?' }, { id: 'a', text: 'Which one is better again?' }] }));
  assert.throws(() => loadConstitution(f), /principle ids must be unique/);
});

test('rule scores by hand', () => {
  assert.equal(RULE_SCORES.ends_turn(cand('x', true), q, pr('ends-turn')), 1);
  assert.equal(RULE_SCORES.ends_turn(cand('x', false), q, pr('ends-turn')), 0);
  assert.equal(RULE_SCORES.answers_first(cand('Paris, of course.'), q, pr('answers-first')), 1);
  assert.equal(RULE_SCORES.answers_first(cand('The capital is Paris.'), q, pr('answers-first')), 0);
  const open: TaskPrompt = { messages: q.messages };
  assert.equal(RULE_SCORES.answers_first(cand('Sure! It is Paris.'), open, pr('answers-first')), 0);
  assert.equal(RULE_SCORES.answers_first(cand('Paris.'), open, pr('answers-first')), 1);
  // 6 words, trigrams: "a b c", "b c a", "c a b", "a b c" (repeat): 1 of 4
  assert.equal(repetition('a b c a b c'), 0.25);
  assert.equal(RULE_SCORES.no_repetition(cand('a b c a b c'), q, pr('no-repetition')), 0.75);
  // concise, limit 40: limit/(limit + words)
  assert.equal(RULE_SCORES.concise(cand('Paris'), q, pr('concise')), 40 / 41);
  assert.equal(RULE_SCORES.concise(cand(''), q, pr('concise')), 0);
});

test('the verifiable judge uses the task metric and needs the turn ended; a chain decides at its first non-tie', async () => {
  let v = await verifiableJudge.compare(q, cand('paris'), cand('Lyon'), pr('correct'));
  assert.equal(v.winner, 'a');
  v = await verifiableJudge.compare(q, cand('Paris', false), cand('Lyon'), pr('correct'));
  assert.equal(v.winner, 'tie', 'a right answer that never ended its turn does not count');
  assert.ok(!verifiableJudge.applies({ messages: q.messages }));
  const chain = chainJudges([verifiableJudge, rulesJudge(c)]);
  v = await chain.compare(q, cand('Lyon.'), cand('Lyon, a city in France, is the capital.'), pr('concise'));
  assert.equal(v.winner, 'a', 'both wrong: the rules decide (the shorter reply)');
  assert.match(v.raw, /^verifiable: correct: a=0 b=0 \| rules: concise/);
  assert.equal(judgeByName('verifiable+rules', c).name, 'verifiable+rules');
  assert.throws(() => judgeByName('oracle', c), /unknown judge 'oracle'/);
});

test('K responses ranked by Copeland score from all C(K,2) verdicts, equal replies tied', async () => {
  const judge = chainJudges([verifiableJudge, rulesJudge(c)]);
  // 3 loses to 0 under every rule (never ends, repeats itself, longer), whichever principle is drawn
  const cands = [cand('Lyon'), cand('Paris'), cand('Paris'), cand('Lyon and Lyon and Lyon and Lyon and Lyon', false)];
  const r = await rankResponses(judge, q, cands, new PrincipleDraw(judge.principles(c), 3));
  assert.deepEqual(r.groups, [[1, 2], [0], [3]]);
  assert.equal(r.judgments.length, 6);
  const both = await rankResponses(judge, q, cands, new PrincipleDraw(judge.principles(c), 3), { bothOrders: true });
  assert.equal(both.judgments.length, 12);
  assert.deepEqual(both.orderAgreement, { agree: 6, n: 6 }, 'a deterministic judge agrees with itself in both orders');
  assert.deepEqual(both.groups, r.groups);
});

test('the principle drawn for each comparison is seeded', () => {
  const ids = (seed: number) => { const d = new PrincipleDraw(c.principles, seed); return Array.from({ length: 12 }, () => d.next().id); };
  assert.deepEqual(ids(5), ids(5));
  assert.notDeepEqual(ids(5), ids(6));
  assert.throws(() => new PrincipleDraw([], 0), /no principle/);
});
