// Loads the native addon (build/Release/heed_native.node) and registers its kernels into core.
// Any kernel the addon does not export falls back to the TypeScript reference, so a partial addon
// still runs. Without the addon heed runs on the reference kernels and says so once on stderr;
// with HEED_REQUIRE_NATIVE=1 a missing addon is an error.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { refKernels, registerNative, type Kernels } from '../core/kernels.js';

export interface NativeAddon { threads(n?: number): number; [name: string]: unknown }

let addon: NativeAddon | null = null;
let tried = false;

function findAddon(): string | null {
  // HEED_NATIVE_ADDON points at another build (or at nothing, to run on the TypeScript kernels)
  if (process.env.HEED_NATIVE_ADDON !== undefined) return existsSync(process.env.HEED_NATIVE_ADDON) ? process.env.HEED_NATIVE_ADDON : null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'build', 'Release', 'heed_native.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

/** Loads the addon once and registers it; returns it, or null when unavailable. */
export function loadNative(): NativeAddon | null {
  if (tried) return addon;
  tried = true;
  const path = findAddon();
  let why = `${process.env.HEED_NATIVE_ADDON ?? 'build/Release/heed_native.node'} was not found (run \`npm install\` to build it)`;
  if (path) {
    try {
      addon = createRequire(import.meta.url)(path) as NativeAddon;
    } catch (e) { why = `it failed to load: ${(e as Error).message}`; }
  }
  if (!addon) {
    if (process.env.HEED_REQUIRE_NATIVE === '1') throw new Error(`heed: native addon required (HEED_REQUIRE_NATIVE=1) but ${why}`);
    process.stderr.write(`heed: native kernels unavailable (${why}); using the slower TypeScript kernels.\n`);
    return null;
  }
  const k: Record<string, unknown> = { ...refKernels, name: 'native' };
  for (const key of Object.keys(refKernels)) {
    if (key !== 'name' && typeof addon[key] === 'function') k[key] = addon[key];
  }
  registerNative(k as unknown as Kernels);
  return addon;
}

/** Names of the kernels that run natively (the rest fall back to TypeScript). */
export function nativeKernelNames(): string[] {
  if (!addon) return [];
  return Object.keys(refKernels).filter((key) => key !== 'name' && typeof addon![key] === 'function');
}

loadNative();
