// `npm run bench -- gen --config gpt2 --batch 1|8 [--new 128]`: decoding speed with a KV cache and
// full-vocabulary sampling, heed and the PyTorch yardstick in the same run, as JSON lines.
import { flag, heedChild, runMeasured, torchAnchor, torchBlas } from './common.js';

const config = flag('config', 'gpt2'), batch = flag('batch', '1'), fresh = flag('new', '128');
const h = runMeasured([...heedChild('gen-run.ts'), '--config', config, '--batch', batch, '--new', fresh]);
if (!h.json) { console.error(h.stderr); process.exit(1); }
const heedRow = { bench: 'gen', config, engine: 'heed', batch: Number(batch), ...h.json, peak_rss_mb: h.peakRssMb };
console.log(JSON.stringify(heedRow));
const anchor = torchAnchor();
if (anchor) {
  const t = runMeasured(['bash', anchor, 'gen', config, '--batch', batch, '--new', fresh]);
  if (t.json && !t.json.error) {
    console.log(JSON.stringify({ bench: 'gen', config, engine: 'torch', batch: Number(batch), tokens_per_s: t.json.tokens_per_s, min: t.json.min, max: t.json.max, torch: t.json.torch, blas: torchBlas(), peak_rss_mb: t.peakRssMb }));
    console.log(JSON.stringify({ bench: 'gen', config, batch: Number(batch), ratio: Number(((heedRow.tokens_per_s as number) / (t.json.tokens_per_s as number)).toFixed(2)), memory_ratio: Number((h.peakRssMb / t.peakRssMb).toFixed(2)) }));
  } else console.log(JSON.stringify({ bench: 'gen', config, engine: 'torch', error: t.json?.error ?? t.stderr.slice(-300) }));
}
