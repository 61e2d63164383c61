/**
 * The web page in a real browser (Debian's chromium, driven by playwright-core): built with Vite,
 * served by `histoseek serve` on a demo --quick index, used as a person would — upload a query,
 * open a result (with the keyboard), read the dashboard, open the slide viewer and the embedding map. Screenshots land in
 * .test-output/screenshots/ for a person to look at.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer } from '../src/server/serve.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, '.test-output', 'screenshots');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)`;

let dir: string;
let server: { app: FastifyInstance; url: string };
let browser: Browser;
let page: Page;
/** Console errors and uncaught exceptions (a CSP violation is one): the page must have none. */
const problems: string[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'histoseek-browser-'));
  const web = join(dir, 'web');
  const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'web', '--outDir', web, '--emptyOutDir', '--logLevel', 'warn'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(build.status, 0, build.stderr);
  const demo = spawnSync(process.execPath, [join(ROOT, 'bin/histoseek.js'), 'demo', '--quick', '--out', join(dir, 'demo')], { encoding: 'utf8', cwd: ROOT });
  assert.equal(demo.status, 0, demo.stderr);
  server = await startServer({ db: join(dir, 'demo', 'db'), host: '127.0.0.1', port: 0, webRoot: web });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.app.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const shot = (name: string, fullPage = false) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
const imagesLoaded = (selector: string) => page.waitForFunction((s) => [...document.querySelectorAll<HTMLImageElement>(s)].every((i) => i.complete && i.naturalWidth > 0), selector);

test('search by upload, then by a result, then the dashboard, the slide viewer and the map', { skip }, async () => {
  await page.goto(server.url);
  await page.waitForFunction(() => /72 items/.test(document.getElementById('status')?.textContent ?? ''));
  await shot('1-start');

  const query = join(dir, 'demo', 'collection', 'train', 's3', 's3_004.png');
  await page.setInputFiles('#query-file', query);
  await page.waitForSelector('.results .card');
  await imagesLoaded('.results img, .query-preview img');
  assert.equal(await page.locator('.results .card').count(), 10);
  assert.match(await page.locator('.majority').innerText(), /Majority of the top 10\s+s3\s+\d+ of 10 votes/);
  // The uploaded patch is indexed: it is result 1, at distance 0.
  assert.match(await page.locator('.results .card').first().innerText(), /#1\s+s3\s+0\.0000/);
  await shot('2-upload-results');

  // Keyboard: focus the second result's image link and press Enter to search with it.
  const second = page.locator('.results .card').nth(1).locator('a.card-image');
  const label = (await second.getAttribute('aria-label'))!;
  const id = /item (\d+)/.exec(label)![1];
  await second.focus();
  await shot('3-keyboard-focus');
  await page.keyboard.press('Enter');
  await page.waitForFunction((i) => location.hash === `#/search?item=${i}`, id);
  await page.waitForFunction((i) => document.querySelector('.query-preview')?.textContent?.includes(`Item ${i}`), id);
  await page.waitForSelector('.results .card');
  await imagesLoaded('.results img, .query-preview img');
  assert.match(await page.locator('.majority').innerText(), /1 item left out/);
  await shot('4-item-results');

  await page.getByRole('link', { name: 'Evaluation' }).click();
  await page.waitForSelector('.metric');
  await imagesLoaded('.confusion');
  assert.match(await page.locator('.metrics').first().innerText(), /η_p\s+\d+\.\d\d%/);
  assert.equal(await page.locator('table.per-class tbody tr').count(), 6);
  await shot('5-dashboard', true);

  await page.getByRole('link', { name: 'Slides' }).click();
  await page.waitForSelector('.osd canvas');
  await page.waitForFunction(() => document.querySelector('.viewer-panel .caption')?.textContent?.includes('768 × 768'));
  await page.waitForTimeout(1000); // tiles fade in
  await shot('6-slide-viewer');

  await page.getByRole('link', { name: 'Map' }).click();
  await page.waitForFunction(() => /UMAP of all 72 items/.test(document.querySelector('[data-view="map"] .caption')?.textContent ?? ''));
  assert.equal(await page.locator('[data-view="map"] .legend .legend-item').count(), 6);
  // Hover a dot (found from the canvas pixels), then click it: a search with that item.
  const canvas = page.locator('.map-canvas');
  const box = (await canvas.boundingBox())!;
  const dot = await canvas.evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const scale = c.width / c.getBoundingClientRect().width;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 80) {
        const p = i / 4;
        return { x: (p % c.width) / scale + 2, y: Math.floor(p / c.width) / scale + 2 };
      }
    }
    return null;
  });
  assert.ok(dot, 'no dot drawn on the map');
  await page.mouse.move(box.x + dot.x, box.y + dot.y);
  await page.waitForSelector('.map-tooltip:not([hidden]) img');
  await imagesLoaded('.map-tooltip img');
  await shot('7-embedding-map');
  await page.mouse.click(box.x + dot.x, box.y + dot.y);
  await page.waitForFunction(() => /^#\/search\?item=\d+$/.test(location.hash));
  await page.waitForSelector('[data-view="search"]:not([hidden]) .results .card');

  // Back through history, as a person would: the map again.
  await page.goBack();
  await page.waitForSelector('[data-view="map"]:not([hidden]) .map-canvas');
  assert.deepEqual(problems, []);
});
