// The rank page in real Chromium: ranking with keys and a tie, by dragging, skipping, two raters in
// two browser contexts at once, and a ranking the page called saved surviving kill -9 of the server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import type { Browser, Page } from 'playwright-core';
import { FeedbackStore } from '../../src/feedback/store.js';
import { rankRoutes } from '../../src/serve/rank.js';
import { artifact, launchBrowser } from '../helpers/browser.js';
import { startServer } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'heed-rank-page-'));
let browser: Browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function fill(store: FeedbackStore, prompts: number, k: number): void {
  for (let p = 0; p < prompts; p++) {
    const id = store.addPrompt({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Question ${p}: name a colour.` }] });
    store.addResponses(id, Array.from({ length: k }, (_, j) => ({ text: `Answer ${p}.${j}: ${['blue', 'red', 'green', 'a colour', 'I do not know'][j % 5]}` })));
  }
}

/** Serves rankRoutes(store) on a free loopback port for one test. */
async function serveStore(store: FeedbackStore): Promise<{ url: string; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: rankRoutes(store).fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
      resolve({ url: `http://127.0.0.1:${info.port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

async function open(url: string, rater: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => { throw e; });
  await page.goto(`${url}/rank`);
  await page.fill('#rater', rater);
  await page.press('#rater', 'Enter');
  await page.waitForSelector('#cards .card');
  return page;
}

/** Response ids in the order the page shows them (card 1 first). */
async function shownIds(page: Page): Promise<number[]> {
  return page.$$eval('#cards .card', (cards) => cards.map((c) => Number((c as HTMLElement).dataset.id)));
}

const promptOf = async (page: Page) => Number(await page.getAttribute('#prompt', 'data-prompt-id'));

async function saved(page: Page, what = 'ranking'): Promise<number> {
  await page.waitForFunction((w) => new RegExp(`^saved ${w} \\d+$`).test(document.getElementById('status')?.textContent ?? ''), what);
  return Number(await page.getAttribute('#status', 'data-saved-id'));
}

const sortGroups = (gs: number[][]) => gs.map((g) => [...g].sort((a, b) => a - b));

describe('rank page', () => {
  it('ranks with keys 1-K and a tie, keeps rater and order over a reload, shows saved after the commit, and moves on', async () => {
    const store = FeedbackStore.open(':memory:');
    fill(store, 2, 4);
    const srv = await serveStore(store);
    const page = await open(srv.url, 'alice');
    assert.equal(await page.textContent('#progress'), '0 / 2 ranked');
    const ids = await shownIds(page);
    const prompt = await promptOf(page);
    // A reload remembers the rater and shows the same prompt in the same order.
    await page.reload();
    await page.waitForSelector('#cards .card');
    assert.equal(await page.inputValue('#rater'), 'alice');
    assert.equal(await promptOf(page), prompt);
    assert.deepEqual(await shownIds(page), ids);
    // 3 then Backspace (undo), then: card 2 best, tied with card 4; card 1 next; card 3 last.
    for (const key of ['3', 'Backspace', '2', '=', '4', '1', '3']) await page.keyboard.press(key);
    assert.equal(await page.textContent('#rankbar'), '1st2=42nd13rd3');
    assert.equal(await page.textContent('.card[data-n="4"] .place'), 'tied 1st');
    await page.screenshot({ path: artifact('rank-keys-tie.png'), fullPage: true });
    await page.keyboard.press('Enter');
    const id = await saved(page);
    const [k] = store.rankings({ rater: 'alice' });
    assert.equal(k?.id, id);
    assert.equal(k?.promptId, prompt);
    const at = (n: number) => ids[n - 1] as number;
    assert.deepEqual(k?.groups, sortGroups([[at(2), at(4)], [at(1)], [at(3)]]));
    assert.deepEqual(k?.shown, ids);
    assert.ok((k?.timeMs ?? -1) >= 0);
    // The next prompt is on screen and progress counts the one just saved.
    await page.waitForFunction((p) => document.getElementById('prompt')?.dataset.promptId !== String(p), prompt);
    assert.equal(await page.textContent('#progress'), '1 / 2 ranked');
    await page.context().close();
    await srv.close();
  });

  it('ranks by dragging cards into places and onto a place for a tie, and skips with a reason', async () => {
    const store = FeedbackStore.open(':memory:');
    fill(store, 2, 3);
    const srv = await serveStore(store);
    const page = await open(srv.url, 'dragger');
    const ids = await shownIds(page);
    await page.dragAndDrop('.card[data-n="3"]', '#rankbar .gap[data-at="0"]');
    await page.dragAndDrop('.card[data-n="1"]', '#rankbar .gap[data-at="1"]');
    // Card 2 dropped on the first place ties it with card 3; then card 1 is dragged in front of them.
    await page.dragAndDrop('.card[data-n="2"]', '#rankbar .group[data-g="0"]');
    await page.dragAndDrop('#rankbar .chip[data-n="1"]', '#rankbar .gap[data-at="0"]');
    assert.equal(await page.textContent('#rankbar'), '1st12nd3=2');
    await page.screenshot({ path: artifact('rank-drag.png'), fullPage: true });
    await page.click('#submit');
    await saved(page);
    assert.deepEqual(store.rankings({ rater: 'dragger' })[0]?.groups, sortGroups([[ids[0] as number], [ids[2] as number, ids[1] as number]]));
    // Skip the second prompt: S, a reason, Enter.
    const second = await promptOf(page);
    await page.keyboard.press('s');
    await page.keyboard.type('I cannot tell these apart');
    await page.keyboard.press('Enter');
    await saved(page, 'skip');
    const skip = store.rankings({ rater: 'dragger' })[1];
    assert.equal(skip?.promptId, second);
    assert.equal(skip?.skip, 'I cannot tell these apart');
    assert.equal(skip?.groups, null);
    await page.waitForSelector('#done', { state: 'visible' });
    assert.match(await page.textContent('#done') ?? '', /Nothing left for dragger to rank \(2 \/ 2\)/);
    await page.context().close();
    await srv.close();
  });

  it('lets two raters in two browsers rank at once, each ranking under its own rater', async () => {
    const store = FeedbackStore.open(':memory:');
    fill(store, 3, 3);
    const srv = await serveStore(store);
    const [alice, bob] = await Promise.all([open(srv.url, 'alice'), open(srv.url, 'bob')]);
    const [pa, pb] = [await promptOf(alice), await promptOf(bob)];
    assert.notEqual(pa, pb, 'two raters at once get different prompts');
    const [ia, ib] = [await shownIds(alice), await shownIds(bob)];
    const rank = async (page: Page, keys: string[]) => { for (const k of keys) await page.keyboard.press(k); await page.keyboard.press('Enter'); return saved(page); };
    await Promise.all([rank(alice, ['1', '2', '3']), rank(bob, ['3', '=', '1', '2'])]);
    await Promise.all([alice.screenshot({ path: artifact('rank-two-raters-alice.png') }), bob.screenshot({ path: artifact('rank-two-raters-bob.png') })]);
    const a = store.rankings({ rater: 'alice' });
    const b = store.rankings({ rater: 'bob' });
    assert.deepEqual(a.map((k) => [k.promptId, k.groups]), [[pa, ia.map((i) => [i])]]);
    assert.deepEqual(b.map((k) => [k.promptId, k.groups]), [[pb, sortGroups([[ib[2] as number, ib[0] as number], [ib[1] as number]])]]);
    // Their next prompts differ again, and neither is one they ranked.
    const [na, nb] = [await promptOf(alice), await promptOf(bob)];
    assert.notEqual(na, nb);
    assert.notEqual(na, pa);
    assert.notEqual(nb, pb);
    await Promise.all([alice.context().close(), bob.context().close()]);
    await srv.close();
  });

  it('keeps a ranking the page called saved when the server is killed with SIGKILL', async () => {
    const file = join(tmp, 'kill.db');
    const seed = FeedbackStore.open(file);
    fill(seed, 2, 4);
    seed.close();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'rank-server.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /\{"port":(\d+)\}/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error('rank server exited before listening')));
    });
    const page = await open(`http://127.0.0.1:${port}`, 'survivor');
    const ids = await shownIds(page);
    for (const key of ['4', '2', '=', '3', '1']) await page.keyboard.press(key);
    await page.keyboard.press('Enter');
    const id = await saved(page);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await page.context().close();
    const store = FeedbackStore.open(file, { create: false });
    assert.equal(store.integrityCheck(), 'ok');
    const k = store.rankings({ rater: 'survivor' });
    assert.deepEqual(k.map((x) => [x.id, x.groups]), [[id, sortGroups([[ids[3] as number], [ids[1] as number, ids[2] as number], [ids[0] as number]])]]);
    store.close();
  });
});

describe('rank page under --api-key', () => {
  it('says the key is wrong until the rater types it, then ranks as usual', async () => {
    const store = FeedbackStore.open(':memory:');
    fill(store, 1, 3);
    const s = await startServer({ apiKey: 'sekrit', store });
    try {
      const page = await (await browser.newContext()).newPage();
      page.on('pageerror', (e) => { throw e; });
      await page.goto(`${s.url}/rank`);
      await page.fill('#rater', 'alice');
      await page.click('#start');
      await page.waitForFunction(() => /Incorrect API key/.test(document.getElementById('status')?.textContent ?? ''));
      await page.fill('#api-key', 'sekrit');
      await page.click('#start');
      await page.waitForSelector('#cards .card');
      assert.equal((await shownIds(page)).length, 3);
      for (const k of ['1', '2', '3', 'Enter']) await page.keyboard.press(k);
      assert.ok(await saved(page) > 0);
      assert.equal(store.rankings().length, 1);
    } finally { await s.close(); }
  });
});
