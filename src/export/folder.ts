// An output folder that appears whole or not at all: it is built under a temporary sibling name and
// renamed into place, so a failure half-way leaves nothing that looks like a finished export.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';

/** Refuses an existing non-empty `out` (an export never merges into or overwrites a folder). */
export function checkFreshFolder(out: string, flag = '--out'): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new Error(`${flag} ${out} is a file; give a folder that does not exist yet`);
  if (readdirSync(out).length > 0) throw new Error(`${flag} ${out} already exists and is not empty; remove it or choose another folder`);
}

/** Runs `build(tmp)` on a fresh temporary folder beside `out`, then renames it to `out`. */
export function writeFolderAtomic(out: string, build: (dir: string) => void): void {
  checkFreshFolder(out);
  const parent = dirname(resolve(out));
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    build(tmp);
    if (existsSync(out)) rmSync(out, { recursive: true }); // empty (checked above)
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
