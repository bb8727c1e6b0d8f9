// The chat and runs pages in real Chromium: the chat page streams a reply piece by piece (the same
// text the API gives), keeps the conversation and stops on demand; the runs page draws each run's
// metrics.jsonl with uPlot (the series hold the file's values, the canvas has ink) and follows the
// file as a run appends to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifact, launchBrowser } from '../helpers/browser.js';
import { startServer } from './helpers.js';
import { Generator } from '../../src/models/generate.js';
import type { RunningServer } from '../../src/serve/app.js';

const runs = mkdtempSync(join(tmpdir(), 'heed-runs-'));
let browser: Browser, server: RunningServer;
before(async () => { [browser, server] = await Promise.all([launchBrowser(), startServer({ runsRoot: runs })]); });
after(async () => { await browser?.close(); await server?.close(); });

const pageErrors = new Map<Page, string[]>();

async function open(path: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(server.url + path);
  return page;
}

async function done(page: Page): Promise<void> {
  assert.deepEqual(pageErrors.get(page), [], 'no errors in the page');
  await page.close();
}

test('chat page: the reply streams in piece by piece, equals the API\'s, and the conversation carries on', async () => {
  const page = await open('/');
  await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length === 2);
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '48');
  await page.fill('#system', 'Answer briefly.');
  // count how many times the reply's text changes while it streams
  await page.evaluate(() => {
    const w = window as unknown as { updates: number };
    w.updates = 0;
    new MutationObserver(() => { w.updates++; }).observe(document.getElementById('messages')!, { subtree: true, characterData: true, childList: true });
  });
  await page.fill('#input', 'Call me Ishmael.');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'idle' && document.querySelectorAll('.msg.assistant').length === 1);
  const reply = await page.$eval('.msg.assistant', (d) => d.firstChild?.textContent ?? '');
  const api = await (await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', temperature: 0, max_tokens: 48, messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Call me Ishmael.' }] }),
  })).json() as { choices: Array<{ message: { content: string } }> };
  assert.equal(reply, api.choices[0]!.message.content);
  assert.ok(reply.length > 0);
  const updates = await page.evaluate(() => (window as unknown as { updates: number }).updates);
  assert.ok(updates >= 5, `the reply was drawn in ${updates} updates`);
  // a second turn sends the history: two user and two assistant bubbles
  await page.selectOption('#model', 'tiny:lora');
  await page.fill('#input', 'And then?');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'idle' && document.querySelectorAll('.msg.assistant').length === 2);
  assert.equal(await page.locator('.msg.user').count(), 2);
  await page.screenshot({ path: artifact('chat-page.png') });
  await done(page);
});

test('chat page: the stop button ends the reply and the server cancels its generation', async (t) => {
  const page = await open('/');
  await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length === 2);
  await page.fill('#max-tokens', '450');
  await page.fill('#temperature', '1');
  // the random model may sample its end-of-turn token early; this reply must run until stopped, and
  // each step is slowed to 5 ms so that 450 tokens take over two seconds even on a fast machine
  const step = Generator.prototype.step;
  Generator.prototype.step = function (this: Generator) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); return step.call(this); };
  t.after(() => { Generator.prototype.step = step; });
  await page.route('**/v1/chat/completions', (route) => route.continue({ postData: JSON.stringify({ ...route.request().postDataJSON(), ignore_eos: true }) }));
  const before = server.scheduler.counts.cancelled;
  await page.fill('#input', 'Tell me everything.');
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'streaming' && (document.querySelector('.msg.assistant')?.textContent ?? '').length > 0);
  await page.click('#stop');
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  assert.match(await page.textContent('.msg.assistant .meta') ?? '', /stopped/);
  const t0 = Date.now();
  while (server.scheduler.counts.cancelled === before && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.scheduler.counts.cancelled, before + 1);
  await done(page);
});

function run(name: string, recipe: object, rows: object[]): string {
  const dir = join(runs, ...name.split('/'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'recipe.json'), JSON.stringify(recipe, null, 2));
  writeFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r) + '\n').join(''));
  return dir;
}

