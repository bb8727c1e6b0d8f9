// The commands around serving, run as a user runs them (the compiled bin): `heed chat` answering
// every line of a pipe, sampling flags checked with clear messages, and `heed serve` draining a
// streaming request on SIGTERM before it exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tinyFolders } from './helpers.js';
import { loadModel } from '../../src/models/load.js';
import { Generator } from '../../src/models/generate.js';
import { renderPrompt, stopTokenIds, type ChatMessage } from '../../src/tokenizer/index.js';

const heed = (args: string[], input?: string) => spawnSync(process.execPath, ['bin/heed.js', ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });

test('heed chat with piped input answers every line, keeping the conversation, and exits 0 at the end', () => {
  const f = tinyFolders(), lines = ['Call me Ishmael.', 'Some years ago', 'never mind how long'];
  const r = heed(['chat', '--model', f.model, '--temperature', '0', '--max-new-tokens', '6'], `${lines[0]}\n${lines[1]}\n\n${lines[2]}\n`);
  assert.equal(r.status, 0, r.stderr);
  // the same conversation through the library: each reply is generated from the history so far
  const m = loadModel(f.model), history: ChatMessage[] = [];
  let want = '';
  for (const line of lines) {
    history.push({ role: 'user', content: line });
    const g = new Generator(m.model, { slots: 1, decoder: () => m.tok.tokenizer.streamDecoder({ skipSpecialTokens: true }) });
    const s = g.add(renderPrompt(m.tok.tokenizer, m.tok.chatTemplate!, history), { maxNewTokens: 6, temperature: 0, topP: 0.9, stopTokens: stopTokenIds(m.tok) });
    while (!g.idle) g.step();
    want += s.text + '\n';
    history.push({ role: 'assistant', content: s.text.trim() });
  }
  assert.equal(r.stdout, want);
});

test('sampling flags out of range are clear errors naming the flag (never the prompt\'s length)', () => {
  const model = tinyFolders().model;
  for (const [flag, value, message] of [
    ['--temperature', '-1', /^heed: --temperature must be between 0 and 2 \(got -1\)\n$/],
    ['--top-p', '2', /^heed: --top-p must be in \(0, 1\] \(got 2\)\n$/],
    ['--top-k', '-5', /^heed: --top-k must be 0 \(off\) or more \(got -5\)\n$/],
    ['--max-new-tokens', '0', /^heed: --max-new-tokens must be at least 1 \(got 0\)\n$/],
  ] as const) {
    for (const cmd of ['generate', 'chat']) {
      const r = heed([cmd, '--model', model, '--prompt', 'hi', flag, value].filter((a) => cmd === 'generate' || (a !== '--prompt' && a !== 'hi')), '');
      assert.equal(r.status, 1, `${cmd} ${flag} ${value}`);
      assert.match(r.stderr, message);
    }
  }
});

test('heed serve --help has an example; bad flags are clear errors', () => {
  let r = heed(['serve', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Example:\n  heed serve --model/);
  r = heed(['serve', '--model', '/nonexistent']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^heed: \/nonexistent: not a model folder/);
  r = heed(['serve', '--model', tinyFolders().model, '--parallel', '0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--parallel must be an integer ≥ 1, got '0'/);
  r = heed(['serve', '--model', tinyFolders().model, '--port', '99999']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--port must be an integer from 0 to 65535, got '99999'/);
  r = heed(['serve', '--model', tinyFolders().model, '--adapter', 'nope']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--adapter nope: expected NAME=DIR or MODEL:NAME=DIR/);
  r = heed(['serve', '--model', tinyFolders().model, '--weights', 'q4_0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--weights must be one of f32, f16, bf16, q8_0, got 'q4_0'/);
});

test('heed serve: SIGTERM lets a streaming request finish in full, then the process exits 0', async () => {
  const f = tinyFolders();
  const p = spawn(process.execPath, ['bin/heed.js', 'serve', '--model', `tiny=${f.model}`, '--port', '0', '--db', join(f.root, 'feedback.db'), '--runs', f.root], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    p.stdout.on('data', (d) => { out += d; const m = /heed serve: (http:\/\/\S+)/.exec(out); if (m) resolve(m[1]!); });
    p.on('exit', () => reject(new Error(`serve exited early: ${err}`)));
  });
  assert.match(out, /models: tiny\)/);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback unless told otherwise');
  // the pages: chat, runs and, given --db, the ranking page
  for (const page of ['/', '/runs', '/rank']) assert.equal((await fetch(url + page)).status, 200, page);
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 300, stream: true, ignore_eos: true, stream_options: { include_usage: true } }),
  });
  const reader = res.body!.getReader();
  let body = new TextDecoder().decode((await reader.read()).value);
  p.kill('SIGTERM');
  for (let c = await reader.read(); !c.done; c = await reader.read()) body += new TextDecoder().decode(c.value);
  assert.match(body, /"completion_tokens":300/);
  assert.match(body, /data: \[DONE\]\s*$/);
  assert.equal(await exited, 0, err);
  assert.match(out, /SIGTERM: finishing 1 sequences in flight/);
});
