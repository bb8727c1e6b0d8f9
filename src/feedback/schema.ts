// The feedback store's SQLite schema as an ordered list of migrations: `PRAGMA user_version` is the
// number applied; each runs in its own transaction together with the version bump.
import type Database from 'better-sqlite3';

export type Migration = (db: Database.Database) => void;

/** `PRAGMA application_id` of a heed feedback store ("heed" in ASCII), so other SQLite files are refused. */
export const APPLICATION_ID = 0x68656564;

// Version 1. Rankings are stored as rows of (ranking, response, group) so the database itself
// guarantees that a ranked response exists, belongs to a ranking once, and groups are ordered.
const V1 = `
CREATE TABLE prompts (
  id       INTEGER PRIMARY KEY,
  messages TEXT NOT NULL CHECK (json_valid(messages)),
  source   TEXT,
  created  TEXT NOT NULL
);
CREATE TABLE responses (
  id        INTEGER PRIMARY KEY,
  prompt_id INTEGER NOT NULL REFERENCES prompts(id),
  text      TEXT NOT NULL,
  model     TEXT,
  adapter   TEXT,
  settings  TEXT CHECK (settings IS NULL OR json_valid(settings)),
  seed      INTEGER,
  created   TEXT NOT NULL
);
CREATE INDEX responses_by_prompt ON responses(prompt_id);
CREATE TABLE raters (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL UNIQUE,
  kind    TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'judge')),
  created TEXT NOT NULL
);
CREATE TABLE rankings (
  id          INTEGER PRIMARY KEY,
  prompt_id   INTEGER NOT NULL REFERENCES prompts(id),
  rater_id    INTEGER NOT NULL REFERENCES raters(id),
  skip_reason TEXT,
  shown       TEXT CHECK (shown IS NULL OR json_valid(shown)),
  time_ms     INTEGER CHECK (time_ms IS NULL OR time_ms >= 0),
  created     TEXT NOT NULL
);
CREATE INDEX rankings_by_prompt ON rankings(prompt_id, rater_id);
CREATE INDEX rankings_by_rater ON rankings(rater_id);
CREATE TABLE ranking_entries (
  ranking_id  INTEGER NOT NULL REFERENCES rankings(id),
  response_id INTEGER NOT NULL REFERENCES responses(id),
  grp         INTEGER NOT NULL CHECK (grp >= 0),
  PRIMARY KEY (ranking_id, response_id)
) WITHOUT ROWID;
CREATE TABLE judgments (
  id         INTEGER PRIMARY KEY,
  prompt_id  INTEGER NOT NULL REFERENCES prompts(id),
  judge      TEXT NOT NULL,
  principle  TEXT,
  response_a INTEGER NOT NULL REFERENCES responses(id),
  response_b INTEGER NOT NULL REFERENCES responses(id),
  raw        TEXT NOT NULL,
  verdict    TEXT CHECK (verdict IS NULL OR verdict IN ('a', 'b', 'tie')),
  p_a        REAL CHECK (p_a IS NULL OR (p_a >= 0 AND p_a <= 1)),
  created    TEXT NOT NULL,
  CHECK (response_a <> response_b)
);
CREATE INDEX judgments_by_prompt ON judgments(prompt_id);
CREATE TABLE leases (
  prompt_id INTEGER PRIMARY KEY REFERENCES prompts(id),
  rater_id  INTEGER NOT NULL REFERENCES raters(id),
  expires   INTEGER NOT NULL
);
`;

// Version 2. What a judge needs beside the text: a prompt's known answer (its task metadata) and
// whether a response ended its turn or ran to the token limit.
const V2 = `
ALTER TABLE prompts ADD COLUMN meta TEXT CHECK (meta IS NULL OR json_valid(meta));
ALTER TABLE responses ADD COLUMN finish TEXT CHECK (finish IS NULL OR finish IN ('stop', 'length'));
`;

export const MIGRATIONS: readonly Migration[] = [
  (db) => { db.exec(V1); db.pragma(`application_id = ${APPLICATION_ID}`); },
  (db) => { db.exec(V2); },
];

/**
 * Brings `db` up to the last migration of `migrations`, one transaction per step (a failing step
 * leaves the database at the version before it). A database newer than the list is refused.
 */
export function migrate(db: Database.Database, file: string, migrations: readonly Migration[] = MIGRATIONS): number {
  const have = db.pragma('user_version', { simple: true }) as number;
  if (have > migrations.length) {
    throw new Error(`${file}: the feedback store has schema version ${have}, newer than this heed knows (${migrations.length}); use a newer heed`);
  }
  for (let v = have; v < migrations.length; v++) {
    const step = migrations[v] as Migration;
    db.transaction(() => {
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return migrations.length;
}
