// `npm run bench -- train --config tiny|llama-tiny|gpt2|smollm-135m [--steps N]`: one AdamW training
// step of the preset on random tokens, heed and the PyTorch yardstick in the same run, printed as
// JSON lines with tokens/s and peak memory, then their ratio.
import { flag, heedChild, runMeasured, torchAnchor, torchBlas } from './common.js';

const config = flag('config', 'tiny');
const steps = Number(flag('steps', config === 'tiny' || config === 'llama-tiny' ? '10' : '4'));
const rows: Array<Record<string, unknown>> = [];

const h = runMeasured([...heedChild('train-step.ts'), '--config', config, '--steps', String(steps)]);
if (!h.json) { console.error(h.stderr); process.exit(1); }
const heedRow = { bench: 'train', config, engine: 'heed', ...h.json, peak_rss_mb: h.peakRssMb };
console.log(JSON.stringify(heedRow)); rows.push(heedRow);

const anchor = torchAnchor();
if (anchor) {
  const t = runMeasured(['bash', anchor, 'train', config, '--steps', String(steps)]);
  if (t.json && !t.json.error) {
    const torchRow = { bench: 'train', config, engine: 'torch', tokens_per_s: t.json.tokens_per_s, min: t.json.min, max: t.json.max, loss: t.json.loss, torch: t.json.torch, blas: torchBlas(), peak_rss_mb: t.peakRssMb };
    console.log(JSON.stringify(torchRow));
    console.log(JSON.stringify({ bench: 'train', config, ratio: Number(((heedRow.tokens_per_s as number) / (t.json.tokens_per_s as number)).toFixed(2)), memory_ratio: Number((h.peakRssMb / t.peakRssMb).toFixed(2)) }));
  } else console.log(JSON.stringify({ bench: 'train', config, engine: 'torch', error: t.json?.error ?? t.stderr.slice(-300) }));
} else console.log(JSON.stringify({ bench: 'train', config, engine: 'torch', error: 'anchor not found (../shared/anchors/run-torch.sh)' }));
