// Answer scoring (SQuAD-style normalization, exact/normalized match, ROUGE-L) and deduplication
// by exact or near-duplicate normalized-text hash.
import { createHash } from 'node:crypto';

/** SQuAD's normalize_answer: lowercase, drop punctuation and the articles a/an/the, squeeze spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Byte-for-byte equality after trimming surrounding whitespace. */
export function exactMatch(prediction: string, reference: string): boolean {
  return prediction.trim() === reference.trim();
}

/** normalizeAnswer without dropping articles. */
function lightNormalize(s: string): string {
  return s.toLowerCase().normalize('NFKC').replace(/[\p{P}\p{S}]/gu, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Equality after normalizeAnswer; against several references, any one matching counts. A reference
 * that normalises to nothing ("a", the first letter of "apple"; "The"; "?") would match an empty
 * reply, so it is compared with articles kept (or, if only punctuation, exactly).
 */
export function normalizedMatch(prediction: string, reference: string | readonly string[]): boolean {
  const p = normalizeAnswer(prediction);
  const refs = typeof reference === 'string' ? [reference] : reference;
  return refs.some((r) => {
    const n = normalizeAnswer(r);
    if (n !== '') return n === p;
    const light = lightNormalize(r);
    return light !== '' ? light === lightNormalize(prediction) : exactMatch(prediction, r);
  });
}

/**
 * Whether an output answers a task right by its family's metric: exact (case and format are the
 * point) against the answer or any accepted alternative, or normalised match.
 */
export function answerCorrect(output: string, answer: string, accept: readonly string[] | undefined, metric: 'exact' | 'normalized'): boolean {
  const refs = [answer, ...(accept ?? [])];
  return metric === 'exact' ? refs.some((r) => exactMatch(output, r)) : normalizedMatch(output, refs);
}

export interface Rouge { precision: number; recall: number; f: number }

/** Tokens for ROUGE: normalized answer split on whitespace. */
export function rougeTokens(s: string): string[] {
  const n = normalizeAnswer(s);
  return n === '' ? [] : n.split(' ');
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  // Two rolling rows: O(|a|·|b|) time, O(|b|) memory.
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? (prev[j - 1] as number) + 1 : Math.max(prev[j] as number, cur[j - 1] as number);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] as number;
}

/** ROUGE-L on normalized tokens: LCS precision, recall and F1 (beta = 1). Two empty strings score 1. */
export function rougeL(prediction: string, reference: string): Rouge {
  const p = rougeTokens(prediction);
  const r = rougeTokens(reference);
  if (p.length === 0 && r.length === 0) return { precision: 1, recall: 1, f: 1 };
  if (p.length === 0 || r.length === 0) return { precision: 0, recall: 0, f: 0 };
  const l = lcsLength(p, r);
  const precision = l / p.length;
  const recall = l / r.length;
  const f = l === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f };
}

/** Text for near-duplicate detection: case, punctuation, digits' formatting and spacing ignored. */
export function nearDupKey(s: string): string {
  return s.toLowerCase().normalize('NFKC').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

export function textHash(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

export interface DedupResult<T> { kept: T[]; removed: number }

/**
 * Keeps the first occurrence of each text. 'exact' hashes the text as is; 'near' hashes nearDupKey,
 * so copies differing only in case, punctuation or spacing collapse too.
 */
export function dedup<T>(items: readonly T[], text: (x: T) => string, mode: 'exact' | 'near' = 'exact'): DedupResult<T> {
  const seen = new Set<string>();
  const kept: T[] = [];
  for (const it of items) {
    const t = text(it);
    const h = textHash(mode === 'near' ? nearDupKey(t) : t);
    if (seen.has(h)) continue;
    seen.add(h);
    kept.push(it);
  }
  return { kept, removed: items.length - kept.length };
}
