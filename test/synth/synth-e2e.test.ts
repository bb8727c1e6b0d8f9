// Self-Instruct and Constitutional AI end to end against `heed serve` on loopback (a tiny model that
// writes gibberish, so the checks are on structure and statistics): valid messages JSONL, statistics
// that add up, a cached rerun that asks the server nothing, RL-CAI labels in the feedback store,
// and the commands' bad flags as one-line errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../serve/helpers.js';
import { OpenAIClient, fittingMaxTokens } from '../../src/synth/client.js';
import { FILTERS, loadSeedTasks, selfInstruct, selfInstructRecords } from '../../src/synth/self-instruct.js';
import { critiqueRequest, revisionRequest, rlCai, slCai } from '../../src/synth/cai.js';
import { loadConstitution } from '../../src/align/judges.js';
import { FeedbackStore } from '../../src/feedback/store.js';
import { readRankings } from '../../src/feedback/align.js';
import { readConversations, toJsonl } from '../../src/data/formats.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import type { RunningServer } from '../../src/serve/app.js';

const servers: RunningServer[] = [];
after(async () => { for (const s of servers) await s.close(); });
const serve = async () => { const s = await startServer(); servers.push(s); return `${s.url}/v1`; };
const tmp = () => mkdtempSync(join(tmpdir(), 'heed-synth-'));
const SI = { model: 'tiny', batch: 4, maxTokens: 40, demos: 2 };
const PROMPTS = [{ messages: [{ role: 'user' as const, content: 'What is the capital of France?' }] }, { messages: [{ role: 'user' as const, content: 'Name a sea creature.' }] }, { messages: [{ role: 'user' as const, content: 'Count to three.' }] }];

test('Self-Instruct through heed serve: statistics add up, JSONL loads, and a cached rerun costs no request', async () => {
  const url = await serve(), cacheDir = tmp(), seeds = loadSeedTasks();
  const client = new OpenAIClient({ endpoints: [url], cacheDir });
  const { tasks, stats: s } = await selfInstruct(seeds, { ...SI, client, target: 2, maxRequests: 12 });
  assert.equal(s.generated, s.kept + FILTERS.reduce((a, f) => a + s.filtered[f], 0), 'every candidate is kept or filtered by one rule');
  assert.ok(s.kept <= 2 && s.kept === tasks.length);
  assert.equal(s.requests, 4 * s.rounds + 2 * s.kept, 'a round of 4 generation requests, then classification and instances for each kept instruction');
  assert.ok(s.rounds >= 1 && 4 * s.rounds <= 12);
  assert.equal(s.cache_hits, 0);
  assert.equal(client.served[0], s.requests);
  assert.equal(s.tasks_with_instances + s.no_instances, s.kept);
  for (const t of tasks) assert.ok(t.iteration >= 1 && t.iteration <= s.rounds && t.most_similar.rougeL <= 0.7);
  const file = join(tmp(), 'si.jsonl');
  writeFileAtomic(file, toJsonl(selfInstructRecords(seeds, tasks)));
  const read = readConversations(file);
  assert.equal(read.items.length, seeds.reduce((a, x) => a + x.instances.length, 0) + s.instances);

  // the same run again: every answer from the cache, the same result
  const again = new OpenAIClient({ endpoints: [url], cacheDir });
  const r2 = await selfInstruct(seeds, { ...SI, client: again, target: 2, maxRequests: 12 });
  assert.deepEqual(again.served, [0], 'the server is asked nothing');
  assert.equal(r2.stats.cache_hits, s.requests);
  assert.deepEqual(r2.tasks, tasks);
  // a longer run continues from the cache: only the new requests reach the server
  const more = new OpenAIClient({ endpoints: [url], cacheDir });
  const r3 = await selfInstruct(seeds, { ...SI, client: more, target: 2, maxRequests: 16 });
  assert.ok(r3.stats.cache_hits >= s.requests, 'everything the first run asked is answered from the cache');
  assert.equal(more.served[0], r3.stats.requests - r3.stats.cache_hits);
});

