// Run folders and checkpoints. A checkpoint is a complete folder ckpt-<step>/ (trainable tensors,
// optimizer moments, state.json with step, RNG and data cursor); latest.json, replaced atomically
// after the folder is complete, names the one to resume from. A kill at any moment therefore leaves
// either the old or the new checkpoint, never half of one. A run folder is claimed by one recipe:
// a resume with another recipe, or a fresh start over existing checkpoints, is refused.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../core/tensor.js';
import { readSafetensors, writeSafetensors, toF32, type TensorData } from '../models/safetensors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { readJson } from '../util/text.js';
import type { AdamW } from '../nn/optim.js';

export interface MetricRow { step: number; [k: string]: number | string | null }

function td(t: Float32Array, shape: number[]): TensorData { return { dtype: 'F32', shape, data: t }; }

/** What a run's outputs are called, removed by --overwrite (and only these). */
const RUN_FILES = ['latest.json', 'metrics.jsonl', 'result.json', 'recipe.json'];
const RUN_DIRS = /^(ckpt-\d+|best|final|model)$/;

/** Keys of two plain JSON values that differ, as dotted paths. */
function diffKeys(a: unknown, b: unknown, path = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(recipe)'];
}

export interface StartOptions { resume?: boolean | undefined; overwrite?: boolean | undefined }

export class RunDir {
  constructor(readonly dir: string) {}

  path(...p: string[]): string { return join(this.dir, ...p); }

  /**
   * Claims the folder for `recipe` before any work starts, and only then writes recipe.json:
   * - resume: the folder's recipe must be this one (else an error listing what differs);
   * - no resume: the folder must not hold a run (checkpoints or metrics), unless `overwrite`,
   *   which removes that run's files first.
   * Leftover temporary files of a killed write are removed.
   */
  start(recipe: Record<string, unknown>, o: StartOptions = {}): void {
    this.check(recipe, o);
    if (!o.resume && this.holdsRun()) {
      for (const f of RUN_FILES) rmSync(this.path(f), { force: true });
      for (const d of readdirSync(this.dir)) if (RUN_DIRS.test(d)) rmSync(this.path(d), { recursive: true, force: true });
    }
    mkdirSync(this.dir, { recursive: true });
    for (const d of readdirSync(this.dir)) if (/\.tmp-\d+-[0-9a-f]+$/.test(d)) rmSync(this.path(d), { recursive: true, force: true });
    writeJsonAtomic(this.path('recipe.json'), recipe);
  }

  /** The checks of start() alone, so a stage can refuse before it spends time preparing data. */
  check(recipe: Record<string, unknown>, o: StartOptions = {}): void {
    if (existsSync(this.dir) && !statSync(this.dir).isDirectory()) throw new Error(`${this.dir}: is a file, expected a run folder`);
    const recipePath = this.path('recipe.json'), held = this.holdsRun();
    if (o.resume && existsSync(recipePath)) {
      const saved = readJson(recipePath);
      const diff = diffKeys(saved, JSON.parse(JSON.stringify(recipe)));
      if (diff.length) throw new Error(`${this.dir}: --resume with a different recipe than the run was started with (${diff.join(', ')} differ${diff.length === 1 ? 's' : ''}); resume with the same settings, or start over with --overwrite`);
    } else if (!o.resume && held) {
      if (!o.overwrite) throw new Error(`${this.dir} holds a run (${held}); pass --resume to continue it, or --overwrite to start over`);
    }
  }

  /** What makes the folder a run that a fresh start would destroy, or null. */
  private holdsRun(): string | null {
    if (!existsSync(this.dir)) return null;
    if (existsSync(this.path('latest.json'))) return 'a checkpoint';
    if (readdirSync(this.dir).some((d) => d.startsWith('ckpt-'))) return 'checkpoint folders';
    if (this.metrics().length) return 'metrics.jsonl with logged steps';
    return null;
  }

  /** Appends one JSON line to metrics.jsonl (a log: appending never loses what is there). */
  log(row: MetricRow): void { appendFileSync(this.path('metrics.jsonl'), JSON.stringify(row) + '\n'); }

