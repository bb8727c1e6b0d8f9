// Small helpers shared by the commands: number parsing with clear errors, checks on output paths,
// and error reporting.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

/** `v` as a number, where Number() alone would read '' and '  ' as 0. */
function num(v: string): number {
  return v.trim() === '' ? NaN : Number(v);
}

/** An integer flag, optionally bounded: `int('--steps', 1)` accepts 1, 2, …. */
export function int(name: string, min?: number, max?: number) {
  return (v: string): number => {
    const n = num(v);
    const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` ≥ ${min}` : max !== undefined ? ` ≤ ${max}` : '';
    if (!Number.isInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
      throw new InvalidArgumentError(`${name} must be an integer${range}, got '${v}'`);
    }
    return n;
  };
}

export function float(name: string) {
  return (v: string): number => {
    const n = num(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

/** A flag that takes one of `values`: `oneOf('--weights', DECODE_WEIGHTS)`. */
export function oneOf<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/**
 * Checks that `dir` can become an output folder: not a file, and (with `empty`) not a folder that
 * already holds something, so a typo never writes into, or over, someone's files.
 */
export function checkOutDir(flag: string, dir: string, opts: { empty?: boolean } = {}): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${flag} ${dir}: is a file, expected a folder`);
  if (opts.empty && readdirSync(dir).length > 0) throw new Error(`${flag} ${dir}: the folder is not empty; remove it or choose another`);
}

/** The message of anything thrown, with the `heed: ` that library errors start with taken off. */
export function errorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^heed: /, '');
}

/** Runs a command body, printing `heed: message` and exiting 1 on error instead of a stack trace. */
export async function guard(fn: () => unknown | Promise<unknown>): Promise<void> {
  try { await fn(); } catch (e) {
    process.stderr.write(`heed: ${errorMessage(e)}\n`);
    if (process.env.HEED_DEBUG) console.error(e);
    process.exitCode = 1;
  }
}
