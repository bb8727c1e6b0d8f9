// Rebuilds every reference fixture under test/fixtures with PyTorch (Debian's python3-torch), one
// generator after another, and says which files changed. The generators pin torch to one thread and
// seed everything, so a second run writes the same bytes.
//   npm run fixtures                 (HEED_PYTHON=/path/to/python3 to use another interpreter)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const GENERATORS = [
  'test/fixtures/models/make_fixtures.py',
  'test/fixtures/golden/make_golden.py',
  'test/fixtures/optim/make_optim.py',
  'test/fixtures/lora/make_lora.py',
  'test/fixtures/align/make_align.py',
];
const python = process.env.HEED_PYTHON || '/usr/bin/python3';
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

function fail(msg) { console.error(`heed fixtures: ${msg}`); process.exit(1); }

const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', env });
if (probe.error) fail(`cannot run ${python} (${probe.error.code ?? probe.error.message}); install Python 3 with PyTorch (Debian: apt-get install python3-torch) or set HEED_PYTHON`);
if (probe.status !== 0) fail(`${python} has no PyTorch (import torch failed); install it (Debian: apt-get install python3-torch) or set HEED_PYTHON to a python3 that has it`);

/** sha256 of every generated file under the generators' folders (the generators themselves excepted). */
function hashes() {
  const out = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!name.endsWith('.py')) out.set(relative('.', p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  for (const g of GENERATORS) walk(join(g, '..'));
  return out;
}

const before = hashes();
console.log(`PyTorch ${probe.stdout.trim()} (${python})`);
for (const g of GENERATORS) {
  if (!existsSync(g)) fail(`${g} is missing`);
  console.log(`\n== ${g}`);
  const r = spawnSync(python, [g], { stdio: 'inherit', env });
  if (r.status !== 0) fail(`${g} failed (exit ${r.status ?? r.signal})`);
}
const after = hashes();
const changed = [...after].filter(([f, h]) => before.get(f) !== h).map(([f]) => f);
console.log(`\n${after.size} fixture files; ${changed.length ? `changed: ${changed.join(', ')}` : 'none changed'}`);
