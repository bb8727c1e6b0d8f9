// Shared by the model benchmarks: flags, the PyTorch yardstick, and peak-RSS measurement of a child.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const here = dirname(fileURLToPath(import.meta.url));

const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3';

/**
 * ../shared/anchors/run-torch.sh beside the repository, or HEED_TORCH_ANCHOR. Debian's torch uses
 * whatever libblas.so.3 is installed; with only the netlib reference BLAS it runs ~12x slower than
 * on OpenBLAS, which would flatter heed, so the yardstick gets Debian's OpenBLAS first.
 */
export function torchAnchor(): string | null {
  const p = process.env.HEED_TORCH_ANCHOR ?? resolve(here, '..', '..', 'shared', 'anchors', 'run-torch.sh');
  if (!existsSync(p)) return null;
  if (!existsSync(OPENBLAS)) spawnSync('bash', ['-c', 'apt-get install -y -qq libopenblas0-pthread || (apt-get update -qq && apt-get install -y -qq libopenblas0-pthread)'], { stdio: 'ignore' });
  return p;
}

/** Which BLAS the yardstick's torch runs on. */
export const torchBlas = () => (existsSync(OPENBLAS) ? 'openblas-pthread' : 'reference');

/**
 * Runs a command and returns its last JSON line plus the peak RSS (MB) of its process tree's
 * largest member (getrusage of children, read by a tiny python wrapper).
 */
export function runMeasured(cmd: string[], env: NodeJS.ProcessEnv = process.env): { json: Record<string, unknown> | null; peakRssMb: number; stderr: string } {
  const wrapper = 'import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nsys.stdout.write(r.stdout)\nsys.stderr.write(r.stderr)\nprint("RSS_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('/usr/bin/python3', ['-c', wrapper, ...cmd], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const lines = (r.stdout ?? '').trim().split('\n');
  const rss = Number(lines.find((l) => l.startsWith('RSS_KB'))?.split(' ')[1] ?? 0);
  const jsonLine = [...lines].reverse().find((l) => l.startsWith('{'));
  return { json: jsonLine ? JSON.parse(jsonLine) : null, peakRssMb: Math.round(rss / 1024), stderr: r.stderr ?? '' };
}

export const heedChild = (script: string) => [process.execPath, '--import', 'tsx', join(here, script)];

/**
 * One round of two engines taking turns, ABBA: `a` first in even rounds, `b` first in odd ones, so
 * load on a shared machine that comes and goes falls on both rather than on whichever ran during it.
 */
export function inTurn(round: number, a: () => void, b: () => void): void {
  if (round % 2 === 0) { a(); b(); } else { b(); a(); }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Strict flags: `--name value` pairs, each named in `spec` with its allowed values (or a check);
 * an unknown flag, a missing value or a value outside the allowed ones is an error, not ignored.
 */
export function parseFlags<K extends string>(spec: Record<K, { default: string; values?: readonly string[]; check?: (v: string) => boolean; help: string }>, argv = process.argv.slice(2)): Record<K, string> {
  const out = Object.fromEntries(Object.entries(spec).map(([k, s]) => [k, (s as { default: string }).default])) as Record<K, string>;
  const fail = (msg: string): never => {
    const usage = Object.entries(spec).map(([k, s]) => `  --${k} ${(s as { values?: readonly string[] }).values?.join('|') ?? '<n>'}  ${(s as { help: string }).help}`).join('\n');
    console.error(`bench: ${msg}\n${usage}`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i]!, v = argv[i + 1];
    if (!a.startsWith('--') || !(a.slice(2) in spec)) fail(`unknown flag '${a}'`);
    const k = a.slice(2) as K, s = spec[k];
    if (v === undefined || v.startsWith('--')) fail(`${a} needs a value`);
    if ((s.values && !s.values.includes(v!)) || (s.check && !s.check(v!))) fail(`${a} ${v} is not one of ${s.values?.join(', ') ?? 'the allowed values'}`);
    out[k] = v!;
  }
  return out;
}

/** Which vector unit the addon was built for (avx512, avx2 or scalar; none without the addon), since figures differ by machine class. */
export function addonSimd(addon: { simd?: unknown } | null | undefined): string {
  if (!addon) return 'none';
  return typeof addon.simd === 'function' ? (addon.simd as () => string)() : 'unknown';
}
