// Invariants of SFT packing and the pretraining chunker on random inputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkDocuments, packSequences, type TokenizedSeq } from '../../src/data/pack.js';
import { Rng } from '../../src/core/rng.js';

function randomSeqs(rng: Rng, n: number, maxLen: number): TokenizedSeq[] {
  return Array.from({ length: n }, (_, k) => {
    const len = rng.range(1, maxLen);
    // Token ids encode (sequence, position) so every token can be traced back.
    return { ids: Array.from({ length: len }, (_, i) => 1 + k * 1000 + i), lossMask: Array.from({ length: len }, () => rng.range(0, 1)) };
  });
}

describe('packSequences', () => {
  it('rows are exactly seqLen, sequences are never split, padding is masked', () => {
    const rng = Rng.keyed(7);
    const seqLen = 64;
    const seqs = randomSeqs(rng, 300, 60);
    const r = packSequences(seqs, { seqLen, padId: 0 });
    assert.equal(r.truncated, 0);
    const seen = new Map<number, number[]>();
    let real = 0;
    for (const row of r.rows) {
      assert.equal(row.ids.length, seqLen);
      assert.equal(row.lossMask.length, seqLen);
      assert.equal(row.segmentIds.length, seqLen);
      let i = 0;
      while (i < seqLen && row.segmentIds[i] !== 0) {
        const seg = row.segmentIds[i];
        const start = i;
        while (i < seqLen && row.segmentIds[i] === seg) i++;
        const ids = row.ids.slice(start, i);
        const k = Math.floor(((ids[0] as number) - 1) / 1000);
        assert.ok(!seen.has(k), `sequence ${k} packed twice`);
        seen.set(k, ids);
        assert.deepEqual(ids, seqs[k]?.ids);
        assert.deepEqual(row.lossMask.slice(start, i), seqs[k]?.lossMask);
        real += ids.length;
      }
      for (; i < seqLen; i++) {
        assert.equal(row.segmentIds[i], 0, 'padding only at the end of a row');
        assert.equal(row.ids[i], 0);
        assert.equal(row.lossMask[i], 0);
      }
    }
    assert.equal(seen.size, seqs.length);
    assert.equal(real + r.padTokens, r.rows.length * seqLen);
    assert.ok(r.fill > 0.9, `first-fit should pack densely, got ${r.fill}`);
  });

  it('truncates only over-long sequences, and reports them', () => {
    const r = packSequences(
      [{ ids: [1, 2, 3, 4, 5, 6], lossMask: [0, 0, 1, 1, 1, 1] }, { ids: [7, 8], lossMask: [1, 1] }, { ids: [], lossMask: [] }],
      { seqLen: 4, padId: 9 },
    );
    assert.equal(r.truncated, 1);
    assert.equal(r.empty, 1);
    assert.deepEqual(r.rows.map((x) => x.ids), [[1, 2, 3, 4], [7, 8, 9, 9]]);
    assert.deepEqual(r.rows.map((x) => x.lossMask), [[0, 0, 1, 1], [1, 1, 0, 0]]);
    assert.throws(() => packSequences([{ ids: [1], lossMask: [] }], { seqLen: 4, padId: 0 }), /differ in length/);
  });
});

describe('chunkDocuments', () => {
  it('joins documents with EOS and cuts seqLen+1 windows that overlap by one token', () => {
    const docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
    const r = chunkDocuments(docs, { seqLen: 4, eosId: 0 });
    assert.deepEqual([...r.stream], [1, 2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 0]);
    assert.deepEqual(r.windows.map((w) => [...w]), [[1, 2, 3, 0, 4], [4, 5, 0, 6, 7]]);
    // Targets cover stream positions 1..8; positions 9..11 are left over.
    assert.equal(r.dropped, 3);
  });

  it('every stream position after the first is a target exactly once', () => {
    const rng = Rng.keyed(3);
    const docs = Array.from({ length: 50 }, () => Array.from({ length: rng.range(0, 40) }, () => rng.range(1, 99)));
    const seqLen = 16;
    const r = chunkDocuments(docs, { seqLen, eosId: 0 });
    for (const w of r.windows) assert.equal(w.length, seqLen + 1);
    assert.equal(r.windows.length * seqLen + 1 + r.dropped, r.stream.length);
    assert.equal(chunkDocuments([[1]], { seqLen: 8, eosId: 0 }).dropped, 2);
  });
});
