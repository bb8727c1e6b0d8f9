// The durable feedback store: prompts, their K responses, raters' rankings (tie groups or a skip),
// judges' verdicts and rating leases, in one SQLite file (WAL, synchronous = FULL, foreign keys).
// A call that returns has committed: a kill -9 right after it loses nothing.
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DataFormatError, validateConversation, type Message } from '../data/formats.js';
import type { RankingRecord, ResponseRecord } from '../data/preferences.js';
import { APPLICATION_ID, MIGRATIONS, migrate } from './schema.js';

/** A refused request; `kind` says why, so a server can answer 400, 404 or 409. */
export class FeedbackError extends Error {
  readonly kind: 'invalid' | 'not_found' | 'conflict';
  readonly param: string | undefined;
  constructor(kind: FeedbackError['kind'], message: string, param?: string) {
    super(message);
    this.name = 'FeedbackError';
    this.kind = kind;
    this.param = param;
  }
}

export interface PromptInput {
  messages: Message[]; source?: string;
  /** what else is known of the prompt, e.g. a task's answer, accepted answers, family and metric */
  meta?: Record<string, unknown>;
}
/** A response to store: a rankings-file response without its label inside the file and its time. */
export type ResponseInput = Omit<ResponseRecord, 'key' | 'created'>;
export interface StoredPrompt { id: number; messages: Message[]; source: string | null; meta: Record<string, unknown> | null; created: string }
export interface StoredResponse {
  id: number; promptId: number; text: string; model: string | null; adapter: string | null;
  settings: Record<string, unknown> | null; seed: number | null; finish: 'stop' | 'length' | null; created: string;
}
export interface StoredRanking {
  id: number; promptId: number; rater: string;
  /** Tie groups of response ids, best first; null for a skip. */
  groups: number[][] | null;
  skip: string | null;
  /** The order the responses were shown in, when the ranking came from the page. */
  shown: number[] | null;
  timeMs: number | null;
  created: string;
}
/** One preference implied by a ranking: `chosen` was put in an earlier group than `rejected`. */
export interface StoredPair { rankingId: number; promptId: number; rater: string; chosen: number; rejected: number; chosenGroup: number; rejectedGroup: number }
export type Verdict = 'a' | 'b' | 'tie';
export interface JudgmentInput {
  promptId: number; judge: string; principle?: string; a: number; b: number;
  /** The judge's answer as written. */
  raw: string;
  verdict?: Verdict | null;
  /** Soft label: the judge's probability that `a` is better. */
  pA?: number | null;
}
export interface StoredJudgment {
  id: number; promptId: number; judge: string; principle: string | null; a: number; b: number;
  raw: string; verdict: Verdict | null; pA: number | null; created: string;
}
export interface Progress { ranked: number; total: number }
export interface Assignment { prompt: StoredPrompt; responses: StoredResponse[]; leaseExpires: string; progress: Progress }
export interface RankingInput { rater: string; promptId: number; groups: number[][]; timeMs?: number; shown?: number[]; kind?: RaterKind }
export interface SkipInput { rater: string; promptId: number; reason: string; timeMs?: number; shown?: number[]; kind?: RaterKind }
export type RaterKind = 'human' | 'judge';
export interface Submitted { id: number; duplicate: boolean }
export interface RaterStats { rater: string; kind: RaterKind; rankings: number; skips: number; meanTimeMs: number | null }
export interface FeedbackStats {
  prompts: number; responses: number; rankable: number; rankings: number; skips: number;
  tied: number; pairs: number; judgments: number; raters: RaterStats[];
}
export interface ImportCounts { prompts: number; responses: number; rankings: number; skips: number }

export interface OpenOptions {
  /** Create the file when it does not exist (default true). */
  create?: boolean;
  /** Milliseconds since the epoch; tests move it to expire leases. */
  now?: () => number;
  /** How long a prompt handed to a rater stays theirs (default 10 minutes). */
  leaseMs?: number;
}

