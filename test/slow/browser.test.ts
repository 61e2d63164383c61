/**
 * The web page in a real browser (Debian's chromium, driven by playwright-core): built with Vite,
 * served by `histoseek serve` on a demo --quick index, used as a person would — upload a query,
 * open a result (with the keyboard), read the dashboard, open the slide viewer and the embedding map;
 * then on a server with tokens: sign in, search, open a slide. Screenshots land in
 * .test-output/screenshots/ for a person to look at. Both pages run under the server's CSP and must
 * trip none of it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer } from '../../src/server/serve.js';
import { buildWebPage, histoseek, ROOT, temporaryFolder } from '../helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 600_000;

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, '.test-output', 'screenshots');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)`;

let dir: string;
let web: string;
let server: { app: FastifyInstance; url: string };
let browser: Browser;
let page: Page;
/** Console errors and uncaught exceptions (a CSP violation is one): the page must have none. */
const problems: string[] = [];

/** A page in a context of its own (its own sessionStorage), whose console errors, uncaught exceptions and CSP violations land in `into`. */
async function openPage(into: string[]): Promise<Page> {
  const p = await (await browser.newContext({ viewport: { width: 1366, height: 860 } })).newPage();
  // Chromium reports a violation on the console too; the event says which directive, and cannot be missed.
  await p.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`),
    ),
  );
  p.on('console', (m) => m.type() === 'error' && into.push(`console: ${m.text()}`));
  p.on('pageerror', (e) => into.push(`page error: ${e.message}`));
  return p;
}

before(async () => {
  if (skip) return;
  dir = await temporaryFolder('histoseek-browser-');
  web = join(dir, 'web');
  buildWebPage(web);
  const demo = histoseek('demo', '--quick', '--out', join(dir, 'demo'));
  assert.equal(demo.status, 0, demo.stderr);
  server = await startServer({ db: join(dir, 'demo', 'db'), host: '127.0.0.1', port: 0, webRoot: web });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  page = await openPage(problems);
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.app.close();
});

const shot = (name: string, fullPage = false, on = page) =>
  on.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
const imagesLoaded = (selector: string, on = page) =>
  on.waitForFunction(
    (s) => [...document.querySelectorAll<HTMLImageElement>(s)].every((i) => i.complete && i.naturalWidth > 0),
    selector,
  );

test(
  'search by upload, then by a result, then the dashboard, the slide viewer and the map',
  { timeout: TIMEOUT, skip },
  async () => {
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
    await page.waitForFunction(() =>
      document.querySelector('.viewer-panel .caption')?.textContent?.includes('768 × 768'),
    );
    await page.waitForTimeout(1000); // tiles fade in
    await shot('6-slide-viewer');

    await page.getByRole('link', { name: 'Map' }).click();
    await page.waitForFunction(() =>
      /UMAP of all 72 items/.test(document.querySelector('[data-view="map"] .caption')?.textContent ?? ''),
    );
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
  },
);

test(
  'with tokens: sign in once, search, open a slide; without the token the API refuses',
  { timeout: TIMEOUT, skip },
  async () => {
    const token = randomBytes(18).toString('base64url');
    const tokenFile = join(dir, 'tokens.txt');
    writeFileSync(tokenFile, `# browser test\npathologist:${token}\n`);
    const guarded = await startServer({
      db: join(dir, 'demo', 'db'),
      host: '127.0.0.1',
      port: 0,
      webRoot: web,
      tokenFile,
    });
    const seen: string[] = [];
    const tab = await openPage(seen);
    try {
      await tab.goto(guarded.url);
      // The API's first answer is a 401: the page asks for the token.
      await tab.waitForSelector('.login-overlay input#token');
      assert.match(await tab.locator('#login-message').innerText(), /needs an access token/);
      await shot('8-sign-in', false, tab);
      await tab.fill('#token', 'not-the-token-at-all-0000');
      await tab.press('#token', 'Enter');
      await tab.waitForFunction(() => /not accepted/.test(document.getElementById('login-message')?.textContent ?? ''));
      await tab.fill('#token', token);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.waitForFunction(() => /72 items/.test(document.getElementById('status')?.textContent ?? ''));
      assert.equal(await tab.evaluate(() => sessionStorage.getItem('histoseek-token')), token);

      await tab.setInputFiles('#query-file', join(dir, 'demo', 'collection', 'train', 's1', 's1_002.png'));
      await tab.waitForSelector('.results .card');
      // Thumbnails come through fetch with the header, shown from blob: URLs.
      await imagesLoaded('.results img', tab);
      assert.equal(await tab.locator('.results .card').count(), 10);
      assert.ok(
        (await tab.locator('.results img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src))).every(
          (src) => src.startsWith('blob:'),
        ),
      );
      assert.match(await tab.locator('.results .card').first().innerText(), /#1\s+s1\s+0\.0000/);

      // OpenSeadragon fetches its tiles with the header too.
      const tile = tab.waitForResponse((r) => /\/api\/slides\/s0\/tiles\//.test(r.url()));
      await tab.getByRole('link', { name: 'Slides' }).click();
      const tileResponse = await tile;
      assert.equal(tileResponse.status(), 200);
      assert.equal(tileResponse.request().headers().authorization, `Bearer ${token}`);
      await tab.waitForFunction(() =>
        document.querySelector('.viewer-panel .caption')?.textContent?.includes('768 × 768'),
      );
      await tab.waitForTimeout(1000); // tiles fade in
      await shot('9-slide-viewer-signed-in', false, tab);

      // The same requests without the header are refused.
      const refused = await tab.evaluate(async () =>
        Promise.all(
          ['/api/index', '/api/items/0/thumbnail', '/api/slides/s0/tiles/10/0_0.jpeg'].map(
            async (u) => (await fetch(u)).status,
          ),
        ),
      );
      assert.deepEqual(refused, [401, 401, 401]);
    } finally {
      await tab.context().close();
      await guarded.app.close();
    }
    // The browser logs each 401 it got (the first request, the wrong token, the three above); nothing else.
    const unexpected = seen.filter(
      (m) => !/Failed to load resource: the server responded with a status of 401/.test(m),
    );
    assert.deepEqual(unexpected, []);
    assert.ok(seen.length >= 5, `${seen.length} refusals logged`);
  },
);
