// A heed command run in-process through commander, as the bin runs it: what it printed on stdout
// and stderr (console and direct writes alike) and its exit code, with no process per call.
import { Command } from 'commander';

export interface CliRun { out: string; err: string; code: number }

/** A runner for the commands that `register` functions add to a fresh `heed` program. */
export function inProcess(...registers: Array<(program: Command) => void>): (...args: string[]) => Promise<CliRun> {
  return async (...args) => {
    const program = new Command('heed');
    for (const r of registers) r(program);
    const out: string[] = [], err: string[] = [];
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    for (const c of all(program)) c.exitOverride().configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void err.push(s) });
    const write = process.stdout.write, writeErr = process.stderr.write, before = process.exitCode;
    // console.log and console.error write through these too
    process.stdout.write = ((s: string | Uint8Array) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
    process.stderr.write = ((s: string | Uint8Array) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
    let code = 0;
    try {
      await program.parseAsync(['node', 'heed', ...args]);
      code = process.exitCode === undefined ? 0 : Number(process.exitCode);
    } catch (e) {
      code = (e as { exitCode?: number }).exitCode ?? 1;
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
      process.exitCode = before;
    }
    return { out: out.join(''), err: err.join(''), code };
  };
}