export const DEFAULT_LEASE_MS = 10 * 60 * 1000;

interface PromptRow { id: number; messages: string; source: string | null; meta: string | null; created: string }
interface ResponseRow { id: number; prompt_id: number; text: string; model: string | null; adapter: string | null; settings: string | null; seed: number | null; finish: 'stop' | 'length' | null; created: string }
interface RankingRow { id: number; prompt_id: number; rater: string; skip_reason: string | null; shown: string | null; time_ms: number | null; created: string }

function promptOf(row: PromptRow): StoredPrompt {
  return { id: row.id, messages: JSON.parse(row.messages) as Message[], source: row.source, meta: row.meta === null ? null : JSON.parse(row.meta) as Record<string, unknown>, created: row.created };
}

function checkPromptMessages(messages: Message[]): void {
  if (!Array.isArray(messages) || messages.length === 0) throw new FeedbackError('invalid', 'a prompt needs at least one message', 'messages');
  if (messages[messages.length - 1]?.role !== 'user') throw new FeedbackError('invalid', 'a prompt must end with a user turn', 'messages');
  try { validateConversation([...messages, { role: 'assistant', content: '.' }], 'messages'); } catch (e) {
    throw new FeedbackError('invalid', (e as Error).message, 'messages');
  }
}

/** Groups sorted inside so that two rankings that differ only in the order of a tie compare equal. */
const canonical = (groups: readonly (readonly number[])[]): string => JSON.stringify(groups.map((g) => [...g].sort((x, y) => x - y)));

function openDatabase(file: string, create: boolean): Database.Database {
  if (file !== ':memory:') {
    if (existsSync(file) && statSync(file).isDirectory()) throw new Error(`${file}: is a directory, not a feedback store`);
    if (!create && !existsSync(file)) throw new Error(`${file}: no such feedback store`);
  }
  try {
    return new Database(file);
  } catch (e) {
    throw new Error(`${file}: cannot open the feedback store (${(e as Error).message})`);
  }
}

