// Run folders and checkpoints. A checkpoint is a complete folder ckpt-<step>/ (trainable tensors,
// optimizer moments, state.json with step, RNG and data cursor); latest.json, replaced atomically
// after the folder is complete, names the one to resume from. A kill at any moment therefore leaves
// either the old or the new checkpoint, never half of one.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../core/tensor.js';
import { readSafetensors, writeSafetensors, toF32, type TensorData } from '../models/safetensors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { AdamW } from '../nn/optim.js';

export interface MetricRow { step: number; [k: string]: number | string | null }

function td(t: Float32Array, shape: number[]): TensorData { return { dtype: 'F32', shape, data: t }; }

export class RunDir {
  constructor(readonly dir: string) { mkdirSync(dir, { recursive: true }); }

  path(...p: string[]): string { return join(this.dir, ...p); }

  writeRecipe(recipe: unknown): void { writeJsonAtomic(this.path('recipe.json'), recipe); }

  /** Appends one JSON line to metrics.jsonl (a log: appending never loses what is there). */
  log(row: MetricRow): void { appendFileSync(this.path('metrics.jsonl'), JSON.stringify(row) + '\n'); }

  metrics(): MetricRow[] {
    const p = this.path('metrics.jsonl');
    if (!existsSync(p)) return [];
    const rows: MetricRow[] = [];
    // a kill mid-append can leave a torn last line; it is dropped (resume logs that step again)
    for (const l of readFileSync(p, 'utf8').split('\n')) { if (!l) continue; try { rows.push(JSON.parse(l) as MetricRow); } catch { break; } }
    return rows;
  }

  /** Drops metric rows logged after `step` (they will be logged again after a resume). */
  truncateMetrics(step: number): void {
    const keep = this.metrics().filter((r) => r.step <= step);
    writeFileAtomic(this.path('metrics.jsonl'), keep.map((r) => JSON.stringify(r) + '\n').join(''));
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
    const latest = JSON.parse(readFileSync(this.path('latest.json'), 'utf8')) as { checkpoint: string };
    const dir = this.path(latest.checkpoint);
    const w = readSafetensors(join(dir, 'trainable.safetensors')).tensors, o = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown> & { step: number; optimizerStep: number; optimizerSteps: Record<string, number> };
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
    for (const [n, t] of params) {
      const saved = w.get(n);
      if (!saved || saved.shape.join() !== t.shape.join()) throw new Error(`${dir}: checkpoint has no tensor '${n}' of shape [${t.shape}] (was the run started with another recipe?)`);
      t.f32.set(toF32(saved));
      m.set(n, toF32(o.get(`m.${n}`)!).slice()); v.set(n, toF32(o.get(`v.${n}`)!).slice());
    }
    opt.load({ step: state.optimizerStep, steps: new Map(Object.entries(state.optimizerSteps)), m, v });
    return state;
  }
}
