// Crash-safe file writes: every file heed writes goes to a temporary name beside the target, is
// fsynced, then renamed over it, so a kill leaves either the old file or the new one, never half.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

export type FileData = string | Uint8Array | ArrayBufferView | readonly ArrayBufferView[];

function asBytes(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * Write `data` to `path` atomically. Parent directories are created. An array of views is written
 * in order without first concatenating it (large checkpoints would otherwise be copied once more).
 */
export function writeFileAtomic(path: string, data: FileData): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    if (typeof data === 'string') writeAll(fd, Buffer.from(data, 'utf8'));
    else if (Array.isArray(data)) for (const part of data as readonly ArrayBufferView[]) writeAll(fd, asBytes(part));
    else writeAll(fd, asBytes(data as ArrayBufferView));
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename is only durable once the directory entry is; not every platform lets us open a dir.
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* best effort (e.g. Windows) */ }
}

/** JSON.stringify with 2-space indent and a trailing newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
