// Ranking JSONL (a prompt, its K responses and one rater's ranking as tie groups) and the preference
// pair formats TRL and LLaMA-Factory read, parsed with `file:line` errors and written one record a line.
//
// A ranking line (the format `heed feedback export --format rankings` writes and `import` reads):
//   {"prompt_id": 3, "prompt": [{"role": "user", "content": "…"}], "source": "mixture",
//    "responses": [{"id": 7, "text": "…", "model": "sft", "adapter": null, "settings": {"temperature": 0.8}, "seed": 1}, …],
//    "ranking": [[7], [9, 8]], "rater": "alice", "time_ms": 5300, "created": "2025-01-01T00:00:00.000Z"}
// `ranking` lists response ids best first; ids in one inner list are tied. A skip has `"ranking": null`
// and `"skip": "reason"`; a line with neither is a prompt with responses waiting to be ranked.
// Ids are labels inside the file: lines with the same `prompt_id` share the prompt and its response ids.
import { DataFormatError, eachJsonLine, parsePreferences, validateConversation, type Message, type PreferencePair, type Role } from './formats.js';

export interface ResponseRecord {
  key: string;
  text: string;
  model?: string;
  adapter?: string;
  /** the sampling settings the response was drawn with (temperature, top_p, max_tokens, …) */
  settings?: Record<string, unknown>;
  seed?: number;
  /** 'stop': ended its turn; 'length': ran to the token limit */
  finish?: 'stop' | 'length';
  created?: string;
}

/** One parsed line of ranking JSONL; `line` is its 1-based line number for later error messages. */
export interface RankingRecord {
  line: number;
  /** Prompt label shared by lines about the same prompt; undefined makes the line its own prompt. */
  promptKey?: string;
  prompt: Message[];
  source?: string;
  /** what else is known of the prompt (a task's answer, accepted answers, family, metric) */
  meta?: Record<string, unknown>;
  responses: ResponseRecord[];
  /** Tie groups of response keys, best first; null for a skip or a prompt not yet ranked. */
  ranking: string[][] | null;
  skip?: string;
  rater?: string;
  timeMs?: number;
  created?: string;
}

/** A preference pair with the line it came from. */
export interface PairRecord extends PreferencePair { line: number }

export type PreferenceFileFormat = 'rankings' | 'trl' | 'llamafactory';

// Reasons are thrown as LineError inside the parsers and become `file:line: reason`.
class LineError extends Error {}
const fail = (msg: string): never => { throw new LineError(msg); };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Runs the shared conversation check, turning its message into this file's line error. */
function checkTurns(msgs: Message[], where: string): void {
  try { validateConversation(msgs, where); } catch (e) { fail((e as Error).message); }
}

/** Parses each non-blank line with `parse`; every bad line is collected, then all are thrown together. */
function eachLine<T>(text: string, file: string, parse: (obj: Record<string, unknown>, line: number) => T): T[] {
  const { items, errors } = eachJsonLine(text, file, parse);
  if (errors.length > 0) throw new DataFormatError(errors);
  if (items.length === 0) throw new DataFormatError([`${file}: holds no records`]);
  return items;
}

function optString(obj: Record<string, unknown>, field: string, where = field): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return fail(`field "${where}" must be a string, got ${typeof v}`);
  return v;
}

/** Ids may be written as strings or integers; both become the same label. */
function label(v: unknown, where: string): string {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return fail(`${where} must be a non-empty string or an integer`);
}

function parsePromptMessages(v: unknown): Message[] {
  if (!Array.isArray(v)) return fail(v === undefined ? 'missing field "prompt"' : 'field "prompt" must be a list of messages');
  const msgs = v.map((m, k): Message => {
    const at = `prompt[${k}]`;
    if (!isObject(m)) return fail(`${at} must be an object`);
    const role = m['role'];
    if (role !== 'system' && role !== 'user' && role !== 'assistant') return fail(`${at}.role must be system, user or assistant`);
    const content = m['content'];
    if (typeof content !== 'string' || content.trim() === '') return fail(`${at}.content must be a non-empty string`);
    return { role, content };
  });
  if (msgs.length === 0) fail('"prompt" is empty');
  if (msgs[msgs.length - 1]?.role !== 'user') fail('"prompt" must end with a user turn');
  // The turn structure is the one a conversation has once the reply is appended.
  checkTurns([...msgs, { role: 'assistant', content: '.' }], 'prompt');
  return msgs;
}