  /**
   * The logged rows. A kill mid-append can tear the last line: an unparsable line is dropped on
   * its own, and every other row is kept.
   */
  metrics(): MetricRow[] {
    const p = this.path('metrics.jsonl');
    if (!existsSync(p)) return [];
    const rows: MetricRow[] = [];
    // not read strictly: a kill can tear the last line inside a multi-byte character, and that line
    // is dropped below like any other torn line
    for (const l of readFileSync(p, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      try {
        const r = JSON.parse(l) as MetricRow;
        if (typeof r === 'object' && r !== null && typeof r.step === 'number') rows.push(r);
      } catch { /* a torn line */ }
    }
    return rows;
  }

  /** Keeps the rows logged up to `step` (a resume logs the later ones again). */
  truncateMetrics(step: number): void {
    const p = this.path('metrics.jsonl');
    if (!existsSync(p)) return;
    const keep = this.metrics().filter((r) => r.step <= step);
    writeFileAtomic(p, keep.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  /** Saves trainable tensors, optimizer state and loop state as ckpt-<step>/, then points latest.json at it. */
  saveCheckpoint(step: number, params: Array<[string, Tensor]>, opt: AdamW, state: Record<string, unknown>): void {
    const name = `ckpt-${step}`, dir = this.path(name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const weights = new Map<string, TensorData>(), moments = new Map<string, TensorData>();
    for (const [n, t] of params) weights.set(n, td(t.f32, t.shape));
    const st = opt.state();
    for (const [n, t] of params) {
      moments.set(`m.${n}`, td(st.m.get(n)!, t.shape));
      moments.set(`v.${n}`, td(st.v.get(n)!, t.shape));
    }
    writeSafetensors(join(dir, 'trainable.safetensors'), weights, { step: String(step) });
    writeSafetensors(join(dir, 'optimizer.safetensors'), moments, { step: String(step) });
    writeJsonAtomic(join(dir, 'state.json'), { ...state, step, optimizerStep: st.step, optimizerSteps: Object.fromEntries(st.steps) });
    writeJsonAtomic(this.path('latest.json'), { checkpoint: name, step });
    for (const d of readdirSync(this.dir)) if (d.startsWith('ckpt-') && d !== name) rmSync(this.path(d), { recursive: true, force: true });
  }

  hasCheckpoint(): boolean { return existsSync(this.path('latest.json')); }

  /** Restores trainable tensors and optimizer moments in place; returns the saved loop state. */
  loadCheckpoint(params: Array<[string, Tensor]>, opt: AdamW): Record<string, unknown> & { step: number } {
    const latestPath = this.path('latest.json'), latest = readJson(latestPath) as { checkpoint?: unknown };
    if (typeof latest !== 'object' || latest === null || typeof latest.checkpoint !== 'string' || !/^ckpt-\d+$/.test(latest.checkpoint)) {
      throw new Error(`${latestPath}: does not name a checkpoint folder (expected {"checkpoint": "ckpt-N"}); start over with --overwrite`);
    }
    const dir = this.path(latest.checkpoint);
    if (!existsSync(join(dir, 'state.json'))) throw new Error(`${latestPath}: names ${latest.checkpoint}, which is missing or incomplete; start over with --overwrite`);
    const w = readSafetensors(join(dir, 'trainable.safetensors')).tensors, o = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
    const state = readJson(join(dir, 'state.json')) as Record<string, unknown> & { step: number; optimizerStep: number; optimizerSteps: Record<string, number> };
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
    for (const [n, t] of params) {
      const saved = w.get(n), sm = o.get(`m.${n}`), sv = o.get(`v.${n}`);
      if (!saved || saved.shape.join() !== t.shape.join() || !sm || !sv) throw new Error(`${dir}: checkpoint has no tensor '${n}' of shape [${t.shape}] (was the run started with another recipe?)`);
      t.f32.set(toF32(saved));
      m.set(n, toF32(sm).slice()); v.set(n, toF32(sv).slice());
    }
    opt.load({ step: state.optimizerStep, steps: new Map(Object.entries(state.optimizerSteps ?? {})), m, v });
    return state;
  }
}
