// The HTML report opened in real Chromium: one self-contained file (no network), the table across
// stages, per-family bars and training curves drawn from real metrics.jsonl files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '../../src/eval/report.js';
import type { StageRow } from '../../src/eval/stages.js';
import { launchBrowser, artifact } from '../helpers/browser.js';

const row = (acc: number, extra: Partial<StageRow> = {}): StageRow => ({ heldout_accuracy: acc, zero_shot_accuracy: acc / 3, format_compliance: 1, exact_match: acc, ifeval_prompt_strict: 0.2, reward_score: null, ...extra });

test('the report renders its table, bars and curves in Chromium without the network', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'heed-report-'));
  const sft = join(dir, 'sft'), ppo = join(dir, 'ppo');
  mkdirSync(sft); mkdirSync(ppo);
  writeFileSync(join(sft, 'metrics.jsonl'), Array.from({ length: 30 }, (_, i) => JSON.stringify({ step: i + 1, loss: 3 / (i + 1), lr: 1e-3, ...(i % 10 === 9 ? { val_loss: 2.5 / (i + 1) } : {}) })).join('\n') + '\n');
  writeFileSync(join(ppo, 'metrics.jsonl'), Array.from({ length: 12 }, (_, i) => JSON.stringify({ step: i + 1, score: i / 10, kl: i / 5, ...(i % 4 === 3 ? { val_score: i / 12 } : {}) })).join('\n') + '\n');
  const file = join(dir, 'report.html');
  writeReport(file, {
    title: 'heed demo', stages: { base: row(0, { reward_score: -0.4 }), sft: row(0.286, { reward_score: 0 }), ppo: row(0.3, { reward_score: 0.5, win_rate_vs_sft: 0.61 }) },
    perFamily: { sft: { add: 0.1, capitals: 0.2, continents: 0.9 }, ppo: { add: 0.2, capitals: 0.2, continents: 1 } },
    runs: [{ name: 'sft', dir: sft }, { name: 'ppo', dir: ppo }], notes: ['a note <with> markup'],
  });
  const html = readFileSync(file, 'utf8');
  assert.ok(!/<script[^>]+src=|<link[^>]+href=/.test(html), 'no external script or stylesheet');
  assert.match(html, /<td>28\.6%<\/td>/);
  assert.match(html, /<td>61\.0%<\/td>/);
  assert.match(html, /a note &lt;with&gt; markup/);
  const browser = await launchBrowser();
  try {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const requests: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => document.body.dataset.rendered !== undefined);
    // 2 bar charts + sft (loss) + ppo (score, KL)
    assert.equal(Number(await page.evaluate(() => document.body.dataset.rendered)), 5);
    const inked = await page.evaluate(() => [...document.querySelectorAll('canvas')].map((c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    }));
    assert.ok(inked.every((n) => n > 200), `every chart drew something: ${inked}`);
    const titles = await page.evaluate(() => [...document.querySelectorAll('.u-title')].map((e) => e.textContent));
    assert.deepEqual(titles, ['sft', 'ppo', 'loss', 'score', 'KL to the reference']);
    assert.deepEqual(requests, [], 'the report fetched nothing');
    await page.screenshot({ path: artifact('report.png'), fullPage: true });
  } finally { await browser.close(); }
});
