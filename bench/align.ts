// `npm run bench -- align --config llama-tiny [--steps N] [--rounds R]`: the reward model's K-way training step
// (4 rankings of K = 4 responses), its scoring throughput, and a DPO step (8 pairs), each in heed
// and in the PyTorch yardstick (the anchor's transformer, bench/torch_align.py) in the same run,
// printed as JSON lines with tokens/s and the ratio.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, heedChild, inTurn, median, runMeasured, torchAnchor, torchBlas } from './common.js';

const config = flag('config', 'llama-tiny'), steps = flag('steps', '5'), rounds = Number(flag('rounds', '3'));
const here = dirname(fileURLToPath(import.meta.url)), anchor = torchAnchor();
const r1 = (x: number) => Math.round(x * 10) / 10;
// the anchor's threading and BLAS settings (run-torch.sh), with its model module on the path
const torchCmd = `export OMP_WAIT_POLICY=\${OMP_WAIT_POLICY:-PASSIVE}; if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=\${OPENBLAS_CORETYPE:-SkylakeX}; fi; exec /usr/bin/python3 "$@"`;
for (const mode of ['reward', 'score', 'dpo']) {
  // heed and PyTorch take turns, `steps` timed steps each per round; each row gives the median over
  // every timed step of its engine
  const runs = { heed: [] as Record<string, unknown>[], torch: [] as Record<string, unknown>[] };
  let torchError: string | null = anchor ? null : 'anchor not found (../shared/anchors/run-torch.sh)', rssHeed = 0, rssTorch = 0;
  const runHeed = () => {
    const h = runMeasured([...heedChild('align-run.ts'), '--mode', mode, '--config', config, '--steps', steps]);
    if (!h.json) { console.error(h.stderr); process.exit(1); }
    runs.heed.push(h.json); rssHeed = Math.max(rssHeed, h.peakRssMb);
  };
  const runTorch = () => {
    if (torchError) return;
    const t = runMeasured(['bash', '-c', torchCmd, 'bash', join(here, 'torch_align.py'), dirname(anchor!), mode, config, '--steps', steps]);
    if (!t.json) { torchError = t.stderr.slice(-300); return; }
    runs.torch.push(t.json); rssTorch = Math.max(rssTorch, t.peakRssMb);
  };
  for (let r = 0; r < rounds; r++) inTurn(r, runHeed, runTorch);
  const summary = (rows: Record<string, unknown>[]) => {
    const xs = rows.flatMap((x) => x.samples as number[]), med = median(xs);
    const tokensPerSequence = Number(rows[0]!.tokens_per_s) / Number(rows[0]!.sequences_per_s);
    return { tokens_per_s: r1(med), min: r1(Math.min(...xs)), max: r1(Math.max(...xs)), steps: xs.length, ...(mode !== 'dpo' ? { sequences_per_s: Math.round((med / tokensPerSequence) * 100) / 100 } : {}) };
  };
  const heed = summary(runs.heed);
  console.log(JSON.stringify({ bench: 'align', engine: 'heed', config, mode, ...heed, peak_rss_mb: rssHeed }));
  if (torchError || !runs.torch.length) { console.log(JSON.stringify({ bench: 'align', mode, engine: 'torch', error: torchError })); continue; }
  const torch = summary(runs.torch), t0 = runs.torch[0]!;
  console.log(JSON.stringify({ bench: 'align', mode, engine: 'torch', torch: t0.torch, config, threads: t0.threads, ...torch, blas: torchBlas(), peak_rss_mb: rssTorch }));
  console.log(JSON.stringify({ bench: 'align', mode, config, ratio: Number((heed.tokens_per_s / torch.tokens_per_s).toFixed(2)), rounds }));
}
