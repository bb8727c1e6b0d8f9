// The feedback store: durable settings, migrations, rankings with ties and the pairs they imply,
// leases that keep two raters apart, judgments and counts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { FeedbackError, FeedbackStore, type StoredPair } from '../../src/feedback/store.js';
import { APPLICATION_ID, MIGRATIONS, migrate, type Migration } from '../../src/feedback/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'heed-feedback-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(tmp, `s${n++}.db`);

const user = (content: string) => [{ role: 'user' as const, content }];

/** A store with one prompt and K responses "r0".."r{K-1}"; returns the response ids in that order. */
function withPrompt(store: FeedbackStore, k: number, text = 'Name a colour.'): { prompt: number; ids: number[] } {
  const prompt = store.addPrompt({ messages: user(text), source: 'test' });
  const ids = store.addResponses(prompt, Array.from({ length: k }, (_, i) => ({ text: `r${i}`, model: 'tiny', settings: { temperature: 0.7 }, seed: i })));
  return { prompt, ids };
}

const pairKey = (p: StoredPair) => `${p.chosen}>${p.rejected}`;

describe('feedback store: opening', () => {
  it('uses WAL, synchronous FULL and foreign keys, at the latest schema version', () => {
    const s = FeedbackStore.open(dbPath());
    assert.deepEqual(s.settings(), { journalMode: 'wal', synchronous: 2, foreignKeys: 1, version: MIGRATIONS.length });
    assert.equal(s.integrityCheck(), 'ok');
    s.close();
  });

  it('migrates an empty (version 0) database and keeps data through a later migration', () => {
    const file = dbPath();
    new Database(file).close();
    const s = FeedbackStore.open(file);
    const { prompt } = withPrompt(s, 2);
    s.close();
    // A next version adds a column; opening with it migrates in place and the rows survive.
    const db = new Database(file);
    const v2: Migration = (d) => d.exec('ALTER TABLE prompts ADD COLUMN tag TEXT');
    assert.equal(migrate(db, file, [...MIGRATIONS, v2]), MIGRATIONS.length + 1);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length + 1);
    assert.deepEqual(db.prepare('SELECT id, tag FROM prompts').all(), [{ id: prompt, tag: null }]);
    db.close();
  });

  it('rolls a failing migration back entirely and leaves the version where it was', () => {
    const file = dbPath();
    FeedbackStore.open(file).close();
    const db = new Database(file);
    const broken: Migration = (d) => { d.exec('CREATE TABLE half (x)'); d.exec('INSERT INTO nowhere VALUES (1)'); };
    assert.throws(() => migrate(db, file, [...MIGRATIONS, broken]), /nowhere/);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    assert.deepEqual(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get(), { n: 0 });
    db.close();
  });

  it('refuses a newer store, a foreign SQLite file, a non-database, a directory and a missing file', () => {
    const newer = dbPath();
    FeedbackStore.open(newer).close();
    const db = new Database(newer);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => FeedbackStore.open(newer), new RegExp(`schema version 99, newer than this heed knows \\(${MIGRATIONS.length}\\)`));

    const foreign = dbPath();
    const f = new Database(foreign);
    f.exec('CREATE TABLE notes (x)');
    f.close();
    assert.throws(() => FeedbackStore.open(foreign), /not a heed feedback store/);

    const text = join(tmp, 'notes.db');
    writeFileSync(text, 'this is not sqlite, just some text that is long enough to have a header...'.repeat(4));
    assert.throws(() => FeedbackStore.open(text), /notes\.db: not a SQLite database/);
    assert.throws(() => FeedbackStore.open(tmp), /is a directory/);
    assert.throws(() => FeedbackStore.open(join(tmp, 'missing.db'), { create: false }), /missing\.db: no such feedback store/);
    assert.throws(() => FeedbackStore.open(join(tmp, 'no/such/dir/x.db')), /cannot open the feedback store/);
  });

  it('marks its files with the heed application id', () => {
    const file = dbPath();
    FeedbackStore.open(file).close();
    const db = new Database(file);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    db.close();
  });
});