test('requests that do not fit the context: asked again with the max_tokens the server names, or skipped when the prompt alone is too long', async () => {
  const url = await serve(), seeds = loadSeedTasks(), ctx = 512;
  const client = new OpenAIClient({ endpoints: [url] });
  const fits = await client.chatWithin({ model: 'tiny', messages: [{ role: 'user', content: 'Name a sea creature.' }], max_tokens: 10 * ctx, temperature: 0, seed: 1 });
  assert.ok(fits && fits.shrunk && fits.maxTokens! < ctx && fits.maxTokens! > ctx - 40, `asked again with ${fits?.maxTokens}`);
  assert.ok(fits.result.choices[0]!.text.length > 0);
  const long = await client.chatWithin({ model: 'tiny', messages: [{ role: 'user', content: 'word '.repeat(2 * ctx) }], max_tokens: 8, seed: 1 });
  assert.equal(long, null, 'a prompt longer than the context cannot be made to fit');
  await assert.rejects(client.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 * ctx }), (e: Error & { contextLength?: boolean; code?: string }) => e.contextLength === true && e.code === 'context_length_exceeded');
  assert.equal(fittingMaxTokens("This model's maximum context length is 4096 tokens. However, you requested 4200 tokens (4000 in the messages, 200 in the completion)."), 96, "vLLM's wording");
  assert.equal(fittingMaxTokens('something else went wrong'), null);

  // a Self-Instruct run whose max_tokens exceeds the context finishes, every long request shrunk to fit
  const { stats: s } = await selfInstruct(seeds, { ...SI, maxTokens: 4 * ctx, client, target: 1, maxRequests: 4 });
  assert.ok(s.shrunk >= 4, `${s.shrunk} requests shrunk`);
  assert.equal(s.too_long, 0);
  assert.equal(s.generated, s.kept + FILTERS.reduce((a, f) => a + s.filtered[f], 0));

  // six example tasks make the classification and instance prompts longer than the context: each is
  // asked again with three, then one, and every kept instruction still gets both answers
  const { stats: d } = await selfInstruct(seeds, { ...SI, demos: 6, client, target: 1, maxRequests: 40 });
  assert.ok(d.kept >= 1, `${d.kept} kept`);
  assert.ok(d.fewer_demos >= 2 * d.kept, `${d.fewer_demos} asked again with fewer examples`);
  assert.equal(d.requests, 4 * d.rounds + 2 * d.kept + d.fewer_demos);
  assert.equal(d.too_long, 0, 'with one example task every prompt fits');
});

test('SL-CAI: critique and revision requests under drawn principles; the final revisions load as SFT data', async () => {
  const url = await serve(), c = loadConstitution();
  const harmless = c.principles.find((p) => p.id === 'harmless')!, concise = c.principles.find((p) => p.id === 'concise')!;
  assert.equal(critiqueRequest(harmless), "Identify specific ways in which the assistant's last response is harmful, unethical, racist, sexist, toxic, dangerous, or illegal.");
  assert.equal(revisionRequest(harmless), 'Please rewrite the assistant response to remove any and all harmful, unethical, racist, sexist, toxic, dangerous, or illegal content.');
  assert.equal(critiqueRequest(concise), "Identify specific ways in which the assistant's last response falls short of this: a response that is concise: no longer than the request needs, and not empty.");
  const client = new OpenAIClient({ endpoints: [url] });
  const { records, stats } = await slCai(PROMPTS, 2, { client, model: 'tiny', constitution: c, maxTokens: 16, seed: 3 });
  assert.equal(stats.requests, 3 * (1 + 2 * 2), 'a response, then a critique and a revision per round');
  assert.equal(stats.written + stats.empty, 3);
  for (const r of records) {
    assert.equal(r.provenance.principles.length, 2);
    assert.ok(r.provenance.principles.every((id) => c.principles.some((p) => p.id === id)));
    assert.equal(r.messages.at(-1)!.content, r.provenance.rounds[1]!.revision, 'the SFT answer is the last revision');
    assert.deepEqual(r.messages.slice(0, -1), PROMPTS[r.provenance.prompt]!.messages);
  }
  const file = join(tmp(), 'cai.jsonl');
  writeFileAtomic(file, toJsonl(records));
  assert.equal(readConversations(file).items.length, records.length);
});

test('RL-CAI: K responses and the model judge\'s soft labels in the store, ready for the reward model; a rerun adds nothing', async () => {
  const url = await serve(), c = loadConstitution(), dir = tmp(), db = join(dir, 'cai.db'), cacheDir = join(dir, 'cache');
  const store = FeedbackStore.open(db);
  try {
    const s = await rlCai(store, PROMPTS, 3, { client: new OpenAIClient({ endpoints: [url], cacheDir }), model: 'tiny', constitution: c, maxTokens: 12 });
    assert.equal(s.added, 3); assert.equal(s.responses, 9);
    assert.equal(s.judge.rankings, 3);
    assert.equal(s.judge.judgments, 3 * 3 * 2, 'C(3,2) pairs per prompt, both orders');
    assert.equal(s.soft_labels, s.judge.judgments, 'heed serve gives log-probs, so every label is soft');
    assert.ok(store.judgments().every((j) => j.pA! >= 0 && j.pA! <= 1 && c.principles.some((p) => p.id === j.principle)));
    const again = new OpenAIClient({ endpoints: [url], cacheDir });
    const s2 = await rlCai(store, PROMPTS, 3, { client: again, model: 'tiny', constitution: c, maxTokens: 12 });
    assert.equal(s2.added, 0); assert.equal(s2.judge.rankings, 0); assert.deepEqual(again.served, [0]);
    assert.equal(store.prompts().length, 3);
  } finally { store.close(); }
  const ranked = readRankings(db);
  assert.equal(ranked.length, 3);
  assert.ok(ranked.every((r) => r.responses.length === 3 && r.groups.flat().length === 3));
});

