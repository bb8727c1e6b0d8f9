// Sequence packing for SFT (whole conversations into fixed-length rows, padded and masked) and the
// document-stream chunker for pretraining (EOS-joined token stream cut into seqLen+1 windows).

export interface TokenizedSeq { ids: number[]; lossMask: number[] }

export interface PackedRow {
  ids: number[];
  lossMask: number[];
  /** 1-based index of the sequence within the row for every token, 0 on padding; lets a trainer
   *  reset positions or block attention between packed sequences. */
  segmentIds: number[];
}

export interface PackResult {
  rows: PackedRow[];
  sequences: number;
  /** Sequences longer than seqLen, cut to seqLen. */
  truncated: number;
  /** Sequences of length 0, dropped. */
  empty: number;
  padTokens: number;
  /** Fraction of row slots holding real tokens. */
  fill: number;
}

export interface PackOptions { seqLen: number; padId: number }

/**
 * First-fit packing in input order: each sequence goes into the earliest row with room, so a row
 * never splits a sequence; only sequences longer than seqLen are truncated (and counted).
 */
export function packSequences(seqs: readonly TokenizedSeq[], { seqLen, padId }: PackOptions): PackResult {
  if (!Number.isInteger(seqLen) || seqLen <= 0) throw new Error(`packSequences: seqLen must be a positive integer, got ${seqLen}`);
  const rows: PackedRow[] = [];
  const free: number[] = [];
  let truncated = 0;
  let empty = 0;
  let real = 0;
  for (const s of seqs) {
    if (s.ids.length !== s.lossMask.length) {
      throw new Error(`packSequences: ids (${s.ids.length}) and lossMask (${s.lossMask.length}) differ in length`);
    }
    if (s.ids.length === 0) { empty++; continue; }
    let ids = s.ids;
    let mask = s.lossMask;
    if (ids.length > seqLen) {
      ids = ids.slice(0, seqLen);
      mask = mask.slice(0, seqLen);
      truncated++;
    }
    let r = 0;
    while (r < rows.length && (free[r] as number) < ids.length) r++;
    if (r === rows.length) {
      rows.push({ ids: [], lossMask: [], segmentIds: [] });
      free.push(seqLen);
    }
    const row = rows[r] as PackedRow;
    const seg = (row.segmentIds.length === 0 ? 0 : (row.segmentIds[row.segmentIds.length - 1] as number)) + 1;
    for (let i = 0; i < ids.length; i++) {
      row.ids.push(ids[i] as number);
      row.lossMask.push(mask[i] as number);
      row.segmentIds.push(seg);
    }
    free[r] = (free[r] as number) - ids.length;
    real += ids.length;
  }
  let padTokens = 0;
  for (const row of rows) {
    const n = seqLen - row.ids.length;
    for (let i = 0; i < n; i++) {
      row.ids.push(padId);
      row.lossMask.push(0);
      row.segmentIds.push(0);
    }
    padTokens += n;
  }
  return { rows, sequences: seqs.length, truncated, empty, padTokens, fill: rows.length === 0 ? 0 : real / (rows.length * seqLen) };
}

export interface ChunkResult {
  /** All documents joined, each followed by eosId. */
  stream: Int32Array;
  /** Views into `stream` of seqLen+1 tokens each (inputs = w[0..seqLen), targets = w[1..seqLen]);
   *  consecutive windows share one token so every stream position is a target exactly once. */
  windows: Int32Array[];
  /** Tail tokens too few to fill a last window. */
  dropped: number;
}

export function chunkDocuments(docs: readonly (readonly number[])[], { seqLen, eosId }: { seqLen: number; eosId: number }): ChunkResult {
  if (!Number.isInteger(seqLen) || seqLen <= 0) throw new Error(`chunkDocuments: seqLen must be a positive integer, got ${seqLen}`);
  let total = 0;
  for (const d of docs) total += d.length + 1;
  const stream = new Int32Array(total);
  let o = 0;
  for (const d of docs) {
    for (const t of d) stream[o++] = t;
    stream[o++] = eosId;
  }
  const windows: Int32Array[] = [];
  let start = 0;
  for (; start + seqLen + 1 <= total; start += seqLen) windows.push(stream.subarray(start, start + seqLen + 1));
  return { stream, windows, dropped: windows.length === 0 ? total : total - (start + 1) };
}
