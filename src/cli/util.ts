// Small helpers shared by the commands: number parsing with clear errors, and error reporting.
import { InvalidArgumentError } from 'commander';

export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got '${v}'`);
    return n;
  };
}

export function float(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

/** Runs a command body, printing `heed: message` and exiting 1 on error instead of a stack trace. */
export async function guard(fn: () => unknown | Promise<unknown>): Promise<void> {
  try { await fn(); } catch (e) {
    process.stderr.write(`heed: ${(e as Error).message}\n`);
    if (process.env.HEED_DEBUG) console.error(e);
    process.exitCode = 1;
  }
}
