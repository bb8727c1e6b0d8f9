// Conversation types and JSONL readers/writers for Alpaca, ShareGPT, OpenAI-messages and preference
// data. Every bad line is reported as `file:line: what is wrong` before any training starts.
import { writeFileAtomic } from '../util/atomic.js';
import { readText } from '../util/text.js';

export type Role = 'system' | 'user' | 'assistant';
export interface Message { role: Role; content: string }
export interface Conversation { messages: Message[] }
export type ConversationFormat = 'alpaca' | 'sharegpt' | 'openai';

/** A preference pair; `prompt` ends with a user turn, `chosen`/`rejected` are assistant turns. */
export interface PreferencePair { prompt: Message[]; chosen: Message[]; rejected: Message[] }

/** Thrown when a file has bad lines and `skipBadLines` is off; `errors` holds every `file:line: …`. */
export class DataFormatError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    const shown = errors.slice(0, 10);
    const more = errors.length > shown.length ? `\n… and ${errors.length - shown.length} more` : '';
    super(shown.join('\n') + more);
    this.name = 'DataFormatError';
    this.errors = errors;
  }
}

export interface ReadOptions {
  /** 'auto' (default) picks the format from the first line that parses as JSON. */
  format?: ConversationFormat | 'auto';
  /** Skip malformed lines and count them instead of failing. */
  skipBadLines?: boolean;
}

export interface ReadResult<T> {
  items: T[];
  format: string;
  /** Lines skipped because they were malformed (always 0 unless skipBadLines). */
  skipped: number;
  /** The `file:line: …` message for every malformed line (skipped or not). */
  errors: string[];
}

// Reasons are thrown as plain strings inside the parsers and turned into `file:line:` messages.
class Bad extends Error {}
const fail = (msg: string): never => { throw new Bad(msg); };

const ROLES: readonly Role[] = ['system', 'user', 'assistant'];
const SHAREGPT_ROLES: Record<string, Role> = { human: 'user', gpt: 'assistant', system: 'system', user: 'user', assistant: 'assistant' };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function str(obj: Record<string, unknown>, field: string, where = field, optional = false): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return optional ? undefined : fail(`missing field "${where}"`);
  if (typeof v !== 'string') return fail(`field "${where}" must be a string, got ${typeof v}`);
  return v;
}

function nonEmpty(s: string | undefined, where: string): string {
  if (s === undefined || s.trim() === '') return fail(`empty content in "${where}"`);
  return s;
}

/** Checks the turn structure shared by every format: [system] user assistant (user assistant)*. */
export function validateConversation(msgs: readonly Message[], where = 'messages'): void {
  if (msgs.length === 0) fail(`"${where}" is empty`);
  let i = 0;
  if (msgs[0]?.role === 'system') i = 1;
  if (i >= msgs.length) fail('conversation has only a system message');
  for (let k = i; k < msgs.length; k++) {
    const m = msgs[k] as Message;
    const expected: Role = (k - i) % 2 === 0 ? 'user' : 'assistant';
    if (m.role === 'system') fail(`${where}[${k}]: a system message may only come first`);
    if (m.role !== expected) fail(`${where}[${k}]: expected a ${expected} turn, got ${m.role}`);
  }
  if (msgs[msgs.length - 1]?.role !== 'assistant') fail('conversation does not end with an assistant turn');
}

function parseMessages(v: unknown, where: string): Message[] {
  if (!Array.isArray(v)) return fail(v === undefined ? `missing field "${where}"` : `field "${where}" must be an array`);
  return v.map((m, k) => {
    const at = `${where}[${k}]`;
    if (!isObject(m)) return fail(`${at} must be an object`);
    const role = str(m, 'role', `${at}.role`) as string;
    if (!(ROLES as readonly string[]).includes(role)) fail(`${at}.role: unknown role "${role}" (expected system, user or assistant)`);
    const content = nonEmpty(str(m, 'content', `${at}.content`), `${at}.content`);
    return { role: role as Role, content };
  });
}

function fromOpenAI(obj: Record<string, unknown>): Conversation {
  const messages = parseMessages(obj['messages'], 'messages');
  validateConversation(messages);
  return { messages };
}

