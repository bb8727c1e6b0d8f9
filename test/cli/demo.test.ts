// The CI smoke test of the whole first half of the pipeline: `heed demo --quick` pretrains,
// builds data, fine-tunes and evaluates for real, within 3 minutes, and writes summary.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('heed demo --quick runs pretrain → data → sft → eval and writes summary.json', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'heed-demo-')), 'demo');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['bin/heed.js', 'demo', '--quick', '--out', out], { encoding: 'utf8', env: { ...process.env, HEED_PLAIN_PROGRESS: '1' } });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.ok((Date.now() - t0) / 1000 < 180, 'under 3 minutes');
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  for (const stage of ['base', 'sft']) for (const k of ['heldout_accuracy', 'zero_shot_accuracy', 'format_compliance']) {
    assert.ok(Number.isFinite(s.stages[stage][k]) && s.stages[stage][k] >= 0 && s.stages[stage][k] <= 1, `${stage}.${k}`);
  }
  assert.ok(s.seconds > 0 && Number.isFinite(s.pretrain.perplexity));
  assert.ok(Number.isFinite(s.pretrain.copy_first_reading) && Number.isFinite(s.pretrain.copy_second_reading));
  assert.ok(s.pretrain.capitals_recalled >= 0 && s.pretrain.capitals_recalled <= 1);
  // the base model has never seen a chat turn end; fine-tuning teaches it to
  assert.ok(s.stages.sft.format_compliance > s.stages.base.format_compliance, JSON.stringify(s.stages));
  assert.match(r.stdout, /held-out examples/);
  for (const f of ['pretrain/model/config.json', 'pretrain/model/tokenizer.json', 'pretrain/metrics.jsonl', 'sft/best/model.safetensors', 'eval.json']) assert.ok(existsSync(join(out, f)), f);
});
