// Import and export of the feedback store as JSONL: rankings round-trip, pairs in the shapes TRL's
// and LLaMA-Factory's documentation give, and bad files that name file:line and change nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataFormatError } from '../../src/data/formats.js';
import { exportRecords, importFile, type ExportFormat } from '../../src/feedback/io.js';
import { FeedbackStore } from '../../src/feedback/store.js';

const FIX = join(import.meta.dirname, '../fixtures/feedback');
const tmp = mkdtempSync(join(tmpdir(), 'heed-feedback-io-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const jsonl = (file: string): unknown[] => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);

function write(name: string, lines: readonly unknown[]): string {
  const file = join(tmp, name);
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

/** A ranking line with its ids replaced by the texts they stand for, so two stores compare. */
function byContent(rec: Record<string, unknown>): unknown {
  const responses = rec['responses'] as Array<Record<string, unknown>>;
  const text = new Map(responses.map((r) => [r['id'], r['text']]));
  const { prompt_id: _p, ...rest } = rec;
  return {
    ...rest,
    responses: responses.map(({ id: _i, ...r }) => r),
    ranking: (rec['ranking'] as unknown[][] | null)?.map((g) => g.map((id) => text.get(id)).sort()) ?? null,
  };
}

/** Everything a store holds, for checking that a failed import changed nothing. */
function snapshot(s: FeedbackStore): unknown {
  return { stats: s.stats(), prompts: s.prompts(), rankings: s.rankings(), responses: s.prompts().map((p) => s.responses(p.id)) };
}

describe('feedback import/export', () => {
  it('round-trips rankings: export, import into a fresh store, export again gives the same records', () => {
    const a = FeedbackStore.open(join(tmp, 'a.db'));
    assert.deepEqual(importFile(a, join(FIX, 'rankings.jsonl')), { format: 'rankings', prompts: 3, responses: 9, rankings: 2, skips: 1 });
    const first = exportRecords(a, 'rankings');
    // Two rankings and a skip, then the prompt still waiting for a ranking.
    assert.equal(first.length, 4);
    assert.equal(first[3]?.['ranking'], undefined);
    assert.equal(first[3]?.['rater'], undefined);
    // Lines 1 and 2 share prompt "colours": one prompt, four responses, two raters.
    assert.equal(first[0]?.['prompt_id'], first[1]?.['prompt_id']);
    assert.deepEqual(first[0]?.['ranking'], [[1, 2], [3], [4]]);
    assert.deepEqual((first[0]?.['responses'] as Array<Record<string, unknown>>)[0], {
      id: 1, text: 'Blue.', model: 'sft', adapter: null, settings: { temperature: 0.8, top_p: 0.95 }, seed: 1,
      created: (first[0]?.['responses'] as Array<Record<string, unknown>>)[0]?.['created'],
    });
    assert.equal(first[2]?.['skip'], 'both fine, cannot choose');
    const out = write('a-rankings.jsonl', first);
    const b = FeedbackStore.open(join(tmp, 'b.db'));
    importFile(b, out);
    const second = exportRecords(b, 'rankings');
    assert.deepEqual(second.map(byContent), first.map(byContent));
    // Pairs carry no store ids, so every pair format matches line for line.
    for (const f of ['trl-messages', 'llamafactory'] as const) assert.deepEqual(exportRecords(b, f), exportRecords(a, f));
    assert.deepEqual(a.stats(), b.stats());
    a.close();
    b.close();
  });

  it('writes the pairs each ranking implies, best first, and none for a tie', () => {
    const s = FeedbackStore.open(':memory:');
    importFile(s, join(FIX, 'rankings.jsonl'));
    // alice: [Blue. = Red.] > A colour. > "" gives 2 + 2 + 1 = 5 pairs; bob's strict order of 4 gives 6.
    const trl = exportRecords(s, 'trl');
    assert.equal(trl.length, 11);
    assert.deepEqual(trl.slice(0, 5), [
      { prompt: 'Name a colour.', chosen: 'Blue.', rejected: 'A colour.' },
      { prompt: 'Name a colour.', chosen: 'Red.', rejected: 'A colour.' },
      { prompt: 'Name a colour.', chosen: 'Blue.', rejected: '' },
      { prompt: 'Name a colour.', chosen: 'Red.', rejected: '' },
      { prompt: 'Name a colour.', chosen: 'A colour.', rejected: '' },
    ]);
    const pairs = exportRecords(s, 'pairs');
    // The tie Blue. = Red. gives alice no pair between them; bob's Red. > Blue. gives one.
    const between = (rater: string) => pairs.filter((p) => p['rater'] === rater && [1, 2].includes(p['chosen_id'] as number) && [1, 2].includes(p['rejected_id'] as number));
    assert.equal(between('alice').length, 0);
    assert.deepEqual(between('bob').map((p) => [p['chosen_id'], p['rejected_id']]), [[2, 1]]);
    assert.deepEqual(pairs[0], {
      prompt: [{ role: 'user', content: 'Name a colour.' }],
      chosen: [{ role: 'assistant', content: 'Blue.' }], rejected: [{ role: 'assistant', content: 'A colour.' }],
      prompt_id: 1, ranking_id: 1, rater: 'alice', chosen_id: 1, rejected_id: 3, chosen_rank: 1, rejected_rank: 2,
    });
    s.close();
  });

  it('reads and writes TRL\'s documented standard and conversational preference records unchanged', () => {
    for (const [file, format] of [['trl-standard.jsonl', 'trl'], ['trl-conversational.jsonl', 'trl-messages']] as const) {
      const s = FeedbackStore.open(':memory:');
      const r = importFile(s, join(FIX, file), { rater: 'hub' });
      assert.equal(r.format, 'trl');
      assert.deepEqual(exportRecords(s, format), jsonl(join(FIX, file)), file);
      assert.deepEqual(s.stats().raters.map((x) => x.rater), ['hub']);
      s.close();
    }
    // Two pairs of one prompt share the prompt and its chosen response.
    const s = FeedbackStore.open(':memory:');
    assert.deepEqual(importFile(s, join(FIX, 'trl-standard.jsonl')), { format: 'trl', prompts: 2, responses: 5, rankings: 3, skips: 0 });
    s.close();
  });

  it('reads and writes LLaMA-Factory\'s sharegpt preference records (system column, multi-turn) unchanged', () => {
    const s = FeedbackStore.open(':memory:');
    assert.equal(importFile(s, join(FIX, 'llamafactory.jsonl')).format, 'llamafactory');
    assert.deepEqual(exportRecords(s, 'llamafactory'), jsonl(join(FIX, 'llamafactory.jsonl')));
    // The same data is TRL's conversational data, the system prompt first.
    assert.deepEqual(exportRecords(s, 'trl-messages')[1]?.['prompt'], [
      { role: 'system', content: 'Answer in one sentence.' }, { role: 'user', content: 'What color is the sky?' },
    ]);
    assert.throws(() => exportRecords(s, 'trl'), /prompt 1: TRL's standard format holds a prompt of one user turn only/);
    s.close();
  });

  const BAD: Array<[string, unknown[], RegExp]> = [
    ['bad JSON', ['{"prompt": [', ], /:1: bad JSON/],
    ['unknown response', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'y' }], ranking: [['a'], ['z']], rater: 'r' }], /:1: ranking names unknown response "z"/],
    ['duplicate response', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'y' }], ranking: [['a'], ['b', 'a']], rater: 'r' }], /:1: ranking lists response "a" twice/],
    ['K of 1', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ id: 'a', text: 'x' }], ranking: [['a']], rater: 'r' }], /:1: a prompt needs at least 2 responses to rank \(K = 1\)/],
    ['a response left out', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'y' }, { id: 'c', text: 'z' }], ranking: [['a'], ['b']], rater: 'r' }], /:1: ranking leaves out response "c"/],
    ['no rater', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ text: 'x' }, { text: 'y' }], ranking: [['0'], ['1']] }], /:1: a ranking or skip needs "rater"/],
    ['prompt ends with the assistant', [{ prompt: [{ role: 'assistant', content: 'q' }], responses: [{ text: 'x' }, { text: 'y' }] }], /:1: "prompt" must end with a user turn/],
    ['ranking is not a list of groups', [{ prompt: [{ role: 'user', content: 'q' }], responses: [{ text: 'x' }, { text: 'y' }], ranking: ['0', '1'], rater: 'r' }], /:1: ranking\[0\] must be a list of response ids/],
    ['TRL pair with the same text twice', [{ prompt: 'q', chosen: 'same', rejected: 'same' }], /:1: "chosen" and "rejected" are the same text/],
    ['TRL pair missing rejected', [{ prompt: 'q', chosen: 'a' }], /:1: missing field "rejected"/],
    ['LLaMA-Factory chosen from a human', [{ conversations: [{ from: 'human', value: 'q' }], chosen: { from: 'human', value: 'a' }, rejected: { from: 'gpt', value: 'b' } }], /:1: "chosen".from must be gpt/],
    ['no format', [{ text: 'hello' }], /:1: cannot tell the format/],
  ];

  for (const [name, lines, re] of BAD) {
    it(`refuses ${name} with file:line and leaves the store unchanged`, () => {
      const s = FeedbackStore.open(':memory:');
      importFile(s, join(FIX, 'rankings.jsonl'));
      const before = snapshot(s);
      // A good first line in front of the bad one: nothing of it may land either.
      const good = name.startsWith('TRL') ? { prompt: 'ok', chosen: 'yes', rejected: 'no' }
        : name.startsWith('LLaMA') ? { conversations: [{ from: 'human', value: 'ok' }], chosen: { from: 'gpt', value: 'yes' }, rejected: { from: 'gpt', value: 'no' } }
        : { prompt: [{ role: 'user', content: 'ok' }], responses: [{ text: 'yes' }, { text: 'no' }], ranking: [['0'], ['1']], rater: 'r' };
      const file = write(`bad-${name.replace(/\W+/g, '-')}.jsonl`, name === 'no format' || name === 'bad JSON' ? lines : [good, ...lines]);
      const line = name === 'no format' || name === 'bad JSON' ? 1 : 2;
      const lineRe = new RegExp(re.source.replace(':1:', `:${line}:`));
      assert.throws(() => importFile(s, file), (e: unknown) => e instanceof DataFormatError && e.message.includes(file) && lineRe.test(e.message));
      assert.deepEqual(snapshot(s), before);
      s.close();
    });
  }

  it('rolls back lines already written when a later line contradicts them', () => {
    const s = FeedbackStore.open(':memory:');
    const before = snapshot(s);
    const q = [{ role: 'user', content: 'q' }];
    const file = write('contradiction.jsonl', [
      { prompt_id: 'p', prompt: q, responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'y' }], ranking: [['a'], ['b']], rater: 'r1' },
      { prompt_id: 'p', prompt: q, responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'not y' }], ranking: [['b'], ['a']], rater: 'r2' },
      { prompt_id: 'p', prompt: [{ role: 'user', content: 'other' }], responses: [{ id: 'a', text: 'x' }, { id: 'b', text: 'y' }] },
    ]);
    assert.throws(() => importFile(s, file), (e: unknown) => e instanceof DataFormatError
      && e.errors[0] === `${file}:2: response "b" has a different text on line 1`
      && e.errors[1] === `${file}:3: prompt_id p holds a different prompt on line 1`);
    assert.deepEqual(snapshot(s), before);
    s.close();
  });

  it('names a missing file, a directory, an empty file and invalid UTF-8, and reads past a BOM', () => {
    const s = FeedbackStore.open(':memory:');
    assert.throws(() => importFile(s, join(tmp, 'nope.jsonl')), /nope\.jsonl: no such file/);
    assert.throws(() => importFile(s, tmp), /is a directory/);
    assert.throws(() => importFile(s, write('empty.jsonl', ['', ''])), /empty\.jsonl: holds no records/);
    const latin1 = join(tmp, 'latin1.jsonl');
    writeFileSync(latin1, Buffer.concat([Buffer.from('{"prompt": "caf'), Buffer.from([0xe9]), Buffer.from('", "chosen": "a", "rejected": "b"}\n')]));
    assert.throws(() => importFile(s, latin1), /latin1\.jsonl: not valid UTF-8/);
    assert.equal(s.stats().prompts, 0);
    // A byte-order mark, as Windows editors write, is not an error.
    const bom = join(tmp, 'bom.jsonl');
    writeFileSync(bom, '\uFEFF' + readFileSync(join(FIX, 'trl-standard.jsonl'), 'utf8'));
    assert.equal(importFile(s, bom).rankings, 3);
    s.close();
  });

  it('exports every format from an empty store as an empty file', () => {
    const s = FeedbackStore.open(':memory:');
    for (const f of ['rankings', 'pairs', 'trl', 'trl-messages', 'llamafactory'] as ExportFormat[]) assert.deepEqual(exportRecords(s, f), []);
    s.close();
  });
});