describe('feedback store: rankings and pairs', () => {
  it('turns a ranking with a tie into the C(K,2) pairs minus the tied one', () => {
    const s = FeedbackStore.open(':memory:');
    const { prompt, ids } = withPrompt(s, 4);
    const [a, b, c, d] = ids as [number, number, number, number];
    s.submitRanking({ rater: 'alice', promptId: prompt, groups: [[a], [c, b], [d]], timeMs: 4200 });
    const pairs = s.pairs();
    assert.deepEqual(pairs.map(pairKey).sort(), [`${a}>${b}`, `${a}>${c}`, `${a}>${d}`, `${b}>${d}`, `${c}>${d}`].sort());
    assert.equal(pairs.length, 4 * 3 / 2 - 1);
    const [k] = s.rankings();
    assert.deepEqual(k?.groups, [[a], [b, c], [d]]);
    assert.equal(k?.timeMs, 4200);
    s.close();
  });

  it('gives all six pairs for a strict order of four and none when everything is tied', () => {
    const s = FeedbackStore.open(':memory:');
    const one = withPrompt(s, 4);
    const two = withPrompt(s, 3, 'Another.');
    s.submitRanking({ rater: 'alice', promptId: one.prompt, groups: (one.ids as number[]).map((i) => [i]).reverse() });
    s.submitRanking({ rater: 'alice', promptId: two.prompt, groups: [two.ids as number[]] });
    const pairs = s.pairs();
    assert.equal(pairs.length, 6);
    const [a, b, c, d] = one.ids as [number, number, number, number];
    assert.deepEqual(pairs.map(pairKey), [`${d}>${c}`, `${d}>${b}`, `${d}>${a}`, `${c}>${b}`, `${c}>${a}`, `${b}>${a}`]);
    assert.equal(s.stats().pairs, 6);
    s.close();
  });

  it('refuses unknown, duplicate, missing and too few responses with the field named', () => {
    const s = FeedbackStore.open(':memory:');
    const { prompt, ids } = withPrompt(s, 3);
    const other = withPrompt(s, 2, 'Other.');
    const [a, b, c] = ids as [number, number, number];
    const bad = (groups: number[][], re: RegExp) => assert.throws(() => s.submitRanking({ rater: 'x', promptId: prompt, groups }),
      (e: unknown) => e instanceof FeedbackError && e.kind === 'invalid' && e.param === 'ranking' && re.test(e.message));
    bad([[a], [b], [other.ids[0] as number]], /not a response to this prompt/);
    bad([[a], [b], [a, c]], /lists response \d+ twice/);
    bad([[a], [b]], /leaves out response/);
    bad([[a]], /at least 2 responses \(K = 1\)/);
    bad([[a], [], [b, c]], /empty tie group/);
    assert.throws(() => s.submitRanking({ rater: 'x', promptId: 999, groups: [[a], [b, c]] }), (e: unknown) => e instanceof FeedbackError && e.kind === 'not_found');
    assert.throws(() => s.skip({ rater: 'x', promptId: prompt, reason: '  ' }), /needs a reason/);
    assert.throws(() => s.addPrompt({ messages: [{ role: 'assistant', content: 'hi' }] }), /must end with a user turn/);
    assert.equal(s.rankings().length, 0);
    s.close();
  });

  it('never overwrites a ranking; the same ranking sent again returns the stored one', () => {
    const s = FeedbackStore.open(':memory:');
    const { prompt, ids } = withPrompt(s, 2);
    const [a, b] = ids as [number, number];
    const first = s.submitRanking({ rater: 'alice', promptId: prompt, groups: [[a], [b]] });
    assert.deepEqual(s.submitRanking({ rater: 'alice', promptId: prompt, groups: [[a], [b]] }), { id: first.id, duplicate: true });
    assert.throws(() => s.submitRanking({ rater: 'alice', promptId: prompt, groups: [[b], [a]] }),
      (e: unknown) => e instanceof FeedbackError && e.kind === 'conflict' && /never overwritten/.test(e.message));
    assert.throws(() => s.skip({ rater: 'alice', promptId: prompt, reason: 'changed my mind' }), /already ranked/);
    // Another rater ranks the same prompt separately; alice's ranking is untouched.
    s.submitRanking({ rater: 'bob', promptId: prompt, groups: [[b], [a]] });
    assert.deepEqual(s.rankings({ rater: 'alice' }).map((k) => k.groups), [[[a], [b]]]);
    assert.deepEqual(s.rankings({ rater: 'bob' }).map((k) => k.groups), [[[b], [a]]]);
    s.close();
  });
});

