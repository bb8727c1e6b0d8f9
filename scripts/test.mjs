// Runs every test file under test/ with node's own test runner (TypeScript through tsx).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== 'fixtures' && name !== 'node_modules') out.push(...walk(p)); }
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
// The CLI tests run the compiled bin, so bring dist/ up to date first (incremental, fast).
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const filter = process.argv.slice(2);
let files = walk('test');
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
// The browser tests need Debian's chromium; install it once here, before files run side by side
// (two apt-get runs at once would fight over dpkg's lock). The tests' own helper does the same
// when a single file is run by hand.
if (!existsSync('/usr/bin/chromium') && files.some((f) => /serve\/(pages|rank-page)|eval\/report/.test(f))) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (up.status === 0) spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}
// Two files at a time: most tests wait on child processes, servers or a browser, so the second core
// is otherwise idle. Each test process then gets one kernel thread (unless HEED_THREADS says
// otherwise), since two processes spinning two OpenMP threads each on two cores slow each other.
const jobs = Math.max(1, Math.min(2, Number(process.env.HEED_TEST_JOBS ?? 2)));
const env = { ...process.env, ...(jobs > 1 && !process.env.HEED_THREADS ? { HEED_THREADS: '1' } : {}) };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${jobs}`, ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
