// `heed feedback import|export|stats`, driven through commander in-process, and once through the bin.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inProcess } from '../helpers/cli.js';
import { register } from '../../src/cli/commands/feedback.js';

const FIX = join(import.meta.dirname, '../fixtures/feedback');
const ROOT = join(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'heed-cli-feedback-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const STACK = /\n\s+at .*:\d+:\d+/;

const run = inProcess(register);

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('heed feedback', () => {
  const db = join(tmp, 'fb.db');

  it('imports rankings and pairs, counts them, and exports every format', async () => {
    let r = await run('feedback', 'import', '--db', db, join(FIX, 'rankings.jsonl'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\(rankings\) -> .*fb\.db: 3 prompts, 9 responses, 2 rankings, 1 skips/);
    r = await run('feedback', 'import', '--db', db, '--rater', 'hub', join(FIX, 'trl-standard.jsonl'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\(trl\) .* 2 prompts, 5 responses, 3 rankings, 0 skips/);

    r = await run('feedback', 'stats', '--db', db);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /5 prompts \(5 with 2\+ responses\), 14 responses/);
    assert.match(r.out, /rankings 5 \(1 with ties\), skips 1, implied pairs 14, judgments 0/);
    assert.match(r.out, /alice\thuman\t1\t0\t5\.3 s/);
    assert.match(r.out, /bob\thuman\t1\t1\t2\.1 s/);
    assert.match(r.out, /hub\thuman\t3\t0\t-/);
    const json = JSON.parse((await run('feedback', 'stats', '--db', db, '--json')).out) as { pairs: number; raters: unknown[] };
    assert.equal(json.pairs, 14);
    assert.equal(json.raters.length, 3);

    for (const [format, count] of [['rankings', 7], ['pairs', 14], ['trl', 14], ['trl-messages', 14], ['llamafactory', 14]] as const) {
      const out = join(tmp, 'out', `${format}.jsonl`);
      r = await run('feedback', 'export', '--db', db, '--format', format, '--out', out);
      assert.equal(r.code, 0, r.err);
      assert.equal(lines(out).length, count, format);
    }
    assert.deepEqual(lines(join(tmp, 'out', 'trl.jsonl')).at(-1), { prompt: 'Water boils at', chosen: ' 100 degrees Celsius at sea level.', rejected: ' noon.' });
    r = await run('feedback', 'export', '--db', db, '--format', 'llamafactory', '--out', join(tmp, 'out', 'lf.jsonl'));
    assert.match(r.out, /"formatting": "sharegpt",\s+"ranking": true/);
  });

  it('reports bad input as file:line without a stack trace and imports nothing', async () => {
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, `${readFileSync(join(FIX, 'rankings.jsonl'), 'utf8').split('\n')[0]}\n{"prompt": [{"role": "user", "content": "q"}], "responses": [{"id": "a", "text": "x"}], "ranking": [["a"]], "rater": "r"}\n`);
    const before = (await run('feedback', 'stats', '--db', db, '--json')).out;
    const r = await run('feedback', 'import', '--db', db, bad);
    assert.equal(r.code, 1);
    assert.match(r.err, /^heed: .*bad\.jsonl:2: a prompt needs at least 2 responses to rank \(K = 1\)/);
    assert.doesNotMatch(r.err, STACK);
    assert.equal((await run('feedback', 'stats', '--db', db, '--json')).out, before);
  });

  it('refuses a missing store, an unknown format and an empty rater', async () => {
    let r = await run('feedback', 'stats', '--db', join(tmp, 'none.db'));
    assert.equal(r.code, 1);
    assert.match(r.err, /none\.db: no such feedback store/);
    assert.ok(!existsSync(join(tmp, 'none.db')), 'stats must not create a store');
    r = await run('feedback', 'export', '--db', db, '--format', 'csv', '--out', join(tmp, 'x.jsonl'));
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--format must be one of rankings, pairs, trl, trl-messages, llamafactory, got 'csv'/);
    r = await run('feedback', 'export', '--db', db, '--format', 'trl');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--out/);
    r = await run('feedback', 'import', '--db', db, '--rater', ' ', join(FIX, 'trl-standard.jsonl'));
    assert.equal(r.code, 1);
    assert.match(r.err, /--rater must not be empty/);
  });

  it('shows an example in every subcommand\'s help', async () => {
    for (const sub of ['import', 'export', 'stats']) {
      const r = await run('feedback', sub, '--help');
      assert.match(r.out, /Example/, sub);
      assert.match(r.out, new RegExp(`heed feedback ${sub} --db`), sub);
    }
  });

  it('answers through the real bin without a stack trace', { skip: !existsSync(join(ROOT, 'dist/cli/commands/feedback.js')) && 'dist/ not built' }, () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/heed.js'), 'feedback', 'stats', '--db', join(tmp, 'fb.db'), '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { rankings: number }).rankings, 5);
    const bad = spawnSync(process.execPath, [join(ROOT, 'bin/heed.js'), 'feedback', 'import', '--db', join(tmp, 'fb.db'), tmp], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^heed: .*: is a directory\n$/);
  });
});