describe('feedback store: assignment', () => {
  it('hands two raters different prompts, refuses a ranking of a prompt leased to someone else, and lets a lease lapse', () => {
    let now = Date.parse('2025-03-01T12:00:00Z');
    const s = FeedbackStore.open(':memory:', { now: () => now, leaseMs: 600_000 });
    const p1 = withPrompt(s, 3, 'one');
    const p2 = withPrompt(s, 3, 'two');
    withPrompt(s, 1, 'only one response: never handed out');
    const alice = s.nextForRater('alice');
    const bob = s.nextForRater('bob');
    assert.equal(alice?.prompt.id, p1.prompt);
    assert.equal(bob?.prompt.id, p2.prompt);
    assert.deepEqual(alice?.progress, { ranked: 0, total: 2 });
    assert.equal(alice?.leaseExpires, '2025-03-01T12:10:00.000Z');
    // Asking again (a reload) gives the same prompt.
    assert.equal(s.nextForRater('alice')?.prompt.id, p1.prompt);
    const order = (p1.ids as number[]).map((i) => [i]);
    assert.throws(() => s.submitRanking({ rater: 'bob', promptId: p1.prompt, groups: order }),
      (e: unknown) => e instanceof FeedbackError && e.kind === 'conflict' && /assigned to another rater/.test(e.message));
    // Eleven minutes on, alice's lease has lapsed: carol gets p1 and alice can no longer submit it.
    now += 11 * 60_000;
    assert.equal(s.nextForRater('carol')?.prompt.id, p1.prompt);
    assert.throws(() => s.submitRanking({ rater: 'alice', promptId: p1.prompt, groups: order }), /assigned to another rater/);
    const saved = s.submitRanking({ rater: 'carol', promptId: p1.prompt, groups: order });
    assert.equal(saved.duplicate, false);
    // Bob's lease on p2 has lapsed too, and p2 has fewer rankings: alice gets it next.
    assert.equal(s.nextForRater('alice')?.prompt.id, p2.prompt);
    // The lease on p1 went with carol's submission, so alice may still rank p1 herself.
    s.submitRanking({ rater: 'alice', promptId: p1.prompt, groups: order });
    assert.deepEqual(s.progress('alice'), { ranked: 1, total: 2 });
    s.close();
  });

  it('keeps two connections to one file apart (two server processes, or a server and a judge)', () => {
    const file = dbPath();
    const a = FeedbackStore.open(file);
    const b = FeedbackStore.open(file);
    const p1 = withPrompt(a, 2, 'one');
    const p2 = withPrompt(a, 2, 'two');
    assert.equal(a.nextForRater('alice')?.prompt.id, p1.prompt);
    assert.equal(b.nextForRater('bob')?.prompt.id, p2.prompt);
    assert.throws(() => b.submitRanking({ rater: 'bob', promptId: p1.prompt, groups: [[p1.ids[0] as number], [p1.ids[1] as number]] }), /assigned/);
    a.skip({ rater: 'alice', promptId: p1.prompt, reason: 'cannot judge' });
    assert.equal(b.rankings()[0]?.skip, 'cannot judge');
    a.close();
    b.close();
  });

  it('goes to the least-ranked prompt first and says when nothing is left', () => {
    const s = FeedbackStore.open(':memory:');
    const p1 = withPrompt(s, 2, 'one');
    const p2 = withPrompt(s, 2, 'two');
    s.submitRanking({ rater: 'zoe', promptId: p1.prompt, groups: [[p1.ids[0] as number], [p1.ids[1] as number]] });
    assert.equal(s.nextForRater('alice')?.prompt.id, p2.prompt);
    s.skip({ rater: 'alice', promptId: p2.prompt, reason: 'off-topic' });
    assert.equal(s.nextForRater('alice')?.prompt.id, p1.prompt);
    s.submitRanking({ rater: 'alice', promptId: p1.prompt, groups: [[p1.ids[1] as number], [p1.ids[0] as number]] });
    assert.equal(s.nextForRater('alice'), null);
    assert.deepEqual(s.progress('alice'), { ranked: 2, total: 2 });
    s.close();
  });
});

