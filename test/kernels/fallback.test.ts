// Without the native addon heed still runs, on the TypeScript kernels, and says so once on stderr;
// with HEED_REQUIRE_NATIVE=1 a missing addon is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const script = `
  const { loadNative, nativeKernelNames } = await import('./src/kernels/native.ts');
  const { K, refKernels } = await import('./src/core/kernels.ts');
  const op = await import('./src/core/ops.ts');
  const { Tensor } = await import('./src/core/tensor.ts');
  loadNative(); loadNative();
  const y = op.matmul(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([1, 0, 0, 1], [2, 2]));
  const missing = Object.keys(refKernels).filter((k) => k !== 'name' && !nativeKernelNames().includes(k));
  console.log(K().name, y.toArray().join(','), missing.length ? 'missing:' + missing.join(',') : 'all-native');`;

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, HEED_REQUIRE_NATIVE: '', ...env } });
}

test('a missing addon falls back to the TypeScript kernels with one notice', () => {
  const r = run({ HEED_NATIVE_ADDON: '/nonexistent/heed_native.node' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^ref 1,2,3,4 missing:gemm,/);
  assert.equal(r.stderr.match(/native kernels unavailable/g)?.length, 1);
});

test('HEED_REQUIRE_NATIVE=1 turns a missing addon into an error', () => {
  const r = run({ HEED_NATIVE_ADDON: '/nonexistent/heed_native.node', HEED_REQUIRE_NATIVE: '1' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /native addon required \(HEED_REQUIRE_NATIVE=1\)/);
});

test('the built addon loads and provides every kernel', () => {
  const r = run({ HEED_REQUIRE_NATIVE: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'native 1,2,3,4 all-native');
});
