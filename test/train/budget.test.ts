// A time budget on a run with a fixed number of steps: when the first steps show the steps will not
// fit, the schedule is shortened to what fits, so the learning rate still decays to its end, and
// the result says how many steps were planned. Each step here takes at least 20 ms (a busy wait), so
// 1,000 steps can never fit one second, on however fast a machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/core/tensor.js';
import * as op from '../../src/core/ops.js';
import { RunDir } from '../../src/train/checkpoint.js';
import { trainLoop } from '../../src/train/loop.js';

test('a time budget shortens a fixed-step schedule to what fits, and the learning rate still ends decayed', () => {
  const w = Tensor.from(new Float32Array([1, -2, 3]), [3]);
  w.requiresGrad = true;
  const dir = mkdtempSync(join(tmpdir(), 'heed-budget-'));
  const lossOf = () => {
    const until = performance.now() + 20;
    while (performance.now() < until) { /* a slow step */ }
    return { loss: op.sum(op.square(w)), count: 1 };
  };
  const res = trainLoop({ run: new RunDir(dir), params: [['w', w]], data: { next: () => 0, state: () => 0, load: () => {} }, lossOf, steps: 1000, timeBudgetSec: 1, lr: 0.1, warmupRatio: 0.1, minLrRatio: 0.1, quiet: true });
  assert.equal(res.plannedSteps, 1000);
  assert.ok(res.stoppedEarly && res.steps > 10 && res.steps < 1000, `${res.steps} steps`);
  const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; lr: number });
  assert.equal(rows.length, res.steps, 'every step it ran is logged, and it ran to the end of the shortened schedule');
  const last = rows[rows.length - 1]!;
  // the last step's lr is one step short of the floor (0.1 × minLrRatio = 0.01); a run cut halfway
  // through the 1,000-step schedule would still be near 0.055
  assert.ok(last.lr >= 0.01 && last.lr < 0.0125, `the last step's lr ${last.lr} is at the end of the schedule`);

  // without a budget the same run plans and runs every step
  const w2 = Tensor.from(new Float32Array([1, -2, 3]), [3]);
  w2.requiresGrad = true;
  const full = trainLoop({ run: new RunDir(mkdtempSync(join(tmpdir(), 'heed-budget-'))), params: [['w', w2]], data: { next: () => 0, state: () => 0, load: () => {} }, lossOf: () => ({ loss: op.sum(op.square(w2)), count: 1 }), steps: 30, lr: 0.1, quiet: true });
  assert.equal(full.steps, 30);
  assert.ok(!full.stoppedEarly && full.plannedSteps === undefined);
});

test('a time budget counts the evaluations too: a run whose evaluations would overrun it is shortened to fit, and still ends decayed', () => {
  const w = Tensor.from(new Float32Array([1, -2, 3]), [3]);
  w.requiresGrad = true;
  const dir = mkdtempSync(join(tmpdir(), 'heed-budget-'));
  const busy = (ms: number) => { const until = performance.now() + ms; while (performance.now() < until) { /* slow */ } };
  // steps of ≥ 20 ms, an evaluation of ≥ 200 ms every 20 steps (the first after the step-10 sizing):
  // sized on steps alone the plan would take ~50% longer than the budget and hit the 1.25× stop
  const res = trainLoop({
    run: new RunDir(dir), params: [['w', w]], data: { next: () => 0, state: () => 0, load: () => {} },
    lossOf: () => { busy(20); return { loss: op.sum(op.square(w)), count: 1 }; },
    evaluate: () => { busy(200); return 1; }, evalEvery: 20,
    steps: 1000, timeBudgetSec: 2, lr: 0.1, warmupRatio: 0.1, minLrRatio: 0.1, quiet: true,
  });
  const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; lr: number; val_loss?: number });
  assert.equal(rows.length, res.steps);
  const last = rows[rows.length - 1]!;
  assert.ok(last.lr >= 0.01 && last.lr < 0.0125, `the run ended at the end of its (shortened) schedule, lr ${last.lr}, not at the 1.25× stop`);
  assert.ok(last.val_loss !== undefined, 'the last step is evaluated');
  assert.equal(res.plannedSteps, 1000);
});
