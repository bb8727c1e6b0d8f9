// Rebuilds every reference fixture under test/fixtures with PyTorch (Debian's python3-torch): each
// generator in turn (a make_*.py there whose header names `npm run fixtures`; a generator that needs
// arguments, like export/make_upstream_keys.py, leaves it out), then says which files changed. The
// generators pin torch to one thread and seed everything, so a second run writes the same bytes.
//   npm run fixtures                 (HEED_PYTHON=/path/to/python3 to use another interpreter)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = 'test/fixtures';
const python = process.env.HEED_PYTHON || '/usr/bin/python3';
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

function fail(msg) { console.error(`heed fixtures: ${msg}`); process.exit(1); }

const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', env });
if (probe.error) fail(`cannot run ${python} (${probe.error.code ?? probe.error.message}); install Python 3 with PyTorch (Debian: apt-get install python3-torch) or set HEED_PYTHON`);
if (probe.status !== 0) fail(`${python} has no PyTorch (import torch failed); install it (Debian: apt-get install python3-torch) or set HEED_PYTHON to a python3 that has it`);

/** Every file under test/fixtures, in path order. */
function files(dir = ROOT) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [relative('.', p)];
  });
}
const GENERATORS = files().filter((f) => /(^|\/)make_[^/]*\.py$/.test(f) && readFileSync(f, 'utf8').includes('npm run fixtures'));
if (GENERATORS.length === 0) fail(`no make_*.py generator under ${ROOT}`);

/** sha256 of every fixture file (the Python sources excepted). */
function hashes() {
  return new Map(files().filter((f) => !f.endsWith('.py')).map((f) => [f, createHash('sha256').update(readFileSync(f)).digest('hex')]));
}

const before = hashes();
console.log(`PyTorch ${probe.stdout.trim()} (${python})`);
for (const g of GENERATORS) {
  console.log(`\n== ${g}`);
  const r = spawnSync(python, [g], { stdio: 'inherit', env });
  if (r.status !== 0) fail(`${g} failed (exit ${r.status ?? r.signal})`);
}
const after = hashes();
const changed = [...after].filter(([f, h]) => before.get(f) !== h).map(([f]) => f);
console.log(`\n${after.size} fixture files; ${changed.length ? `changed: ${changed.join(', ')}` : 'none changed'}`);
