// The CI smoke test of the whole journey: `heed demo --quick` pretrains, builds data, fine-tunes,
// samples and judges responses, trains a reward model, runs PPO, DPO and GRPO, evaluates every
// stage, and writes summary.json and report.html. A fixed number of steps per stage, so the run
// is the same on every machine; how long it takes is a benchmark's business, not this test's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('heed demo --quick runs every stage from pretraining to RLHF and writes summary.json and report.html', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'heed-demo-')), 'demo');
  const r = spawnSync(process.execPath, ['bin/heed.js', 'demo', '--quick', '--out', out], { encoding: 'utf8', env: { ...process.env, HEED_PLAIN_PROGRESS: '1' } });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(Object.keys(s.stages), ['base', 'sft', 'ppo', 'dpo', 'grpo']);
  const inUnit = (x: unknown) => typeof x === 'number' && x >= 0 && x <= 1;
  for (const [stage, row] of Object.entries(s.stages) as Array<[string, Record<string, number>]>) {
    for (const k of ['heldout_accuracy', 'zero_shot_accuracy', 'format_compliance']) assert.ok(inUnit(row[k]), `${stage}.${k} = ${row[k]}`);
    assert.ok(Number.isFinite(row.reward_score), `${stage}.reward_score`);
    if (['ppo', 'dpo', 'grpo'].includes(stage)) assert.ok(inUnit(row.win_rate_vs_sft), `${stage}.win_rate_vs_sft`);
  }
  // the base model has never seen a chat turn end; fine-tuning teaches it to
  assert.ok(s.stages.sft.format_compliance > s.stages.base.format_compliance, JSON.stringify(s.stages));
  assert.ok(inUnit(s.reward_model.heldout_pairwise_accuracy) && s.reward_model.heldout_pairs > 0);
  assert.ok(s.preferences.rankings > 0 && s.preferences.responses === 4 * s.preferences.prompts);
  assert.ok(Number.isFinite(s.ppo.kl) && Number.isFinite(s.pretrain.perplexity) && s.pretrain.capitals_recalled >= 0);
  assert.match(r.stdout, /held-out examples/);
  // the default 30-minute budget is far from binding on the quick recipes: every stage ran in full
  assert.equal(s.budget_minutes, 30);
  assert.ok(!s.sft.stopped_early && s.sft.planned_steps === s.sft.steps && !s.ppo.stopped_early && !s.grpo.stopped_early && !s.pretrain.stopped_early, JSON.stringify({ sft: s.sft, ppo: s.ppo, grpo: s.grpo }));
  assert.match(r.stdout, /budget 30 min: pretraining \d+ steps, SFT \d+, DPO \d+, PPO (\d+) of \1 iterations, GRPO (\d+) of \2\n/);
  assert.equal(s.dpo.steps, s.dpo.planned_steps);
  for (const f of ['pretrain/model/config.json', 'sft/best/model.safetensors', 'feedback.db', 'reward/final/config.json', 'ppo/final/model.safetensors', 'dpo/final/model.safetensors', 'grpo/final/model.safetensors', 'ppo/metrics.jsonl', 'eval.json', 'report.html']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'reward/final/config.json'), 'utf8')).architectures, ['LlamaForSequenceClassification']);
});