function parseResponse(v: unknown, k: number): ResponseRecord {
  const at = `responses[${k}]`;
  if (!isObject(v)) return fail(`${at} must be an object`);
  const text = v['text'];
  if (typeof text !== 'string') return fail(`${at}.text must be a string`);
  const r: ResponseRecord = { key: label(v['id'] ?? String(k), `${at}.id`), text };
  const model = optString(v, 'model', `${at}.model`);
  const adapter = optString(v, 'adapter', `${at}.adapter`);
  const created = optString(v, 'created', `${at}.created`);
  if (model !== undefined) r.model = model;
  if (adapter !== undefined) r.adapter = adapter;
  if (created !== undefined) r.created = created;
  const settings = v['settings'];
  if (settings !== undefined && settings !== null) {
    if (!isObject(settings)) fail(`${at}.settings must be an object`);
    r.settings = settings as Record<string, unknown>;
  }
  const seed = v['seed'];
  if (seed !== undefined && seed !== null) {
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) fail(`${at}.seed must be an integer`);
    r.seed = seed as number;
  }
  const finish = v['finish'];
  if (finish !== undefined && finish !== null) {
    if (finish !== 'stop' && finish !== 'length') fail(`${at}.finish must be "stop" or "length"`);
    r.finish = finish as 'stop' | 'length';
  }
  return r;
}

/** Checks a ranking against its responses: known ids, each at most once, every response placed, K ≥ 2. */
export function rankingProblem(groups: readonly (readonly string[])[], keys: readonly string[]): string | undefined {
  const known = new Set(keys);
  const seen = new Set<string>();
  for (const [g, group] of groups.entries()) {
    if (group.length === 0) return `ranking[${g}] is an empty tie group`;
    for (const id of group) {
      if (!known.has(id)) return `ranking names unknown response ${JSON.stringify(id)}`;
      if (seen.has(id)) return `ranking lists response ${JSON.stringify(id)} twice`;
      seen.add(id);
    }
  }
  if (seen.size < 2) return `a ranking needs at least 2 responses (K = ${seen.size})`;
  const missing = keys.filter((k) => !seen.has(k));
  if (missing.length > 0) return `ranking leaves out response${missing.length > 1 ? 's' : ''} ${missing.map((m) => JSON.stringify(m)).join(', ')}`;
  return undefined;
}

function parseRankingLine(obj: Record<string, unknown>, line: number): RankingRecord {
  const prompt = parsePromptMessages(obj['prompt']);
  const rs = obj['responses'];
  if (!Array.isArray(rs)) return fail(rs === undefined ? 'missing field "responses"' : 'field "responses" must be a list');
  const responses = rs.map(parseResponse);
  const keys = responses.map((r) => r.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) fail(`responses list id ${JSON.stringify(dup)} twice`);
  if (responses.length < 2) fail(`a prompt needs at least 2 responses to rank (K = ${responses.length})`);
  const rec: RankingRecord = { line, prompt, responses, ranking: null };
  if (obj['prompt_id'] !== undefined && obj['prompt_id'] !== null) rec.promptKey = label(obj['prompt_id'], '"prompt_id"');
  const source = optString(obj, 'source');
  if (source !== undefined) rec.source = source;
  const meta = obj['meta'];
  if (meta !== undefined && meta !== null) {
    if (!isObject(meta)) fail('field "meta" must be an object');
    rec.meta = meta as Record<string, unknown>;
  }
  const skip = optString(obj, 'skip');
  const rankingField = obj['ranking'];
  if (rankingField !== undefined && rankingField !== null) {
    if (skip !== undefined) fail('a line has either "ranking" or "skip", not both');
    if (!Array.isArray(rankingField)) return fail('field "ranking" must be a list of tie groups (lists of response ids)');
    const groups = rankingField.map((g, gi) => {
      if (!Array.isArray(g)) return fail(`ranking[${gi}] must be a list of response ids (a tie group)`);
      return g.map((id, j) => label(id, `ranking[${gi}][${j}]`));
    });
    const problem = rankingProblem(groups, keys);
    if (problem) fail(problem);
    rec.ranking = groups;
  } else if (skip !== undefined) {
    if (skip.trim() === '') fail('"skip" needs a reason');
    rec.skip = skip;
  }
  const rater = optString(obj, 'rater');
  if (rater !== undefined) {
    if (rater.trim() === '') fail('"rater" is empty');
    rec.rater = rater;
  }
  if ((rec.ranking !== null || rec.skip !== undefined) && rec.rater === undefined) fail('a ranking or skip needs "rater"');
  const t = obj['time_ms'];
  if (t !== undefined && t !== null) {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail('"time_ms" must be an integer >= 0');
    rec.timeMs = t as number;
  }
  const created = optString(obj, 'created');
  if (created !== undefined) {
    if (Number.isNaN(Date.parse(created))) fail(`"created" is not a date: ${JSON.stringify(created)}`);
    rec.created = created;
  }
  return rec;
}

