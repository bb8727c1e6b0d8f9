// Public API of heed's data layer: conversation formats, the built-in task mixture, scoring,
// the pretraining corpus and packing.
export {
  DataFormatError, detectFormat, parseConversations, parsePreferences, preferenceToRecord, readConversations, readPreferences,
  toJsonl, toRecord, validateConversation, writeConversations, writePreferences,
} from './formats.js';
export type { Conversation, ConversationFormat, Message, PreferencePair, ReadOptions, ReadResult, Role } from './formats.js';
export { buildMixture, familyNames, toConversation, releaseDataCaches } from './mixture.js';
export type { Example, FamilyInfo, Mixture, MixtureOptions } from './mixture.js';
export { ALL_FAMILIES, DEFAULT_ZERO_SHOT } from './tasks/index.js';
export type { Metric, Prompt, TaskFamily, TaskItem, Template } from './tasks/index.js';
export { dedup, exactMatch, nearDupKey, normalizeAnswer, normalizedMatch, rougeL, textHash } from './score.js';
export type { DedupResult, Rouge } from './score.js';
export { buildCorpus, CORPUS_SOURCES } from './corpus.js';
export type { Corpus, CorpusDoc, CorpusOptions, CorpusSource, CorpusStats, SourceStats } from './corpus.js';
export { chunkDocuments, packSequences } from './pack.js';
export type { ChunkResult, PackedRow, PackOptions, PackResult, TokenizedSeq } from './pack.js';
export { hash32, hashUnit, Rng } from '../core/rng.js';
