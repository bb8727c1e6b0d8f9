// Tests for the conversation and preference JSONL readers/writers: file:line errors, skipBadLines,
// auto-detection and round trips.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DataFormatError, parseConversations, readConversations, readPreferences, writeConversations, writePreferences,
  type Conversation, type PreferencePair,
} from '../../src/data/formats.js';

const FIX = join(import.meta.dirname, '../fixtures/data');
const tmp = mkdtempSync(join(tmpdir(), 'heed-formats-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function errorsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DataFormatError, `expected DataFormatError, got ${String(e)}`);
    return e.errors;
  }
  assert.fail('expected the read to fail');
}

describe('malformed lines are reported as file:line: reason', () => {
  it('openai', () => {
    const file = join(FIX, 'bad-openai.jsonl');
    const errs = errorsOf(() => readConversations(file));
    assert.deepEqual(errs.map((e) => e.slice(0, e.indexOf(': ', file.length))), [2, 3, 4, 5, 7].map((n) => `${file}:${n}`));
    assert.match(errs[0] as string, /:2: bad JSON/);
    assert.match(errs[1] as string, /:3: messages\[1\]\.role: unknown role "bot"/);
    assert.match(errs[2] as string, /:4: empty content in "messages\[0\]\.content"/);
    assert.match(errs[3] as string, /:5: conversation does not end with an assistant turn/);
    assert.match(errs[4] as string, /:7: missing field "messages\[1\]\.content"/);
  });

  it('sharegpt', () => {
    const errs = errorsOf(() => readConversations(join(FIX, 'bad-sharegpt.jsonl')));
    assert.equal(errs.length, 5);
    assert.match(errs[0] as string, /bad-sharegpt\.jsonl:2: conversations\[1\]\.from: unknown role "bot"/);
    assert.match(errs[1] as string, /:3: missing field "conversations\[1\]\.value"/);
    assert.match(errs[2] as string, /:4: conversation does not end with an assistant turn/);
    assert.match(errs[3] as string, /:5: conversations\[1\]: a system message may only come first/);
    assert.match(errs[4] as string, /:6: field "conversations" must be an array/);
  });

  it('alpaca', () => {
    const errs = errorsOf(() => readConversations(join(FIX, 'bad-alpaca.jsonl')));
    assert.deepEqual(errs.map((e) => e.replace(/^.*bad-alpaca\.jsonl:/, '')), [
      '2: missing field "output"',
      '3: empty content in "instruction"',
      '4: field "input" must be a string, got number',
      '5: line is not a JSON object',
    ]);
  });

  it('a forced format that does not fit reports a missing field', () => {
    const errs = errorsOf(() => parseConversations('{"messages":[]}\n', 'x.jsonl', { format: 'sharegpt' }));
    assert.deepEqual(errs, ['x.jsonl:1: missing field "conversations"']);
  });

  it('preferences', () => {
    const errs = errorsOf(() => readPreferences(join(FIX, 'bad-preference.jsonl')));
    assert.deepEqual(errs.map((e) => e.replace(/^.*bad-preference\.jsonl:/, '')), [
      '2: missing field "rejected"',
      '3: "prompt" must end with a user turn',
      '4: "chosen" must hold assistant turns only',
    ]);
  });
});

describe('skipBadLines', () => {
  it('keeps good lines and counts the bad ones', () => {
    const r = readConversations(join(FIX, 'bad-openai.jsonl'), { skipBadLines: true });
    assert.equal(r.items.length, 2);
    assert.equal(r.skipped, 5);
    assert.equal(r.errors.length, 5);
    assert.equal(r.items[1]?.messages[0]?.role, 'system');
    const s = readConversations(join(FIX, 'bad-sharegpt.jsonl'), { skipBadLines: true });
    assert.equal(s.skipped, 5);
    assert.equal(s.items[1]?.messages.length, 5);
    const p = readPreferences(join(FIX, 'bad-preference.jsonl'), { skipBadLines: true });
    assert.equal(p.items.length, 2);
    assert.equal(p.skipped, 3);
  });
});