function fromShareGPT(obj: Record<string, unknown>): Conversation {
  const conv = obj['conversations'];
  if (!Array.isArray(conv)) return fail(conv === undefined ? 'missing field "conversations"' : 'field "conversations" must be an array');
  const messages = conv.map((m, k): Message => {
    const at = `conversations[${k}]`;
    if (!isObject(m)) return fail(`${at} must be an object`);
    const from = str(m, 'from', `${at}.from`) as string;
    const role = SHAREGPT_ROLES[from];
    if (role === undefined) return fail(`${at}.from: unknown role "${from}" (expected human, gpt or system)`);
    return { role, content: nonEmpty(str(m, 'value', `${at}.value`), `${at}.value`) };
  });
  validateConversation(messages, 'conversations');
  return { messages };
}

function fromAlpaca(obj: Record<string, unknown>): Conversation {
  const instruction = nonEmpty(str(obj, 'instruction'), 'instruction');
  const input = str(obj, 'input', 'input', true) ?? '';
  const output = nonEmpty(str(obj, 'output'), 'output');
  const system = str(obj, 'system', 'system', true);
  const messages: Message[] = [];
  if (system !== undefined && system.trim() !== '') messages.push({ role: 'system', content: system });
  // The usual Alpaca rendering: instruction, blank line, input (when there is one).
  messages.push({ role: 'user', content: input.trim() === '' ? instruction : `${instruction}\n\n${input}` });
  messages.push({ role: 'assistant', content: output });
  return { messages };
}

const PARSERS: Record<ConversationFormat, (o: Record<string, unknown>) => Conversation> = {
  alpaca: fromAlpaca,
  sharegpt: fromShareGPT,
  openai: fromOpenAI,
};

/** Guesses a record's format from its keys; undefined when nothing fits. */
export function detectFormat(obj: unknown): ConversationFormat | undefined {
  if (!isObject(obj)) return undefined;
  if ('messages' in obj) return 'openai';
  if ('conversations' in obj) return 'sharegpt';
  if ('instruction' in obj || 'output' in obj) return 'alpaca';
  return undefined;
}

/**
 * The one JSONL driver every reader uses: each non-blank line (CRLF endings fine, a leading BOM
 * dropped) must be a JSON object, which `parse` turns into an item or rejects by throwing; every
 * rejection becomes `file:line: reason`, and all of them come back together.
 */