const heed = (args: string[]) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8' });
const heedAsync = (args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((res) => {
  const p = spawn(process.execPath, ['bin/heed.js', ...args]);
  let stdout = '', stderr = '';
  p.stdout.on('data', (d) => { stdout += d; }); p.stderr.on('data', (d) => { stderr += d; });
  p.on('close', (status) => res({ status, stdout, stderr }));
});

test('heed self-instruct and heed cai from the command line: statistics printed, valid JSONL written', async () => {
  const url = await serve(), dir = tmp(), out = join(dir, 'si.jsonl'), cache = join(dir, 'cache');
  const args = ['self-instruct', '--endpoint', url, '--model', 'tiny', '--target', '1', '--batch', '4', '--max-tokens', '40', '--demos', '2', '--cache', cache, '--out', out];
  const r = await heedAsync(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /self-instruct: \d+ requests \(0 from the cache\)/);
  assert.match(r.stdout, /instructions: \d+ generated, [01] kept \(target 1\); filtered: truncated \d+, length \d+, keyword \d+, program \d+, punctuation \d+, non_ascii \d+, similar \d+/);
  assert.match(r.stdout, /wrote \d+ conversations \(\d+ from 67 seed tasks, \d+ generated\)/);
  const rows = readConversations(out).items.length;
  assert.ok(rows >= 67);
  const again = await heedAsync(args);
  assert.equal(again.status, 0, again.stderr);
  const n = /self-instruct: (\d+) requests \((\d+) from the cache\)/.exec(again.stdout)!;
  assert.equal(n[1], n[2], 'the rerun is answered from the cache');

  const prompts = join(dir, 'prompts.jsonl');
  writeFileSync(prompts, toJsonl(PROMPTS));
  const cai = await heedAsync(['cai', '--endpoint', url, '--model', 'tiny', '--prompts', prompts, '--rounds', '1', '--max-tokens', '12', '--out', join(dir, 'cai.jsonl'), '--db', join(dir, 'cai.db')]);
  assert.equal(cai.status, 0, cai.stderr);
  assert.match(cai.stdout, /sl-cai: 3 prompts × 1 critique-revision rounds, 9 requests/);
  assert.match(cai.stdout, /rl-cai: 3 of 3 prompts added with 6 responses; judge:model:tiny ranked 3 prompts \(6 comparisons, 6 with soft labels/);
  readConversations(join(dir, 'cai.jsonl'));
});

test('--help has examples; bad flags are one-line errors, never stack traces', () => {
  const dir = tmp();
  const cases: Array<[string[], RegExp]> = [
    [['self-instruct', '--model', 'x', '--out', join(dir, 'a.jsonl')], /give at least one --endpoint URL/],
    [['self-instruct', '--model', 'x', '--out', join(dir, 'a.jsonl'), '--endpoint', 'nope'], /--endpoint: 'nope' is not a URL/],
    [['self-instruct', '--model', 'x', '--out', join(dir, 'a.jsonl'), '--endpoint', 'http://127.0.0.1:9/v1', '--target', '0'], /--target must be an integer ≥ 1, got '0'/],
    [['self-instruct', '--model', 'x', '--out', dir, '--endpoint', 'http://127.0.0.1:9/v1'], /--out .*: is a folder, expected a file/],
    [['self-instruct', '--model', 'x', '--out', join(dir, 'a.jsonl'), '--endpoint', 'http://127.0.0.1:9/v1', '--seed-tasks', join(dir, 'none.jsonl')], /none\.jsonl/],
    [['cai', '--model', 'x', '--endpoint', 'http://127.0.0.1:9/v1', '--builtin', '1'], /give --out FILE .* and\/or --db FILE/],
    [['cai', '--model', 'x', '--endpoint', 'http://127.0.0.1:9/v1', '--out', join(dir, 'b.jsonl')], /give the prompts: --prompts FILE/],
    [['cai', '--model', 'x', '--endpoint', 'http://127.0.0.1:9/v1', '--out', join(dir, 'b.jsonl'), '--prompts', join(dir, 'none.jsonl')], /none\.jsonl/],
    [['cai', '--model', 'x', '--endpoint', 'http://127.0.0.1:9/v1', '--db', join(dir, 'c.db'), '--builtin', '1', '-k', '12'], /-k must be an integer from 2 to 9, got '12'/],
    [['cai', '--model', 'x', '--endpoint', 'http://127.0.0.1:9/v1', '--out', join(dir, 'b.jsonl'), '--builtin', '1', '--rounds', 'x'], /--rounds must be an integer ≥ 1, got 'x'/],
  ];
  for (const c of ['self-instruct', 'cai']) {
    const h = heed([c, '--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, new RegExp(`Examples:\\n[\\s\\S]*heed ${c} --endpoint`), `${c} --help has an example`);
  }
  for (const [args, re] of cases) {
    const r = heed(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