describe('detection and parsing', () => {
  it('detects each format and renders Alpaca input as a separate block', () => {
    assert.equal(readConversations(join(FIX, 'bad-sharegpt.jsonl'), { skipBadLines: true }).format, 'sharegpt');
    const a = readConversations(join(FIX, 'bad-alpaca.jsonl'), { skipBadLines: true });
    assert.equal(a.format, 'alpaca');
    assert.deepEqual(a.items[1]?.messages, [
      { role: 'user', content: 'Reverse the word.\n\ndog' },
      { role: 'assistant', content: 'god' },
    ]);
  });

  it('accepts CRLF line endings and blank lines', () => {
    const r = readConversations(join(FIX, 'good-openai-crlf.jsonl'));
    assert.equal(r.format, 'openai');
    assert.equal(r.items.length, 2);
    assert.equal(r.items[1]?.messages.length, 4);
  });

  it('preference sides may be strings or message lists', () => {
    const r = readPreferences(join(FIX, 'bad-preference.jsonl'), { skipBadLines: true });
    assert.deepEqual(r.items[0], {
      prompt: [{ role: 'user', content: 'What is 2+2?' }],
      chosen: [{ role: 'assistant', content: '4' }],
      rejected: [{ role: 'assistant', content: '5' }],
    });
    assert.equal(r.items[1]?.prompt[0]?.role, 'system');
  });
});

describe('round trips', () => {
  const single: Conversation[] = [
    { messages: [{ role: 'user', content: 'Say "hi"\nplease' }, { role: 'assistant', content: 'hi' }] },
    { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '2+2?' }, { role: 'assistant', content: '4' }] },
  ];
  const multi: Conversation[] = [
    ...single,
    { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }] },
  ];
  for (const format of ['openai', 'sharegpt', 'alpaca'] as const) {
    it(format, () => {
      const data = format === 'alpaca' ? single : multi;
      const file = join(tmp, `${format}.jsonl`);
      writeConversations(file, data, format);
      const r = readConversations(file);
      assert.equal(r.format, format);
      assert.deepEqual(r.items, data);
      assert.equal(r.skipped, 0);
    });
  }

  it('alpaca refuses multi-turn conversations', () => {
    assert.throws(() => writeConversations(join(tmp, 'x.jsonl'), multi, 'alpaca'), /one user turn/);
  });

  it('extra fields are written and ignored on read', () => {
    const file = join(tmp, 'extra.jsonl');
    writeConversations(file, single, 'openai', (i) => ({ answer: `a${i}`, family: 'f' }));
    const first = JSON.parse(readFileSync(file, 'utf8').split('\n')[0] as string) as Record<string, unknown>;
    assert.equal(first['answer'], 'a0');
    assert.deepEqual(readConversations(file).items, single);
  });

  it('preferences, plain and conversational', () => {
    const pairs: PreferencePair[] = [
      { prompt: [{ role: 'user', content: 'Q' }], chosen: [{ role: 'assistant', content: 'good' }], rejected: [{ role: 'assistant', content: 'bad' }] },
      {
        prompt: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }],
        chosen: [{ role: 'assistant', content: 'good' }],
        rejected: [{ role: 'assistant', content: 'bad' }],
      },
    ];
    const file = join(tmp, 'pref.jsonl');
    writePreferences(file, pairs);
    assert.equal(typeof JSON.parse(readFileSync(file, 'utf8').split('\n')[0] as string).prompt, 'string');
    assert.deepEqual(readPreferences(file).items, pairs);
  });

  it('writes leave no temporary files behind', () => {
    const names = readdirSync(tmp);
    assert.ok(names.every((n) => n.endsWith('.jsonl')), names.join(', '));
  });
});
