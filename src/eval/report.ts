// The report: one self-contained HTML file (uPlot, from its npm package, inlined; no network) with
// the table across stages, per-family accuracy bars for each stage, and the training curves of the
// run folders (loss and validation loss; score, KL and held-out score for alignment runs).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import type { StageRow } from './stages.js';

const require = createRequire(import.meta.url);

export interface ReportRun { name: string; dir: string }

export interface ReportInput {
  title: string;
  /** stage name → its row (columns in this order) */
  stages: Record<string, StageRow>;
  /** stage name → family → accuracy on held-out examples */
  perFamily: Record<string, Record<string, number>>;
  /** run folders whose metrics.jsonl are drawn */
  runs: ReportRun[];
  /** lines of notes under the table (what each stage is, figures) */
  notes?: string[];
}

const ROWS: Array<[keyof StageRow, string, 'pct' | 'num']> = [
  ['heldout_accuracy', 'held-out examples (accuracy)', 'pct'],
  ['zero_shot_accuracy', 'held-out families, zero-shot', 'pct'],
  ['format_compliance', 'format compliance (ends its turn)', 'pct'],
  ['ifeval_prompt_strict', 'IFEval, prompt-level strict', 'pct'],
  ['reward_score', 'reward-model score (mean)', 'num'],
  ['win_rate_vs_sft', 'win rate vs SFT (judge, both orders)', 'pct'],
];

/** Numeric columns of a run's metrics.jsonl worth drawing, by group. */
const CURVES: Array<[string, string[]]> = [
  ['loss', ['loss', 'val_loss']],
  ['score', ['score', 'val_score', 'val_accuracy']],
  ['KL to the reference', ['kl', 'val_kl']],
  ['accuracy', ['accuracy', 'val_accuracy', 'val_margin']],
];

function readMetrics(dir: string): Array<Record<string, number>> {
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').flatMap((l) => { try { return l.trim() ? [JSON.parse(l) as Record<string, number>] : []; } catch { return []; } });
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function cell(v: number | null | undefined, kind: 'pct' | 'num'): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '<td class="na">–</td>';
  return `<td>${kind === 'pct' ? `${(100 * v).toFixed(1)}%` : v.toFixed(3)}</td>`;
}

/** The report's HTML (charts are drawn by the page from the data embedded in it). */
export function renderReport(r: ReportInput): string {
  const stages = Object.keys(r.stages);
  const table = `<table><thead><tr><th></th>${stages.map((s) => `<th>${esc(s)}</th>`).join('')}</tr></thead><tbody>${
    ROWS.map(([k, label, kind]) => `<tr><th>${esc(label)}</th>${stages.map((s) => cell(r.stages[s]![k] as number | null | undefined, kind)).join('')}</tr>`).join('')}</tbody></table>`;
  const curves = r.runs.map((run) => {
    const rows = readMetrics(run.dir);
    const groups = CURVES.map(([title, cols]) => {
      const present = cols.filter((c) => rows.some((x) => typeof x[c] === 'number'));
      if (!present.length) return null;
      // rows without a column's value (validation every N steps) leave gaps, as uPlot draws nulls
      return { title, x: rows.map((x) => x.step), series: present.map((c) => ({ label: c, values: rows.map((x) => (typeof x[c] === 'number' ? x[c] : null)) })) };
    }).filter((g) => g !== null);
    return { name: run.name, groups };
  }).filter((c) => c.groups.length);
  const families = [...new Set(Object.values(r.perFamily).flatMap((f) => Object.keys(f)))].sort();
  const data = { curves, bars: { families, stages: Object.keys(r.perFamily), values: Object.keys(r.perFamily).map((s) => families.map((f) => r.perFamily[s]![f] ?? null)) } };
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>${css}
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:right}
thead th{border-bottom:2px solid #888}tbody th{text-align:left;font-weight:500}td.na{color:#aaa}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eee;padding:.4rem}h2{margin-top:2.2rem}
.notes{color:#555}.note{margin:.2rem 0}
</style></head><body>
<h1>${esc(r.title)}</h1>
${table}
<div class="notes">${(r.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join('')}</div>
<h2>Held-out accuracy by task family</h2>
<div class="charts" id="bars"></div>
<h2>Training curves</h2>
<div id="curves"></div>
<script type="application/json" id="data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script>${js}</script>
<script>
const D = JSON.parse(document.getElementById('data').textContent);
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
function chart(el, title, x, series, opts) {
  const box = document.createElement('div'); box.className = 'chart'; el.appendChild(box);
  return new uPlot(Object.assign({ title, width: 520, height: 240, series: [{}].concat(series.map((s, i) => Object.assign({ label: s.label, stroke: colors[i % colors.length], width: 1.5, spanGaps: true }, s.extra || {}))), scales: { x: { time: false } } }, opts || {}), [x].concat(series.map((s) => s.values)), box);
}
const bars = document.getElementById('bars'), fx = D.bars.families.map((_, i) => i);
D.bars.stages.forEach((stage, k) => chart(bars, stage, fx, [{ label: stage, values: D.bars.values[k], extra: { fill: colors[k % colors.length] + '88', paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } } }],
  { width: 520, scales: { x: { time: false, range: [-0.5, fx.length - 0.5] }, y: { range: [0, 1] } }, axes: [{ values: (u, ticks) => ticks.map((t) => D.bars.families[t] || ''), rotate: -60, size: 90, space: 8 }, {}] }));
const curves = document.getElementById('curves');
for (const run of D.curves) {
  const h = document.createElement('h3'); h.textContent = run.name; curves.appendChild(h);
  const row = document.createElement('div'); row.className = 'charts'; curves.appendChild(row);
  for (const g of run.groups) chart(row, g.title, g.x, g.series);
}
document.body.dataset.rendered = String(document.querySelectorAll('canvas').length);
</script></body></html>
`;
}

export function writeReport(file: string, r: ReportInput): void { writeFileAtomic(file, renderReport(r)); }
