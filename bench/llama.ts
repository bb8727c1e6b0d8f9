// The llama.cpp anchor for decoding: llama-bench built natively (-DGGML_NATIVE=ON, Release, OpenMP)
// from the llama.cpp source that node-llama-cpp ships (llama/gitRelease.bundle), cached under
// .heed-cache/; and GGUF files of a preset's shapes for it to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = join(root, '.heed-cache');
const SRC = join(CACHE, 'llama.cpp');
const LLAMA_DIR = join(root, 'test', 'llama');

/** The llama-bench binary (HEED_LLAMA_BENCH, or the cached build), or null when not built. */
export function llamaBenchPath(): string | null {
  const p = process.env.HEED_LLAMA_BENCH ?? join(SRC, 'build', 'bin', 'llama-bench');
  return existsSync(p) ? p : null;
}

/**
 * Clones the bundle node-llama-cpp ships (installing test/llama first if needed) and builds only
 * llama-bench, niced and under the heavy-jobs lock (about 5 to 25 minutes on two cores).
 */
export function buildLlamaBench(): string {
  const bundle = join(LLAMA_DIR, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
  if (!existsSync(bundle)) execFileSync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: LLAMA_DIR, stdio: 'inherit' });
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(join(SRC, 'CMakeLists.txt'))) execFileSync('git', ['clone', '--quiet', bundle, SRC], { stdio: 'inherit' });
  const steps = [
    `cmake -S "${SRC}" -B "${SRC}/build" -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF`,
    `cmake --build "${SRC}/build" --target llama-bench -j 2`,
  ].join(' && ');
  const r = spawnSync('flock', ['/tmp/heed-heavy.lock', 'nice', '-n', '10', 'bash', '-c', steps], { stdio: 'inherit' });
  const bin = llamaBenchPath();
  if (r.status !== 0 || !bin) throw new Error('building llama-bench failed (see the cmake output above)');
  return bin;
}

export interface LlamaBenchResult { tokens_per_s: number; best: number; stddev: number; threads: number; build: string; samples: number[] }

/**
 * `llama-bench -t 2 -n N -d 16 -p 0 -r R` on a GGUF: generation speed after a 16-token context, the
 * mean, the best and every one of R runs (default 5). With `prompt` > 0 instead
 * `llama-bench -t 2 -p P -n 0 -r R`: prompt processing (the prefill of a P-token prompt).
 */
export function runLlamaBench(bin: string, gguf: string, o: { threads: number; newTokens: number; depth: number; reps?: number; prompt?: number }): LlamaBenchResult {
  const pp = (o.prompt ?? 0) > 0;
  const shape = pp ? ['-n', '0', '-p', String(o.prompt)] : ['-n', String(o.newTokens), '-d', String(o.depth), '-p', '0'];
  const r = spawnSync(bin, ['-m', gguf, '-t', String(o.threads), ...shape, '-r', String(o.reps ?? 5), '-o', 'json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`llama-bench failed: ${(r.stderr ?? '').slice(-400)}`);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const tg = rows.find((x) => Number(pp ? x.n_prompt : x.n_gen) > 0);
  if (!tg) throw new Error(`llama-bench printed no ${pp ? 'prompt-processing' : 'generation'} row: ${r.stdout.slice(0, 300)}`);
  const samples = (tg.samples_ts as number[] | undefined) ?? [Number(tg.avg_ts)];
  return { tokens_per_s: Number(tg.avg_ts), best: Math.max(...samples), stddev: Number(tg.stddev_ts), threads: Number(tg.n_threads), build: String(tg.build_commit), samples: samples.map(Number) };
}
