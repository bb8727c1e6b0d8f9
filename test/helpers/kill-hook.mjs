// Test-only preload (`node --import ./test/helpers/kill-hook.mjs bin/heed.js …`) that kills the
// process with SIGKILL at an exact file-system call, so resume tests can land a kill inside a
// checkpoint write, inside a metrics append, or between the two, without any hook in heed itself.
//   HEED_FS_TRACE=FILE   write the sequence of calls [{fn, path}] to FILE at exit
//   HEED_KILL_AT=N       SIGKILL just before the N-th traced call (1-based)
//   HEED_KILL_TORN=1     …after writing the first half of that call's bytes (a torn write)
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const traceFile = process.env.HEED_FS_TRACE, killAt = Number(process.env.HEED_KILL_AT ?? 0), torn = process.env.HEED_KILL_TORN === '1';
const trace = [], paths = new Map();
let n = 0;

function event(fn, path, tearable) {
  n++;
  if (traceFile) trace.push({ fn, path: String(path) });
  if (killAt && n === killAt) {
    if (torn && tearable) tearable();
    process.kill(process.pid, 'SIGKILL');
  }
}

const { openSync, closeSync, writeSync, appendFileSync, renameSync } = fs;
fs.openSync = function (path, ...rest) { const fd = openSync.call(this, path, ...rest); paths.set(fd, String(path)); return fd; };
fs.closeSync = function (fd) { paths.delete(fd); return closeSync.call(this, fd); };
fs.writeSync = function (fd, buf, ...rest) {
  if (fd > 2 && paths.has(fd)) {
    event('writeSync', paths.get(fd), () => {
      const bytes = typeof buf === 'string' ? Buffer.from(buf) : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      writeSync.call(fs, fd, bytes, 0, Math.max(1, bytes.length >> 1));
    });
  }
  return writeSync.call(this, fd, buf, ...rest);
};
fs.appendFileSync = function (path, data, ...rest) {
  event('appendFileSync', path, () => {
    const s = String(data);
    appendFileSync.call(fs, path, s.slice(0, Math.max(1, s.length >> 1)));
  });
  return appendFileSync.call(this, path, data, ...rest);
};
fs.renameSync = function (from, to) { event('renameSync', to); return renameSync.call(this, from, to); };
syncBuiltinESMExports();

if (traceFile) process.on('exit', () => writeFileSyncUnhooked(traceFile, JSON.stringify(trace)));

function writeFileSyncUnhooked(path, text) {
  const fd = openSync(path, 'w');
  writeSync(fd, text);
  closeSync(fd);
}