export function eachJsonLine<T>(text: string, file: string, parse: (obj: Record<string, unknown>, line: number) => T): { items: T[]; errors: string[] } {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const items: T[] = [], errors: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (line.trim() === '') continue;
    try {
      let obj: unknown;
      try { obj = JSON.parse(line); } catch (e) { fail(`bad JSON (${(e as Error).message})`); }
      if (!isObject(obj)) fail('line is not a JSON object');
      items.push(parse(obj as Record<string, unknown>, i + 1));
    } catch (e) {
      errors.push(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return { items, errors };
}

/** Conversations from JSONL: the first record picks the format's parser; bad lines stop the read unless skipped. */
function readJsonl<T>(
  text: string,
  file: string,
  skipBadLines: boolean,
  pickParser: (firstObj: unknown) => ((o: Record<string, unknown>) => T),
): { items: T[]; skipped: number; errors: string[] } {
  let parser: ((o: Record<string, unknown>) => T) | undefined;
  const { items, errors } = eachJsonLine(text, file, (obj) => (parser ??= pickParser(obj))(obj));
  if (errors.length > 0 && !skipBadLines) throw new DataFormatError(errors);
  return { items, skipped: errors.length, errors };
}

/** Parses conversation JSONL text; `file` only labels the error messages. */
export function parseConversations(text: string, file: string, opts: ReadOptions = {}): ReadResult<Conversation> {
  let format: ConversationFormat | undefined = opts.format === 'auto' ? undefined : opts.format;
  const r = readJsonl(text, file, opts.skipBadLines ?? false, (first) => {
    format ??= detectFormat(first) ?? fail('cannot tell the format (expected "messages", "conversations" or "instruction"/"output")');
    return PARSERS[format];
  });
  return { ...r, format: format ?? opts.format ?? 'auto' };
}

/** Reads an Alpaca, ShareGPT or OpenAI-messages JSONL file into conversations (strict UTF-8, BOM dropped). */
export function readConversations(file: string, opts: ReadOptions = {}): ReadResult<Conversation> {
  return parseConversations(readText(file), file, opts);
}

/** One conversation as a record of the given format (Alpaca holds a single exchange only). */
export function toRecord(conv: Conversation, format: ConversationFormat): Record<string, unknown> {
  switch (format) {
    case 'openai':
      return { messages: conv.messages.map((m) => ({ role: m.role, content: m.content })) };
    case 'sharegpt': {
      const from: Record<Role, string> = { system: 'system', user: 'human', assistant: 'gpt' };
      return { conversations: conv.messages.map((m) => ({ from: from[m.role], value: m.content })) };
    }
    case 'alpaca': {
      const ms = conv.messages;
      const sys = ms[0]?.role === 'system' ? ms[0] : undefined;
      const rest = sys ? ms.slice(1) : ms;
      const [user, assistant] = rest;
      if (rest.length !== 2 || user?.role !== 'user' || assistant?.role !== 'assistant') {
        throw new Error('Alpaca format holds one user turn and one assistant turn; use sharegpt or openai for multi-turn data');
      }
      const rec: Record<string, unknown> = { instruction: user.content, input: '', output: assistant.content };
      if (sys) rec['system'] = sys.content;
      return rec;
    }
  }
}

/** JSONL text for any records (one JSON object per line, trailing newline). */
export function toJsonl(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '');
}

/** Writes conversations atomically; `extra(i)` adds fields (e.g. answer, family) to record i. */
export function writeConversations(
  file: string,
  convs: readonly Conversation[],
  format: ConversationFormat,
  extra?: (i: number) => Record<string, unknown>,
): void {
  writeFileAtomic(file, toJsonl(convs.map((c, i) => ({ ...toRecord(c, format), ...(extra ? extra(i) : {}) }))));
}

// ---- preference pairs ----

function prefSide(obj: Record<string, unknown>, field: 'prompt' | 'chosen' | 'rejected'): Message[] {
  const v = obj[field];
  const defaultRole: Role = field === 'prompt' ? 'user' : 'assistant';
  if (typeof v === 'string') return [{ role: defaultRole, content: nonEmpty(v, field) }];
  if (v === undefined || v === null) return fail(`missing field "${field}"`);
  const msgs = parseMessages(v, field);
  if (msgs.length === 0) fail(`"${field}" is empty`);
  const last = msgs[msgs.length - 1] as Message;
  if (field === 'prompt' && last.role !== 'user') fail('"prompt" must end with a user turn');
  if (field !== 'prompt' && msgs.some((m) => m.role !== 'assistant')) fail(`"${field}" must hold assistant turns only`);
  return msgs;
}

function fromPreference(obj: Record<string, unknown>): PreferencePair {
  const prompt = prefSide(obj, 'prompt');
  const chosen = prefSide(obj, 'chosen');
  const rejected = prefSide(obj, 'rejected');
  validateConversation([...prompt, ...chosen], 'prompt+chosen');
  return { prompt, chosen, rejected };
}

export function parsePreferences(text: string, file: string, opts: { skipBadLines?: boolean } = {}): ReadResult<PreferencePair> {
  return { ...readJsonl(text, file, opts.skipBadLines ?? false, () => fromPreference), format: 'preference' };
}

/** Reads `{prompt, chosen, rejected}` JSONL where each side is a string or a message list (TRL style). */
export function readPreferences(file: string, opts: { skipBadLines?: boolean } = {}): ReadResult<PreferencePair> {
  return parsePreferences(readText(file), file, opts);
}

/** A pair as a record: plain strings when each side is a single plain turn, message lists otherwise. */
export function preferenceToRecord(p: PreferencePair): Record<string, unknown> {
  const simple = p.prompt.length === 1 && p.prompt[0]?.role === 'user' && p.chosen.length === 1 && p.rejected.length === 1;
  if (simple) return { prompt: p.prompt[0]?.content, chosen: p.chosen[0]?.content, rejected: p.rejected[0]?.content };
  const plain = (ms: Message[]) => ms.map((m) => ({ role: m.role, content: m.content }));
  return { prompt: plain(p.prompt), chosen: plain(p.chosen), rejected: plain(p.rejected) };
}

export function writePreferences(file: string, pairs: readonly PreferencePair[]): void {
  writeFileAtomic(file, toJsonl(pairs.map(preferenceToRecord)));
}