test('runs page: curves from a real metrics file, drawn with uPlot, following the file as it grows', async () => {
  const sftRows = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, loss: 5 / (1 + i / 4), lr: 1e-3 * Math.min(1, (i + 1) / 5), tokens: 256 * (i + 1), ...(i % 10 === 9 ? { val_loss: 5.2 / (1 + i / 4) } : {}) }));
  const sft = run('demo/sft', { stage: 'sft', lr: 1e-3, steps: 40 }, sftRows);
  run('ppo', { stage: 'ppo' }, [{ step: 1, reward: 0.1, kl: 0, score: 0.2 }, { step: 2, reward: 0.3, kl: 0.01, score: 0.25 }]);
  mkdirSync(join(runs, 'demo', 'sft', 'ckpt-10'), { recursive: true });
  const page = await open('/runs#' + encodeURIComponent('demo/sft'));
  await page.waitForFunction(() => 'loss' in (window as unknown as { heedCharts: object }).heedCharts);
  assert.deepEqual(await page.$$eval('#runs li', (lis) => lis.map((l) => (l as HTMLElement).dataset.run).sort()), ['demo/sft', 'ppo']);
  assert.match(await page.textContent('#recipe') ?? '', /"stage": "sft"/);
  type Charts = Record<string, { data: Array<Array<number | null>>; series: Array<{ label: string }> }>;
  const data = () => page.evaluate(() => {
    const c = (window as unknown as { heedCharts: Charts }).heedCharts;
    return Object.fromEntries(Object.entries(c).map(([k, u]) => [k, { data: u.data, labels: u.series.map((s) => s.label) }]));
  });
  let d = await data();
  assert.deepEqual(Object.keys(d).sort(), ['loss', 'lr', 'tokens']);
  assert.deepEqual(d.loss!.labels, ['step', 'loss', 'val_loss']);
  assert.deepEqual(d.loss!.data[0], sftRows.map((r) => r.step));
  assert.deepEqual(d.loss!.data[1], sftRows.map((r) => r.loss));
  assert.deepEqual(d.loss!.data[2], sftRows.map((r) => r.val_loss ?? null));
  assert.deepEqual(d.lr!.data[1], sftRows.map((r) => r.lr));
  // the canvas has ink: pixels that are neither transparent nor white
  const ink = await page.$eval('.chart[data-group="loss"] canvas', (c) => {
    const cv = c as HTMLCanvasElement, px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i + 3]! > 0 && (px[i]! < 200 || px[i + 1]! < 200 || px[i + 2]! < 200)) n++;
    return n;
  });
  assert.ok(ink > 500, `${ink} drawn pixels`);
  // the run goes on: new rows appear without a reload
  appendFileSync(join(sft, 'metrics.jsonl'), JSON.stringify({ step: 31, loss: 0.9, lr: 1e-3, tokens: 7936 }) + '\n' + '{"step": 32, "loss": 0.8');
  await page.waitForFunction(() => (window as unknown as { heedCharts: Charts }).heedCharts.loss!.data[0]!.length === 31, null, { timeout: 8000 });
  d = await data();
  assert.equal(d.loss!.data[1]![30], 0.9);
  await page.screenshot({ path: artifact('runs-page.png'), fullPage: true });
  // an alignment run: its own columns
  await page.click('#runs li[data-run="ppo"]');
  await page.waitForFunction(() => 'reward' in (window as unknown as { heedCharts: object }).heedCharts);
  d = await data();
  assert.deepEqual(Object.keys(d).sort(), ['kl', 'reward', 'score']);
  assert.deepEqual(d.reward!.data[1], [0.1, 0.3]);
  await done(page);
});

test('runs API: names outside the root, or not runs, are 404s; a bad offset is a 400', async () => {
  for (const name of ['../..', '/etc', 'demo/../..', 'demo/sft/ckpt-10', 'demo', '']) {
    const res = await fetch(`${server.url}/api/runs/run?name=${encodeURIComponent(name)}`);
    assert.equal(res.status, 404, name);
  }
  assert.equal((await fetch(`${server.url}/api/runs/run?name=ppo&from=-4`)).status, 400);
  const ok = await (await fetch(`${server.url}/api/runs/run?name=ppo`)).json() as { rows: unknown[]; recipe: { stage: string } };
  assert.equal(ok.rows.length, 2);
  assert.equal(ok.recipe.stage, 'ppo');
  const js = await fetch(`${server.url}/assets/uplot.js`);
  assert.equal(js.status, 200);
  assert.match(await js.text(), /uPlot/);
  assert.equal((await fetch(`${server.url}/assets/..%2Fpackage.json`)).status, 404);
});
