// The runs dashboard (`/runs`) and its data: every run folder under a root (a folder holding
// metrics.jsonl or recipe.json), its recipe, and its metrics rows read on from a byte offset so the
// page follows a run while it trains. A run named by the client is looked up among the folders
// found under the root, never joined onto a path, so no name can reach outside it.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { ApiError } from './errors.js';
import { pagePath } from './pages.js';

export interface RunInfo {
  /** path under the root, '/'-separated (`demo/sft`) */
  name: string;
  /** last change of metrics.jsonl or recipe.json, ms since the epoch */
  updated: number;
  hasMetrics: boolean;
}

const MAX_DEPTH = 4;
/** Folders a run keeps inside itself that are never runs: checkpoints and saved models. */
const SKIP = /^(\.|node_modules$|ckpt-)/;
/** Most bytes of metrics one request reads; the page asks again from where it stopped. */
const CHUNK = 4 * 1024 * 1024;

/** Every run folder under root (symbolic links are not followed), newest first. */
export function listRuns(root: string): RunInfo[] {
  const out: RunInfo[] = [];
  const walk = (dir: string, rel: string, depth: number): void => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    const names = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    if (rel && (names.has('metrics.jsonl') || names.has('recipe.json'))) {
      const times = ['metrics.jsonl', 'recipe.json'].filter((f) => names.has(f)).map((f) => statSync(join(dir, f)).mtimeMs);
      out.push({ name: rel, updated: Math.max(...times), hasMetrics: names.has('metrics.jsonl') });
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of entries) if (e.isDirectory() && !SKIP.test(e.name)) walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name, depth + 1);
  };
  walk(root, '', 0);
  return out.sort((a, b) => b.updated - a.updated || a.name.localeCompare(b.name));
}

function findRun(root: string, name: string): string {
  const run = listRuns(root).find((r) => r.name === name);
  if (!run) throw new ApiError(404, `No run named '${name}' under ${root}.`, 'invalid_request_error', 'run', 'run_not_found');
  return join(root, ...run.name.split('/'));
}

export function readRecipe(dir: string): { recipe: unknown; error: string | null } {
  const p = join(dir, 'recipe.json');
  if (!existsSync(p)) return { recipe: null, error: null };
  try { return { recipe: JSON.parse(readFileSync(p, 'utf8')), error: null }; } catch (e) { return { recipe: null, error: `recipe.json: ${(e as Error).message}` }; }
}

export interface MetricsChunk {
  rows: Array<Record<string, unknown>>;
  /** byte offset to ask from next time */
  next: number;
  /** the file is shorter than `from` (rewritten on resume): rows start from the beginning again */
  reset: boolean;
  /** lines that were not JSON objects */
  skipped: number;
  /** the read stopped at the size limit: ask again from `next` at once */
  more: boolean;
}

/** Whole lines of metrics.jsonl from byte `from` on (a line still being written waits). */
export function readMetrics(dir: string, from: number): MetricsChunk {
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return { rows: [], next: 0, reset: from > 0, skipped: 0, more: false };
  const size = statSync(p).size, reset = from > size;
  const start = reset ? 0 : from, n = Math.min(size - start, CHUNK), buf = Buffer.alloc(n);
  const fd = openSync(p, 'r');
  try { readSync(fd, buf, 0, n, start); } finally { closeSync(fd); }
  const end = buf.lastIndexOf(0x0a) + 1, rows: Array<Record<string, unknown>> = [];
  let skipped = 0;
  for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) rows.push(v); else skipped++;
    } catch { skipped++; }
  }
  return { rows, next: start + end, reset, skipped, more: start + n < size && end > 0 };
}

export function runsRoutes(root: string): Hono {
  const app = new Hono();
  app.get('/runs', (c) => c.html(readFileSync(pagePath('runs.html'), 'utf8')));
  app.get('/api/runs', (c) => c.json({ root, runs: listRuns(root) }));
  app.get('/api/runs/run', (c) => {
    const name = c.req.query('name') ?? '', from = Number(c.req.query('from') ?? '0');
    if (!Number.isSafeInteger(from) || from < 0) throw new ApiError(400, `'from' must be a byte offset ≥ 0, got '${c.req.query('from')}'.`, 'invalid_request_error', 'from');
    const dir = findRun(root, name);
    return c.json({ name, ...(from === 0 ? readRecipe(dir) : {}), ...readMetrics(dir, from) });
  });
  return app;
}
