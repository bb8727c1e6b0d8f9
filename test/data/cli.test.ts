// Tests for `heed data` and `heed data check`, driven through commander in-process.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inProcess } from '../helpers/cli.js';
import { register } from '../../src/cli/commands/data.js';
import { readConversations } from '../../src/data/formats.js';

const FIX = join(import.meta.dirname, '../fixtures/data');
const tmp = mkdtempSync(join(tmpdir(), 'heed-cli-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const run = inProcess(register);

describe('heed data', () => {
  it('writes the three splits and families.json', async () => {
    const r = await run('data', '--out', tmp, '--seed', '4', '--train-per-family', '5', '--eval-per-family', '3');
    assert.equal(r.code, 0, r.err);
    const train = readConversations(join(tmp, 'train.jsonl'));
    assert.equal(train.format, 'openai');
    const fams = JSON.parse(readFileSync(join(tmp, 'families.json'), 'utf8')) as { families: Array<{ name: string; zeroShot: boolean }> };
    assert.equal(train.items.length, 5 * fams.families.filter((f) => !f.zeroShot).length);
    const first = JSON.parse(readFileSync(join(tmp, 'zeroshot.jsonl'), 'utf8').split('\n')[0] as string) as Record<string, unknown>;
    assert.equal(typeof first['answer'], 'string');
    assert.equal(typeof first['family'], 'string');
    assert.match(r.out, /zero-shot: lowercase, last_letter, list_first/);
  });

  it('requires --out and rejects bad numbers and unknown families', async () => {
    assert.notEqual((await run('data')).code, 0);
    assert.notEqual((await run('data', '--out', tmp, '--seed', 'x')).code, 0);
    const r = await run('data', '--out', tmp, '--zero-shot', 'add,nope');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /unknown task family nope/);
  });
});

describe('heed data check', () => {
  it('prints counts for a good file', async () => {
    const r = await run('data', 'check', join(FIX, 'good-openai-crlf.jsonl'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ok, format openai, 2 conversations, 6 messages, 0 with a system prompt, 1 multi-turn/);
  });

  it('prints file:line errors and fails for a bad file', async () => {
    const file = join(FIX, 'bad-alpaca.jsonl');
    const r = await run('data', 'check', file, '--format', 'alpaca');
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(`${file}:2: missing field "output"`), r.err);
    assert.ok(r.err.includes(`heed: ${file}: 4 bad lines`), r.err);
  });

  it('reads past a BOM, and refuses an empty file, invalid UTF-8 and a missing file by name', async () => {
    const good = readFileSync(join(FIX, 'good-openai-crlf.jsonl'));
    const bom = join(tmp, 'bom.jsonl');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good]));
    const r = await run('data', 'check', bom);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ok, format openai, 2 conversations/);
    const empty = join(tmp, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    let e = await run('data', 'check', empty);
    assert.equal(e.code, 1);
    assert.ok(e.err.includes(`heed: ${empty}: holds no conversations`), e.err);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, Buffer.concat([good, Buffer.from([0x7b, 0xff, 0x7d, 0x0a])]));
    e = await run('data', 'check', bad);
    assert.equal(e.code, 1);
    assert.ok(e.err.includes(`heed: ${bad}: not valid UTF-8: byte ${good.length + 1} (0xff), line ${good.toString().split('\n').length}`), e.err);
    e = await run('data', 'check', join(tmp, 'nope.jsonl'));
    assert.ok(e.err.includes(`nope.jsonl: no such file`), e.err);
  });
});
