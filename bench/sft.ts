// `npm run bench -- sft [--config smollm-135m] [--steps 3]`: SFT throughput and peak memory of
// full fine-tuning, LoRA and QLoRA on one preset, each in its own process (peak RSS is per run).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { flag, runMeasured } from './common.js';

const config = flag('config', 'smollm-135m'), steps = flag('steps', '3'), methods = flag('methods', 'lora,qlora').split(',');
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'heed.js');
const dir = mkdtempSync(join(tmpdir(), 'heed-bench-sft-')), model = join(dir, 'model');
const init = spawnSync(process.execPath, [bin, 'init', '--preset', config, '--out', model], { encoding: 'utf8' });
if (init.status !== 0) { console.error(init.stderr); process.exit(1); }
for (const m of methods) {
  const out = join(dir, m);
  const r = runMeasured([process.execPath, bin, 'sft', '--model', model, '--out', out, '--method', m, '--steps', steps,
    '--recipe', m === 'full' ? 'sft' : `sft-${m}`, '--seq-len', '256', '--batch-size', '4']);
  let res: Record<string, number> = {};
  try { res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')); } catch { console.error(r.stderr.slice(-2000)); }
  console.log(JSON.stringify({ bench: 'sft', config, method: m, steps: Number(steps), tokens_per_s: Math.round(res.tokensPerSec ?? 0), peak_rss_mb: r.peakRssMb }));
}