describe('feedback store: judgments and stats', () => {
  it('records a judge\'s verdict, refusing responses of another prompt and non-probabilities', () => {
    const s = FeedbackStore.open(':memory:');
    const { prompt, ids } = withPrompt(s, 3);
    const other = withPrompt(s, 2, 'Other.');
    const [a, b] = ids as [number, number];
    const id = s.addJudgment({ promptId: prompt, judge: 'rules', principle: 'answers first', a, b, raw: 'A', verdict: 'a', pA: 0.75 });
    assert.deepEqual(s.judgments().map(({ created: _, ...j }) => j), [
      { id, promptId: prompt, judge: 'rules', principle: 'answers first', a, b, raw: 'A', verdict: 'a', pA: 0.75 },
    ]);
    assert.throws(() => s.addJudgment({ promptId: prompt, judge: 'rules', a, b: other.ids[0] as number, raw: 'B' }), /not a response to prompt/);
    assert.throws(() => s.addJudgment({ promptId: prompt, judge: 'rules', a, b: a, raw: 'B' }), /two different responses/);
    assert.throws(() => s.addJudgment({ promptId: prompt, judge: 'rules', a, b, raw: 'B', pA: 1.5 }), /probability/);
    assert.equal(s.judgments().length, 1);
    s.close();
  });

  it('counts prompts, rankings by rater, skips, ties, pairs and judgments', () => {
    const s = FeedbackStore.open(':memory:');
    const p1 = withPrompt(s, 3, 'one');
    const p2 = withPrompt(s, 2, 'two');
    withPrompt(s, 1, 'three');
    const [a, b, c] = p1.ids as [number, number, number];
    s.submitRanking({ rater: 'alice', promptId: p1.prompt, groups: [[a], [b, c]], timeMs: 1000 });
    s.submitRanking({ rater: 'bob', promptId: p1.prompt, groups: [[c], [b], [a]], timeMs: 3000 });
    s.skip({ rater: 'bob', promptId: p2.prompt, reason: 'unclear', timeMs: 2000 });
    s.submitRanking({ rater: 'judge-rules', promptId: p2.prompt, groups: [[p2.ids[0] as number], [p2.ids[1] as number]], kind: 'judge' });
    s.addJudgment({ promptId: p2.prompt, judge: 'judge-rules', a: p2.ids[0] as number, b: p2.ids[1] as number, raw: 'A', verdict: 'a' });
    assert.deepEqual(s.stats(), {
      prompts: 3, responses: 6, rankable: 2, rankings: 3, skips: 1, tied: 1, pairs: 2 + 3 + 1, judgments: 1,
      raters: [
        { rater: 'alice', kind: 'human', rankings: 1, skips: 0, meanTimeMs: 1000 },
        { rater: 'bob', kind: 'human', rankings: 1, skips: 1, meanTimeMs: 2500 },
        { rater: 'judge-rules', kind: 'judge', rankings: 1, skips: 0, meanTimeMs: null },
      ],
    });
    s.close();
  });
});

describe('feedback store: version 2', () => {
  it('a version-1 store migrates in place: its rows survive, prompts gain meta and responses finish', () => {
    const dir = mkdtempSync(join(tmpdir(), 'heed-v2-')), file = join(dir, 'v1.db');
    const db = new Database(file);
    migrate(db, file, MIGRATIONS.slice(0, 1));
    db.prepare("INSERT INTO prompts (messages, source, created) VALUES (?, 'old', 'x')").run(JSON.stringify([{ role: 'user', content: 'hi' }]));
    db.close();
    const s = FeedbackStore.open(file);
    assert.equal(s.settings().version, MIGRATIONS.length);
    assert.equal(s.prompts()[0]!.source, 'old');
    assert.equal(s.prompts()[0]!.meta, null);
    const p = s.addPrompt({ messages: [{ role: 'user', content: 'What is 2 plus 2?' }], meta: { answer: '4', metric: 'normalized' } });
    const [a, b] = s.addResponses(p, [{ text: '4', finish: 'stop' }, { text: '5 5 5 5', finish: 'length' }]);
    assert.deepEqual(s.prompt(p)!.meta, { answer: '4', metric: 'normalized' });
    assert.deepEqual(s.responses(p).map((r) => [r.id, r.finish]), [[a, 'stop'], [b, 'length']]);
    assert.throws(() => s.addResponses(p, [{ text: 'x', finish: 'halt' as 'stop' }]), /finish must be 'stop' or 'length'/);
    s.close();
  });
});