/** Parses ranking JSONL; throws DataFormatError listing every bad `file:line`. */
export function parseRankings(text: string, file: string): RankingRecord[] {
  return eachLine(text, file, parseRankingLine);
}

// ---- LLaMA-Factory's sharegpt preference format ----
// https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md, "Sharegpt Format / Preference Dataset":
// {"conversations": [{"from": "human", "value": …}, …, {"from": "human", …}], "system"?: …,
//  "chosen": {"from": "gpt", "value": …}, "rejected": {"from": "gpt", "value": …}}, registered with
// "formatting": "sharegpt", "ranking": true, columns {messages: conversations, chosen, rejected[, system]}.

const LF_ROLE: Record<string, Role> = { human: 'user', gpt: 'assistant', system: 'system' };

function lfMessage(v: unknown, at: string): Message {
  if (!isObject(v)) return fail(`${at} must be an object with "from" and "value"`);
  const from = v['from'];
  const role = typeof from === 'string' ? LF_ROLE[from] : undefined;
  if (role === undefined) return fail(`${at}.from must be human, gpt or system`);
  const value = v['value'];
  if (typeof value !== 'string' || value.trim() === '') return fail(`${at}.value must be a non-empty string`);
  return { role, content: value };
}

function parseLlamaFactoryLine(obj: Record<string, unknown>, line: number): PairRecord {
  const conv = obj['conversations'];
  if (!Array.isArray(conv)) return fail(conv === undefined ? 'missing field "conversations"' : 'field "conversations" must be a list');
  const prompt = conv.map((m, k) => lfMessage(m, `conversations[${k}]`));
  const system = optString(obj, 'system');
  if (system !== undefined && system.trim() !== '') {
    if (prompt[0]?.role === 'system') fail('a system prompt is given both in "system" and in conversations[0]');
    prompt.unshift({ role: 'system', content: system });
  }
  if (prompt[prompt.length - 1]?.role !== 'user') fail('"conversations" must end with a human turn');
  checkTurns([...prompt, { role: 'assistant', content: '.' }], 'conversations');
  const side = (field: 'chosen' | 'rejected'): Message[] => {
    const m = lfMessage(obj[field] ?? fail(`missing field "${field}"`), field);
    if (m.role !== 'assistant') fail(`"${field}".from must be gpt`);
    return [m];
  };
  return { line, prompt, chosen: side('chosen'), rejected: side('rejected') };
}

/** Parses LLaMA-Factory sharegpt preference JSONL. */
export function parseLlamaFactoryPairs(text: string, file: string): PairRecord[] {
  return eachLine(text, file, parseLlamaFactoryLine);
}

/** Parses TRL preference JSONL (strings or message lists; heed's own `pairs` export is of this kind). */
export function parseTrlPairs(text: string, file: string): PairRecord[] {
  const items = parsePreferences(text, file).items;
  if (items.length === 0) throw new DataFormatError([`${file}: holds no records`]);
  // The reader skips blank lines only, so the i-th pair is the i-th non-blank line.
  const lines: number[] = [];
  text.split('\n').forEach((l, i) => { if (l.replace(/\r$/, '').trim() !== '') lines.push(i + 1); });
  return items.map((p, i) => ({ ...p, line: lines[i] as number }));
}

