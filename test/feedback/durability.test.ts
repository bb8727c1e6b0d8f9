// A ranking the store has acknowledged survives kill -9: a child writes a burst of rankings, printing
// each id once submitRanking returns; it is killed mid-burst and every printed id must be in the file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { FeedbackStore } from '../../src/feedback/store.js';

const tmp = mkdtempSync(join(tmpdir(), 'heed-feedback-kill-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const KILL_AFTER = 200;

it('keeps every acknowledged ranking after kill -9 in the middle of a burst', async () => {
  const file = join(tmp, 'burst.db');
  const seed = FeedbackStore.open(file);
  for (let p = 0; p < 25; p++) {
    const id = seed.addPrompt({ messages: [{ role: 'user', content: `prompt ${p}` }] });
    seed.addResponses(id, [0, 1, 2, 3].map((k) => ({ text: `response ${p}.${k}`, seed: k })));
  }
  seed.close();

  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'burst-writer.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<number, number>();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // 'close', not 'exit': every line the child printed has been read by then.
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = /^(\d+) (\d+)$/.exec(line);
      if (m) acked.set(Number(m[1]), Number(m[2]));
      // Killed while it is still writing: the next ranking is in flight or about to be.
      if (acked.size === KILL_AFTER) child.kill('SIGKILL');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const signal = await exit;
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `the writer ended on its own: ${stderr}`);
  assert.ok(acked.size >= KILL_AFTER, `only ${acked.size} acknowledged before the kill: ${stderr}`);

  const store = FeedbackStore.open(file, { create: false });
  assert.equal(store.integrityCheck(), 'ok');
  const found = new Map(store.rankings().map((k) => [k.id, k]));
  const missing = [...acked].filter(([i, id]) => found.get(id)?.rater !== `burst-${i}`);
  assert.deepEqual(missing, [], 'acknowledged rankings lost');
  // Nothing beyond what was acknowledged, give or take the one in flight when the kill landed.
  assert.ok(found.size >= acked.size && found.size <= acked.size + 1, `${found.size} stored for ${acked.size} acknowledged`);
  for (const [i, id] of acked) assert.equal(found.get(id)?.timeMs, i);
  console.log(`kill -9 burst: ${acked.size} acknowledged, ${[...acked.values()].filter((id) => found.has(id)).length} found, ${found.size} stored in all`);
  store.close();
});
