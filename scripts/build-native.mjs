// Builds the native addon from source at install time (node-gyp, no downloads).
// A failed build is not fatal: heed then runs on its TypeScript reference kernels and says so.
// With HEED_REQUIRE_NATIVE=1 a failed build fails the install, so CI can never hide it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'binding.gyp'))) process.exit(0);
const require = createRequire(import.meta.url);
let gyp;
try { gyp = require.resolve('node-gyp/bin/node-gyp.js'); } catch { gyp = null; }
const args = gyp ? [gyp, 'rebuild'] : [];
const r = gyp
  ? spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env })
  : { status: 1 };
if (r.status !== 0) {
  const msg = 'heed: the native addon could not be built; heed will run on its (much slower) TypeScript kernels.';
  if (process.env.HEED_REQUIRE_NATIVE === '1') { console.error(msg + ' HEED_REQUIRE_NATIVE=1, so this is an error.'); process.exit(1); }
  console.error(msg);
}
