// Moving feedback in and out of the store as JSONL: full rankings, and the preference pairs they
// imply in heed's own, TRL's (standard and conversational) and LLaMA-Factory's formats.
import { readFileSync } from 'node:fs';
import type { Message } from '../data/formats.js';
import {
  detectPreferenceFormat, llamaFactoryRecord, pairsToRankings, parseLlamaFactoryPairs, parseRankings, parseTrlPairs,
  trlConversationalRecord, trlStandardRecord, type PreferenceFileFormat, type RankingRecord,
} from '../data/preferences.js';
import type { FeedbackStore, ImportCounts, StoredPrompt, StoredResponse } from './store.js';

export const EXPORT_FORMATS = ['rankings', 'pairs', 'trl', 'trl-messages', 'llamafactory'] as const;
export type ExportFormat = typeof EXPORT_FORMATS[number];

export interface ImportOptions {
  /** 'auto' (default) tells rankings, TRL and LLaMA-Factory files apart by their keys. */
  format?: PreferenceFileFormat | 'auto';
  /** Who the rankings of a pair file are recorded under (default "import"). */
  rater?: string;
}

/** Parses a JSONL file into ranking records (pairs become rankings of two). */
export function parseFeedbackFile(text: string, file: string, opts: ImportOptions = {}): { format: PreferenceFileFormat; records: RankingRecord[] } {
  const format = !opts.format || opts.format === 'auto' ? detectPreferenceFormat(text, file) : opts.format;
  const rater = opts.rater ?? 'import';
  switch (format) {
    case 'rankings': return { format, records: parseRankings(text, file) };
    case 'trl': return { format, records: pairsToRankings(parseTrlPairs(text, file), file, rater) };
    case 'llamafactory': return { format, records: pairsToRankings(parseLlamaFactoryPairs(text, file), file, rater) };
  }
}

/** Imports a JSONL file in one transaction: every line or none. */
export function importFile(store: FeedbackStore, file: string, opts: ImportOptions = {}): ImportCounts & { format: PreferenceFileFormat } {
  let bytes: Buffer;
  try { bytes = readFileSync(file); } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  // Strict decoding: a replacement character silently stored in a ranking would be worse than an error.
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch {
    throw new Error(`${file}: not valid UTF-8`);
  }
  const { format, records } = parseFeedbackFile(text, file, opts);
  return { format, ...store.importRecords(records, file) };
}

/** Looks prompts and responses up once each while records are written. */
function lookup(store: FeedbackStore): { prompt(id: number): StoredPrompt; response(promptId: number, id: number): StoredResponse; responses(promptId: number): StoredResponse[] } {
  const prompts = new Map<number, StoredPrompt>();
  const responses = new Map<number, StoredResponse[]>();
  const list = (promptId: number): StoredResponse[] => {
    let rs = responses.get(promptId);
    if (!rs) responses.set(promptId, rs = store.responses(promptId));
    return rs;
  };
  return {
    prompt(id) {
      let p = prompts.get(id);
      if (!p) prompts.set(id, p = store.prompt(id) as StoredPrompt);
      return p;
    },
    response(promptId, id) { return list(promptId).find((r) => r.id === id) as StoredResponse; },
    responses: list,
  };
}

function plainMessages(ms: readonly Message[]): Message[] {
  return ms.map((m) => ({ role: m.role, content: m.content }));
}

function responseRecord(r: StoredResponse): Record<string, unknown> {
  return { id: r.id, text: r.text, model: r.model, adapter: r.adapter, settings: r.settings, seed: r.seed, ...(r.finish ? { finish: r.finish } : {}), created: r.created };
}

/**
 * One line per ranking or skip (the prompt, the responses it ranks, or all of the prompt's for a skip,
 * rater, time), then one line per prompt that has two or more responses and no ranking yet, so that
 * an import of the file rebuilds the store's prompts, responses and rankings.
 */
export function exportRankings(store: FeedbackStore): Record<string, unknown>[] {
  const look = lookup(store);
  const rankings = store.rankings();
  const ranked = new Set(rankings.map((k) => k.promptId));
  const waiting = store.prompts().filter((p) => !ranked.has(p.id) && look.responses(p.id).length >= 2).map((p) => ({
    prompt_id: p.id,
    prompt: plainMessages(p.messages),
    source: p.source,
    ...(p.meta ? { meta: p.meta } : {}),
    responses: look.responses(p.id).map(responseRecord),
  }));
  return [...rankings.map((k) => {
    const p = look.prompt(k.promptId);
    const ids = k.groups ? k.groups.flat() : look.responses(k.promptId).map((r) => r.id);
    const rec: Record<string, unknown> = {
      prompt_id: p.id,
      prompt: plainMessages(p.messages),
      source: p.source,
      ...(p.meta ? { meta: p.meta } : {}),
      responses: [...ids].sort((a, b) => a - b).map((id) => responseRecord(look.response(k.promptId, id))),
      ranking: k.groups,
    };
    if (k.skip !== null) rec['skip'] = k.skip;
    Object.assign(rec, { rater: k.rater, time_ms: k.timeMs, created: k.created });
    return rec;
  }), ...waiting];
}

/** One line per implied pair, in `format`. */
export function exportPairs(store: FeedbackStore, format: Exclude<ExportFormat, 'rankings'>): Record<string, unknown>[] {
  const look = lookup(store);
  return store.pairs().map((pair) => {
    const prompt = look.prompt(pair.promptId).messages;
    const chosen = look.response(pair.promptId, pair.chosen).text;
    const rejected = look.response(pair.promptId, pair.rejected).text;
    switch (format) {
      case 'trl':
        try { return trlStandardRecord(prompt, chosen, rejected); } catch (e) {
          throw new Error(`prompt ${pair.promptId}: ${(e as Error).message}`);
        }
      case 'trl-messages': return trlConversationalRecord(prompt, chosen, rejected);
      case 'llamafactory': return llamaFactoryRecord(prompt, chosen, rejected);
      case 'pairs': return {
        ...trlConversationalRecord(prompt, chosen, rejected),
        prompt_id: pair.promptId, ranking_id: pair.rankingId, rater: pair.rater,
        chosen_id: pair.chosen, rejected_id: pair.rejected, chosen_rank: pair.chosenGroup + 1, rejected_rank: pair.rejectedGroup + 1,
      };
    }
  });
}

export function exportRecords(store: FeedbackStore, format: ExportFormat): Record<string, unknown>[] {
  return format === 'rankings' ? exportRankings(store) : exportPairs(store, format);
}
