// NF4 against bitsandbytes: the 16-value codebook is bitsandbytes' table, and heed's block-wise
// absmax quantization of a fixed tensor gives bitsandbytes' exact packed codes (first element of a
// byte in the high nibble), absmax and dequantized values, on both backends (fixture written by
// test/fixtures/lora/make_lora.py with test/fixtures/reference/nf4.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import '../../src/kernels/native.js';
import { nativeKernels, useBackend } from '../../src/core/kernels.js';
import { NF4_LEVELS, quantizeNF4, dequantizeNF4 } from '../../src/core/quant.js';

interface NF4Fixture { code: number[]; blocksize: number; x: number[]; packed: number[]; absmax: number[]; dequantized: number[] }
const fx = JSON.parse(readFileSync('test/fixtures/lora/nf4.json', 'utf8')) as NF4Fixture;

if (!nativeKernels() && process.env.HEED_REQUIRE_NATIVE === '1') throw new Error('nf4: HEED_REQUIRE_NATIVE=1 but the native kernels are not loaded');
const backends = ['ref', ...(nativeKernels() ? ['native'] as const : [])] as const;

test('the NF4 codebook is bitsandbytes\' table, bit for bit', () => {
  assert.deepEqual(Array.from(NF4_LEVELS), Array.from(Float32Array.from(fx.code)));
});

test('NF4 quantization gives bitsandbytes\' packed codes and absmax exactly', () => {
  const x = Float32Array.from(fx.x), q = quantizeNF4(x, [x.length], fx.blocksize);
  assert.deepEqual(Array.from(q.absmax), Array.from(Float32Array.from(fx.absmax)), 'absmax per block');
  const bad = Array.from(q.codes).map((c, i) => [i, c, fx.packed[i]!]).filter(([, a, b]) => a !== b);
  assert.deepEqual(bad.slice(0, 8), [], `${bad.length} of ${q.codes.length} packed bytes differ ([byte, heed, bitsandbytes])`);
});

for (const be of backends) {
  test(`NF4 dequantization gives bitsandbytes' values exactly (${be})`, () => {
    const prev = useBackend(be);
    try {
      const q = { shape: [fx.x.length], blockSize: fx.blocksize, codes: Uint8Array.from(fx.packed), absmax: Float32Array.from(fx.absmax) };
      assert.deepEqual(Array.from(dequantizeNF4(q, new Float32Array(fx.x.length))), Array.from(Float32Array.from(fx.dequantized)));
    } finally { useBackend(prev as 'ref' | 'native'); }
  });
}
