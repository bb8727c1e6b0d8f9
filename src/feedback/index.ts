// Public API of heed's feedback layer: the ranking store and its JSONL import/export.
export { DEFAULT_LEASE_MS, FeedbackError, FeedbackStore, rankingPairs } from './store.js';
export type {
  Assignment, FeedbackStats, ImportCounts, JudgmentInput, OpenOptions, Progress, PromptInput, RankingInput, RaterKind, RaterStats,
  ResponseInput, SkipInput, StoredJudgment, StoredPair, StoredPrompt, StoredRanking, StoredResponse, Submitted, Verdict,
} from './store.js';
export { APPLICATION_ID, MIGRATIONS, migrate } from './schema.js';
export type { Migration } from './schema.js';
export { EXPORT_FORMATS, exportPairs, exportRankings, exportRecords, importFile, parseFeedbackFile } from './io.js';
export type { ExportFormat, ImportOptions } from './io.js';
