// `npm run bench -- align --config llama-tiny [--steps N]`: the reward model's K-way training step
// (4 rankings of K = 4 responses), its scoring throughput, and a DPO step (8 pairs), each in heed
// and in the PyTorch yardstick (the anchor's transformer, bench/torch_align.py) in the same run,
// printed as JSON lines with tokens/s and the ratio.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, heedChild, runMeasured, torchAnchor, torchBlas } from './common.js';

const config = flag('config', 'llama-tiny'), steps = flag('steps', '5');
const here = dirname(fileURLToPath(import.meta.url)), anchor = torchAnchor();
for (const mode of ['reward', 'score', 'dpo']) {
  const h = runMeasured([...heedChild('align-run.ts'), '--mode', mode, '--config', config, '--steps', steps]);
  if (!h.json) { console.error(h.stderr); process.exit(1); }
  const heedRow = { bench: 'align', ...h.json, peak_rss_mb: h.peakRssMb };
  console.log(JSON.stringify(heedRow));
  if (!anchor) { console.log(JSON.stringify({ bench: 'align', mode, engine: 'torch', error: 'anchor not found (../shared/anchors/run-torch.sh)' })); continue; }
  // the anchor's threading and BLAS settings (run-torch.sh), with its model module on the path
  const cmd = `export OMP_WAIT_POLICY=\${OMP_WAIT_POLICY:-PASSIVE}; if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=\${OPENBLAS_CORETYPE:-SkylakeX}; fi; exec /usr/bin/python3 "$@"`;
  const t = runMeasured(['bash', '-c', cmd, 'bash', join(here, 'torch_align.py'), dirname(anchor), mode, config, '--steps', steps]);
  if (!t.json) { console.log(JSON.stringify({ bench: 'align', mode, engine: 'torch', error: t.stderr.slice(-300) })); continue; }
  console.log(JSON.stringify({ bench: 'align', ...t.json, blas: torchBlas(), peak_rss_mb: t.peakRssMb }));
  console.log(JSON.stringify({ bench: 'align', mode, config, ratio: Number(((h.json.tokens_per_s as number) / (t.json.tokens_per_s as number)).toFixed(2)) }));
}