export class FeedbackStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly leaseMs: number;

  private constructor(file: string, db: Database.Database, opts: OpenOptions) {
    this.file = file;
    this.db = db;
    this.now = opts.now ?? Date.now;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** Opens (creating, unless told not to) and migrates a store. */
  static open(file: string, opts: OpenOptions = {}): FeedbackStore {
    const db = openDatabase(file, opts.create ?? true);
    try {
      FeedbackStore.prepare(db, file);
    } catch (e) {
      db.close();
      throw e;
    }
    return new FeedbackStore(file, db, opts);
  }

  private static prepare(db: Database.Database, file: string): void {
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_NOTADB') throw new Error(`${file}: not a SQLite database`);
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    // FULL: with WAL every commit fsyncs the log, so a returned write survives a crash of the whole machine too.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    const app = db.pragma('application_id', { simple: true }) as number;
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (app !== APPLICATION_ID && (version > 0 || tables > 0 || app !== 0)) {
      throw new Error(`${file}: a SQLite database that is not a heed feedback store`);
    }
    migrate(db, file, MIGRATIONS);
  }

  close(): void { this.db.close(); }

  /** The SQLite settings that make writes durable (for tests and `stats`). */
  settings(): { journalMode: string; synchronous: number; foreignKeys: number; version: number } {
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
      foreignKeys: this.db.pragma('foreign_keys', { simple: true }) as number,
      version: this.db.pragma('user_version', { simple: true }) as number,
    };
  }

  /** `PRAGMA integrity_check`: "ok" or the problems SQLite found. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('\n');
  }

  private stamp(): string { return new Date(this.now()).toISOString(); }

  // ---- prompts and responses ----

  addPrompt(p: PromptInput): number {
    checkPromptMessages(p.messages);
    const messages = JSON.stringify(p.messages.map((m) => ({ role: m.role, content: m.content })));
    const r = this.db.prepare('INSERT INTO prompts (messages, source, meta, created) VALUES (?, ?, ?, ?)').run(messages, p.source ?? null, p.meta === undefined ? null : JSON.stringify(p.meta), this.stamp());
    return Number(r.lastInsertRowid);
  }

  addResponses(promptId: number, rs: readonly ResponseInput[]): number[] {
    return this.db.transaction(() => {
      this.requirePrompt(promptId);
      return rs.map((r) => this.insertResponse(promptId, r, this.stamp()));
    }).immediate();
  }

  private insertResponse(promptId: number, r: ResponseInput, created: string): number {
    if (typeof r.text !== 'string') throw new FeedbackError('invalid', 'a response needs text', 'text');
    if (r.finish !== undefined && r.finish !== 'stop' && r.finish !== 'length') throw new FeedbackError('invalid', `finish must be 'stop' or 'length', got ${JSON.stringify(r.finish)}`, 'finish');
    const res = this.db.prepare('INSERT INTO responses (prompt_id, text, model, adapter, settings, seed, finish, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(promptId, r.text, r.model ?? null, r.adapter ?? null, r.settings === undefined ? null : JSON.stringify(r.settings), r.seed ?? null, r.finish ?? null, created);
    return Number(res.lastInsertRowid);
  }

  private requirePrompt(id: number): void {
    if (!this.db.prepare('SELECT 1 FROM prompts WHERE id = ?').get(id)) throw new FeedbackError('not_found', `no prompt ${id}`, 'prompt_id');
  }

  prompt(id: number): StoredPrompt | undefined {
    const row = this.db.prepare('SELECT * FROM prompts WHERE id = ?').get(id) as PromptRow | undefined;
    return row && promptOf(row);
  }

  prompts(): StoredPrompt[] {
    return (this.db.prepare('SELECT * FROM prompts ORDER BY id').all() as PromptRow[])
      .map(promptOf);
  }

  responses(promptId: number): StoredResponse[] {
    return (this.db.prepare('SELECT * FROM responses WHERE prompt_id = ? ORDER BY id').all(promptId) as ResponseRow[]).map((r) => ({
      id: r.id, promptId: r.prompt_id, text: r.text, model: r.model, adapter: r.adapter,
      settings: r.settings === null ? null : JSON.parse(r.settings) as Record<string, unknown>, seed: r.seed, finish: r.finish, created: r.created,
    }));
  }

  // ---- raters, leases and assignment ----

  private raterId(name: string, kind: RaterKind = 'human'): number {
    if (typeof name !== 'string' || name.trim() === '') throw new FeedbackError('invalid', 'a rater needs a name', 'rater');
    this.db.prepare('INSERT INTO raters (name, kind, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(name, kind, this.stamp());
    return (this.db.prepare('SELECT id FROM raters WHERE name = ?').get(name) as { id: number }).id;
  }

  /** Prompts with at least two responses, the ones a ranking can be made of. */
  private rankableCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM (SELECT prompt_id FROM responses GROUP BY prompt_id HAVING count(*) >= 2)').get() as { n: number }).n;
  }

  /** How many rankable prompts this rater has ranked or skipped, out of all rankable prompts. */
  progress(rater: string): Progress {
    const ranked = (this.db.prepare(`SELECT count(DISTINCT k.prompt_id) AS n FROM rankings k JOIN raters r ON r.id = k.rater_id
      WHERE r.name = ? AND (SELECT count(*) FROM responses s WHERE s.prompt_id = k.prompt_id) >= 2`).get(rater) as { n: number }).n;
    return { ranked, total: this.rankableCount() };
  }

  /**
   * The next prompt for `rater`: the one they already hold, else the least-ranked rankable prompt they
   * have neither ranked nor skipped and nobody else holds. Handing it out leases it to them, so two
   * raters at once never get the same prompt; a lease lapses after leaseMs. Null when none is left.
   */
  nextForRater(rater: string): Assignment | null {
    return this.db.transaction((): Assignment | null => {
      const raterId = this.raterId(rater);
      const now = this.now();
      const expires = now + this.leaseMs;
      const notRanked = 'NOT EXISTS (SELECT 1 FROM rankings k WHERE k.prompt_id = p.id AND k.rater_id = @rater)';
      const held = this.db.prepare(`SELECT p.id FROM leases l JOIN prompts p ON p.id = l.prompt_id
        WHERE l.rater_id = @rater AND l.expires > @now AND ${notRanked} ORDER BY p.id LIMIT 1`).get({ rater: raterId, now }) as { id: number } | undefined;
      let promptId = held?.id;
      if (promptId === undefined) {
        const free = this.db.prepare(`SELECT p.id FROM prompts p
          WHERE (SELECT count(*) FROM responses s WHERE s.prompt_id = p.id) >= 2 AND ${notRanked}
            AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.prompt_id = p.id AND l.rater_id <> @rater AND l.expires > @now)
          ORDER BY (SELECT count(*) FROM rankings k WHERE k.prompt_id = p.id), p.id LIMIT 1`).get({ rater: raterId, now }) as { id: number } | undefined;
        promptId = free?.id;
      }
      // A rater holds one prompt at a time: whatever else they held goes back.
      this.db.prepare('DELETE FROM leases WHERE rater_id = ? AND prompt_id IS NOT ?').run(raterId, promptId ?? null);
      if (promptId === undefined) return null;
      this.db.prepare(`INSERT INTO leases (prompt_id, rater_id, expires) VALUES (?, ?, ?)
        ON CONFLICT (prompt_id) DO UPDATE SET rater_id = excluded.rater_id, expires = excluded.expires`).run(promptId, raterId, expires);
      return {
        prompt: this.prompt(promptId) as StoredPrompt,
        responses: this.responses(promptId),
        leaseExpires: new Date(expires).toISOString(),
        progress: this.progress(rater),
      };
    }).immediate();
  }

  // ---- rankings ----

  /**
   * Stores `rater`'s ranking of every response of a prompt, as tie groups best first. Refused
   * (conflict) when another rater holds the prompt's lease or this rater already ranked it
   * differently; the same ranking sent again returns the stored one (a retried request).
   */
  submitRanking(input: RankingInput): Submitted {
    return this.record(input, input.groups, null);
  }

  /** Stores that `rater` skipped a prompt, and why; the same rules as submitRanking. */
  skip(input: SkipInput): Submitted {
    if (typeof input.reason !== 'string' || input.reason.trim() === '') throw new FeedbackError('invalid', 'a skip needs a reason', 'reason');
    return this.record(input, null, input.reason);
  }

  private record(input: { rater: string; promptId: number; timeMs?: number; shown?: number[]; kind?: RaterKind }, groups: number[][] | null, skip: string | null): Submitted {
    return this.db.transaction((): Submitted => {
      this.requirePrompt(input.promptId);
      const raterId = this.raterId(input.rater, input.kind);
      const ids = this.responses(input.promptId).map((r) => r.id);
      if (groups !== null) this.checkGroups(groups, ids);
      if (input.shown !== undefined) this.checkShown(input.shown, ids);
      const mine = this.db.prepare('SELECT id, skip_reason FROM rankings WHERE prompt_id = ? AND rater_id = ? ORDER BY id LIMIT 1')
        .get(input.promptId, raterId) as { id: number; skip_reason: string | null } | undefined;
      if (mine) {
        const same = groups === null ? mine.skip_reason === skip : mine.skip_reason === null && canonical(this.groupsOf(mine.id)) === canonical(groups);
        if (same) return { id: mine.id, duplicate: true };
        throw new FeedbackError('conflict', `${input.rater} has already ranked prompt ${input.promptId} (ranking ${mine.id}); a ranking is never overwritten`);
      }
      const lease = this.db.prepare('SELECT l.expires, r.name FROM leases l JOIN raters r ON r.id = l.rater_id WHERE l.prompt_id = ? AND l.rater_id <> ?')
        .get(input.promptId, raterId) as { expires: number; name: string } | undefined;
      if (lease && lease.expires > this.now()) {
        throw new FeedbackError('conflict', `prompt ${input.promptId} is assigned to another rater until ${new Date(lease.expires).toISOString()}`);
      }
      const id = this.insertRanking(input.promptId, raterId, groups, skip, input.shown ?? null, input.timeMs ?? null, this.stamp());
      this.db.prepare('DELETE FROM leases WHERE prompt_id = ?').run(input.promptId);
      return { id, duplicate: false };
    }).immediate();
  }

  private checkGroups(groups: number[][], ids: readonly number[]): void {
    const known = new Set(ids);
    const seen = new Set<number>();
    for (const [g, group] of groups.entries()) {
      if (!Array.isArray(group) || group.length === 0) throw new FeedbackError('invalid', `ranking[${g}] is an empty tie group`, 'ranking');
      for (const id of group) {
        if (!known.has(id)) throw new FeedbackError('invalid', `ranking names response ${id}, which is not a response to this prompt`, 'ranking');
        if (seen.has(id)) throw new FeedbackError('invalid', `ranking lists response ${id} twice`, 'ranking');
        seen.add(id);
      }
    }
    if (seen.size < 2) throw new FeedbackError('invalid', `a ranking needs at least 2 responses (K = ${seen.size})`, 'ranking');
    const missing = ids.filter((i) => !seen.has(i));
    if (missing.length > 0) throw new FeedbackError('invalid', `ranking leaves out response${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, 'ranking');
  }

  private checkShown(shown: number[], ids: readonly number[]): void {
    const ok = shown.length === ids.length && new Set(shown).size === shown.length && shown.every((s) => ids.includes(s));
    if (!ok) throw new FeedbackError('invalid', 'shown must list each response of the prompt once', 'shown');
  }

  private insertRanking(promptId: number, raterId: number, groups: readonly (readonly number[])[] | null, skip: string | null,
    shown: readonly number[] | null, timeMs: number | null, created: string): number {
    const r = this.db.prepare('INSERT INTO rankings (prompt_id, rater_id, skip_reason, shown, time_ms, created) VALUES (?, ?, ?, ?, ?, ?)')
      .run(promptId, raterId, skip, shown === null ? null : JSON.stringify(shown), timeMs, created);
    const id = Number(r.lastInsertRowid);
    const entry = this.db.prepare('INSERT INTO ranking_entries (ranking_id, response_id, grp) VALUES (?, ?, ?)');
    groups?.forEach((group, g) => { for (const resp of group) entry.run(id, resp, g); });
    return id;
  }

  private groupsOf(rankingId: number): number[][] {
    const rows = this.db.prepare('SELECT response_id, grp FROM ranking_entries WHERE ranking_id = ? ORDER BY grp, response_id').all(rankingId) as Array<{ response_id: number; grp: number }>;
    const groups: number[][] = [];
    for (const r of rows) (groups[r.grp] ??= []).push(r.response_id);
    return groups.filter((g) => g !== undefined);
  }

  /** Every ranking and skip, oldest first (optionally one rater's). */
  rankings(filter: { rater?: string } = {}): StoredRanking[] {
    const rows = this.db.prepare(`SELECT k.id, k.prompt_id, r.name AS rater, k.skip_reason, k.shown, k.time_ms, k.created
      FROM rankings k JOIN raters r ON r.id = k.rater_id WHERE @rater IS NULL OR r.name = @rater ORDER BY k.id`)
      .all({ rater: filter.rater ?? null }) as RankingRow[];
    const entries = this.db.prepare('SELECT ranking_id, response_id, grp FROM ranking_entries ORDER BY ranking_id, grp, response_id')
      .all() as Array<{ ranking_id: number; response_id: number; grp: number }>;
    const groupsById = new Map<number, number[][]>();
    for (const e of entries) {
      let gs = groupsById.get(e.ranking_id);
      if (!gs) groupsById.set(e.ranking_id, gs = []);
      (gs[e.grp] ??= []).push(e.response_id);
    }
    return rows.map((row) => ({
      id: row.id, promptId: row.prompt_id, rater: row.rater,
      groups: row.skip_reason === null ? (groupsById.get(row.id) ?? []).filter((g) => g !== undefined) : null,
      skip: row.skip_reason,
      shown: row.shown === null ? null : JSON.parse(row.shown) as number[],
      timeMs: row.time_ms, created: row.created,
    }));
  }

  /** The C(K,2) preferences each ranking implies, minus the pairs inside a tie group (ties give no pair). */
  pairs(filter: { rater?: string } = {}): StoredPair[] {
    const out: StoredPair[] = [];
    for (const k of this.rankings(filter)) if (k.groups) out.push(...rankingPairs(k));
    return out;
  }

  // ---- judgments ----

  addJudgment(j: JudgmentInput): number {
    return this.db.transaction(() => {
      this.requirePrompt(j.promptId);
      if (typeof j.judge !== 'string' || j.judge.trim() === '') throw new FeedbackError('invalid', 'a judgment needs the judge\'s name', 'judge');
      const ids = new Set(this.responses(j.promptId).map((r) => r.id));
      for (const [side, id] of [['a', j.a], ['b', j.b]] as const) {
        if (!ids.has(id)) throw new FeedbackError('invalid', `response ${id} (${side}) is not a response to prompt ${j.promptId}`, side);
      }
      if (j.a === j.b) throw new FeedbackError('invalid', 'a judgment compares two different responses', 'b');
      if (j.pA != null && !(j.pA >= 0 && j.pA <= 1)) throw new FeedbackError('invalid', `pA must be a probability, got ${j.pA}`, 'pA');
      const r = this.db.prepare(`INSERT INTO judgments (prompt_id, judge, principle, response_a, response_b, raw, verdict, p_a, created)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(j.promptId, j.judge, j.principle ?? null, j.a, j.b, j.raw, j.verdict ?? null, j.pA ?? null, this.stamp());
      return Number(r.lastInsertRowid);
    }).immediate();
  }

  judgments(): StoredJudgment[] {
    const rows = this.db.prepare('SELECT * FROM judgments ORDER BY id').all() as Array<{
      id: number; prompt_id: number; judge: string; principle: string | null; response_a: number; response_b: number;
      raw: string; verdict: Verdict | null; p_a: number | null; created: string;
    }>;
    return rows.map((r) => ({ id: r.id, promptId: r.prompt_id, judge: r.judge, principle: r.principle, a: r.response_a, b: r.response_b,
      raw: r.raw, verdict: r.verdict, pA: r.p_a, created: r.created }));
  }

  // ---- summary ----

  stats(): FeedbackStats {
    const count = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
    const all = this.rankings();
    const rankings = all.filter((k) => k.groups !== null);
    const raters = this.db.prepare(`SELECT r.name AS rater, r.kind,
        sum(k.skip_reason IS NULL) AS rankings, sum(k.skip_reason IS NOT NULL) AS skips, avg(k.time_ms) AS mean
      FROM raters r JOIN rankings k ON k.rater_id = r.id GROUP BY r.id ORDER BY r.name`).all() as Array<{ rater: string; kind: RaterKind; rankings: number; skips: number; mean: number | null }>;
    return {
      prompts: count('SELECT count(*) AS n FROM prompts'),
      responses: count('SELECT count(*) AS n FROM responses'),
      rankable: this.rankableCount(),
      rankings: rankings.length,
      skips: all.length - rankings.length,
      tied: rankings.filter((k) => (k.groups as number[][]).some((g) => g.length > 1)).length,
      pairs: rankings.reduce((s, k) => s + rankingPairs(k).length, 0),
      judgments: count('SELECT count(*) AS n FROM judgments'),
      raters: raters.map((r) => ({ rater: r.rater, kind: r.kind, rankings: r.rankings, skips: r.skips, meanTimeMs: r.mean === null ? null : Math.round(r.mean) })),
    };
  }

  // ---- import ----

  /**
   * Adds parsed ranking records in one transaction: lines with the same prompt label share a prompt,
   * and the same response label within it one response. Any bad line throws DataFormatError naming
   * `file:line` for each, and the store is left exactly as it was.
   */
  importRecords(records: readonly RankingRecord[], file: string): ImportCounts {
    return this.db.transaction((): ImportCounts => {
      const counts: ImportCounts = { prompts: 0, responses: 0, rankings: 0, skips: 0 };
      const errors: string[] = [];
      const prompts = new Map<string, { id: number; messages: string; line: number; responses: Map<string, { id: number; text: string; line: number }> }>();
      for (const [i, rec] of records.entries()) {
        const at = `${file}:${rec.line}`;
        const messages = JSON.stringify(rec.prompt.map((m) => ({ role: m.role, content: m.content })));
        const key = rec.promptKey ?? `\u0000line-${i}`;
        let p = prompts.get(key);
        if (p && p.messages !== messages) { errors.push(`${at}: prompt_id ${rec.promptKey} holds a different prompt on line ${p.line}`); continue; }
        if (!p) {
          const r = this.db.prepare('INSERT INTO prompts (messages, source, meta, created) VALUES (?, ?, ?, ?)').run(messages, rec.source ?? null, rec.meta === undefined ? null : JSON.stringify(rec.meta), this.stamp());
          prompts.set(key, p = { id: Number(r.lastInsertRowid), messages, line: rec.line, responses: new Map() });
          counts.prompts++;
        }
        const ids = new Map<string, number>();
        let bad = false;
        for (const resp of rec.responses) {
          const known = p.responses.get(resp.key);
          if (known && known.text !== resp.text) { errors.push(`${at}: response ${JSON.stringify(resp.key)} has a different text on line ${known.line}`); bad = true; continue; }
          if (known) { ids.set(resp.key, known.id); continue; }
          const id = this.insertResponse(p.id, resp, resp.created ?? this.stamp());
          p.responses.set(resp.key, { id, text: resp.text, line: rec.line });
          ids.set(resp.key, id);
          counts.responses++;
        }
        if (bad || (rec.ranking === null && rec.skip === undefined)) continue;
        const raterId = this.raterId(rec.rater as string);
        const groups = rec.ranking?.map((g) => g.map((k) => ids.get(k) as number)) ?? null;
        this.insertRanking(p.id, raterId, groups, rec.skip ?? null, null, rec.timeMs ?? null, rec.created ?? this.stamp());
        if (groups) counts.rankings++; else counts.skips++;
      }
      // Throwing inside the transaction rolls every line back.
      if (errors.length > 0) throw new DataFormatError(errors);
      return counts;
    }).immediate();
  }
}

/** The pairs one ranking implies: every response over every response in a later group. */
export function rankingPairs(k: StoredRanking): StoredPair[] {
  const out: StoredPair[] = [];
  const groups = k.groups ?? [];
  for (let gi = 0; gi < groups.length; gi++) {
    for (let gj = gi + 1; gj < groups.length; gj++) {
      for (const chosen of groups[gi] as number[]) {
        for (const rejected of groups[gj] as number[]) {
          out.push({ rankingId: k.id, promptId: k.promptId, rater: k.rater, chosen, rejected, chosenGroup: gi, rejectedGroup: gj });
        }
      }
    }
  }
  return out;
}