/** Guesses the format of a preference file from the keys of its first record. */
export function detectPreferenceFormat(text: string, file: string): PreferenceFileFormat {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim() !== '');
  if (i < 0) throw new DataFormatError([`${file}: holds no records`]);
  let obj: unknown;
  try { obj = JSON.parse(lines[i] as string); } catch (e) { throw new DataFormatError([`${file}:${i + 1}: bad JSON (${(e as Error).message})`]); }
  if (isObject(obj)) {
    if ('responses' in obj) return 'rankings';
    if ('conversations' in obj) return 'llamafactory';
    if ('chosen' in obj || 'rejected' in obj) return 'trl';
  }
  throw new DataFormatError([`${file}:${i + 1}: cannot tell the format (expected "responses" for rankings, "prompt"/"chosen"/"rejected" for TRL, or "conversations"/"chosen"/"rejected" for LLaMA-Factory)`]);
}

/**
 * Pairs as ranking records: lines with the same prompt share one prompt, equal texts one response, and
 * each pair is a ranking of two (chosen over rejected) by `rater`.
 */
export function pairsToRankings(pairs: readonly PairRecord[], file: string, rater: string): RankingRecord[] {
  const errors: string[] = [];
  const out: RankingRecord[] = [];
  for (const p of pairs) {
    if (p.chosen.length !== 1 || p.rejected.length !== 1) {
      errors.push(`${file}:${p.line}: "chosen" and "rejected" must each be one assistant message to become stored responses`);
      continue;
    }
    const chosen = (p.chosen[0] as Message).content;
    const rejected = (p.rejected[0] as Message).content;
    if (chosen === rejected) { errors.push(`${file}:${p.line}: "chosen" and "rejected" are the same text`); continue; }
    out.push({
      line: p.line,
      promptKey: JSON.stringify(p.prompt.map((m) => [m.role, m.content])),
      prompt: p.prompt,
      responses: [{ key: chosen, text: chosen }, { key: rejected, text: rejected }],
      ranking: [[chosen], [rejected]],
      rater,
    });
  }
  if (errors.length > 0) throw new DataFormatError(errors);
  return out;
}

// ---- writing ----

/** TRL's standard preference record: plain strings (the prompt must be one user turn). */
export function trlStandardRecord(prompt: readonly Message[], chosen: string, rejected: string): Record<string, string> {
  if (prompt.length !== 1 || prompt[0]?.role !== 'user') {
    throw new Error('TRL\'s standard format holds a prompt of one user turn only; this prompt has a system message or several turns (use --format trl-messages)');
  }
  return { prompt: prompt[0].content, chosen, rejected };
}

/** TRL's conversational preference record: message lists. */
export function trlConversationalRecord(prompt: readonly Message[], chosen: string, rejected: string): Record<string, unknown> {
  return {
    prompt: prompt.map((m) => ({ role: m.role, content: m.content })),
    chosen: [{ role: 'assistant', content: chosen }],
    rejected: [{ role: 'assistant', content: rejected }],
  };
}

/** LLaMA-Factory's sharegpt preference record; a leading system message goes to its "system" column. */
export function llamaFactoryRecord(prompt: readonly Message[], chosen: string, rejected: string): Record<string, unknown> {
  const from: Record<Role, string> = { system: 'system', user: 'human', assistant: 'gpt' };
  const sys = prompt[0]?.role === 'system' ? prompt[0] : undefined;
  const rec: Record<string, unknown> = {
    conversations: (sys ? prompt.slice(1) : prompt).map((m) => ({ from: from[m.role], value: m.content })),
    chosen: { from: 'gpt', value: chosen },
    rejected: { from: 'gpt', value: rejected },
  };
  if (sys) rec['system'] = sys.content;
  return rec;
}

/** The dataset_info.json entry LLaMA-Factory needs to read a file written by llamaFactoryRecord. */
export function llamaFactoryDatasetInfo(name: string, fileName: string): Record<string, unknown> {
  return {
    [name]: {
      file_name: fileName,
      formatting: 'sharegpt',
      ranking: true,
      columns: { messages: 'conversations', chosen: 'chosen', rejected: 'rejected', system: 'system' },
    },
  };
}
