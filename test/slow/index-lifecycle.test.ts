/**
 * The store suite: the same commands and server requests — index, search, eval, remove, index
 * again, append, serve — against a folder index and against a PostgreSQL store (PGlite with
 * pgvector over TCP), with the same answers.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeKimiaCollection } from '../../src/data/synthetic/index.js';
import { openStore } from '../../src/store/open-store.js';
import { createServer } from '../../src/server/serve.js';
import { FRACTION_METRICS, histoseekWith, temporaryFolder } from '../helpers.js';
import { startPglite } from '../postgres-fixtures.js';
import { multipart } from '../server-fixtures.js';

/** One command's limit: the slowest here indexes 20 patches. */
const COMMAND_MS = 180_000;
/** A test's limit: a few commands (spawnSync blocks node:test's own timer, so each command has its limit too). */
const TEST_MS = 10 * 60_000;

function histoseek(...args: string[]) {
  return histoseekWith({ timeout: COMMAND_MS }, ...args);
}

function ok(...args: string[]) {
  const r = histoseek(...args);
  assert.equal(r.status, 0, `histoseek ${args.join(' ')}\n${r.stderr}`);
  return r;
}

const dir = await temporaryFolder('histoseek-life-');
const collection = join(dir, 'collection');
await writeKimiaCollection(collection, {
  seed: 3,
  slides: 4,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 5,
  testPerSlide: 2,
});
const other = join(dir, 'other');
await writeKimiaCollection(other, {
  seed: 4,
  slides: 1,
  slideSize: 512,
  patchSize: 96,
  trainPerSlide: 3,
  testPerSlide: 1,
});
const query = join(collection, 'test', 's1', (await readdir(join(collection, 'test', 's1')))[0]);
const pglite = await startPglite();

async function liveSlides(db: string): Promise<Map<string, number>> {
  const store = await openStore(db);
  try {
    const counts = new Map<string, number>();
    for (const item of await store.allItems()) counts.set(item.slide!, (counts.get(item.slide!) ?? 0) + 1);
    return new Map([...counts].sort());
  } finally {
    await store.close();
  }
}

/** Each store's answers, compared across stores at the end. */
const answers = new Map<string, { search: { path: string; distance: number }[]; leaveOneOut: number }>();

for (const [kind, db] of [
  ['folder', join(dir, 'db')],
  ['postgres', pglite.url('lifecycle')],
] as const) {
  describe(`${kind} store`, () => {
    test(
      'index, then search: a slide excluded on request; two-stage answers like the exact scan',
      { timeout: TEST_MS },
      () => {
        assert.match(
          ok('index', collection, '--db', db, '--layout', 'kimia', '--batch', '8').stderr,
          /20 added, 0 already indexed/,
        );
        const all = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json').stdout);
        assert.equal(all.results.length, 20);
        assert.ok(all.results.some((r: { slide: string }) => r.slide === 's1'));
        const without = JSON.parse(
          ok('search', query, '--db', db, '-k', '20', '--json', '--exclude-slide', 's1').stdout,
        );
        assert.equal(without.results.length, 15);
        assert.ok(without.results.every((r: { slide: string }) => r.slide !== 's1'));
        // 20 items search exactly by default; forced through the graph (or pgvector's HNSW index), the same list.
        const twoStage = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json', '--two-stage').stdout);
        assert.deepEqual(
          twoStage.results.map((r: { path: string }) => r.path),
          all.results.map((r: { path: string }) => r.path),
        );
        assert.match(
          histoseek('search', query, '--db', db, '--two-stage', '--exact').stderr,
          /give --exact or --two-stage, not both/,
        );
        const exact = JSON.parse(ok('search', query, '--db', db, '-k', '20', '--json', '--exact').stdout);
        assert.deepEqual(exact.results, all.results);
        answers.set(kind, { search: all.results, leaveOneOut: NaN });
      },
    );

    test(
      'eval: official protocol on the test tree, and leave-one-slide-out over the index',
      { timeout: TEST_MS },
      () => {
        const official = JSON.parse(
          ok(
            'eval',
            '--db',
            db,
            '--queries',
            collection,
            '--layout',
            'kimia',
            '--json',
            '--report',
            join(dir, `report-${kind}`),
          ).stdout,
        );
        assert.equal(official.n_queries, 8);
        for (const key of FRACTION_METRICS) assert.ok(official[key] >= 0 && official[key] <= 1, key);
        assert.ok(Math.abs(official.eta_tot - official.eta_p * official.eta_w) < 1e-12);
        assert.ok(existsSync(join(dir, `report-${kind}`, 'confusion.png')));
        // Leave-one-slide-out where label = slide: no same-label item remains, so nothing can be right.
        const loo = JSON.parse(
          ok('eval', '--db', db, '--leave-one-out', '--json', '--report', join(dir, `loo-${kind}`)).stdout,
        );
        assert.equal(loo.n_queries, 20);
        assert.equal(loo.eta_p, 0);
        answers.get(kind)!.leaveOneOut = official.eta_tot;
      },
    );

    test('serve: search by upload and by item, the index summary', { timeout: TEST_MS }, async () => {
      const app = await createServer({ db, webRoot: dir, limits: { rate: null } });
      try {
        const info = (await app.inject('/api/index')).json();
        assert.equal(info.items, 20);
        assert.deepEqual(
          info.slides.map((s: { slide: string }) => s.slide),
          ['s0', 's1', 's2', 's3'],
        );
        const upload = (
          await app.inject({ method: 'POST', url: '/api/search?k=5', ...multipart(readFileSync(query)) })
        ).json();
        assert.deepEqual(
          upload.results.map((r: { path: string }) => r.path),
          answers
            .get(kind)!
            .search.slice(0, 5)
            .map((r) => r.path),
        );
        const first = upload.results[0].id;
        const byItem = (await app.inject(`/api/search?item=${first}&k=5&exclude_slide=s2`)).json();
        assert.equal(byItem.results.length, 5);
        assert.ok(byItem.results.every((r: { id: number; slide: string }) => r.id !== first && r.slide !== 's2'));
        assert.equal((await app.inject('/api/items/999999')).statusCode, 404);
      } finally {
        await app.close();
      }
    });

    test(
      'removing a slide or a folder removes its items; indexing again restores them; appending adds',
      { timeout: TEST_MS },
      async () => {
        assert.deepEqual([...(await liveSlides(db)).values()], [5, 5, 5, 5]);
        assert.match(ok('index', '--db', db, '--remove-slide', 's2').stderr, /removed 5 items/);
        assert.equal((await liveSlides(db)).has('s2'), false);
        const removal = ok('index', '--db', db, '--remove', join(collection, 'train', 's3'), '--json');
        assert.match(removal.stderr, /removed 5 items/);
        assert.deepEqual(JSON.parse(removal.stdout), { removed: 5 });
        assert.equal((await liveSlides(db)).has('s3'), false);
        const again = ok('index', collection, '--db', db, '--layout', 'kimia');
        assert.match(again.stderr, /10 added, 10 already indexed/);
        assert.deepEqual([...(await liveSlides(db)).values()], [5, 5, 5, 5]);
        const appended = ok('index', other, '--db', db, '--layout', 'kimia', '--json');
        assert.match(appended.stderr, /3 added, 0 already indexed, 0 unreadable \(skipped\); 23 items in the index/);
        assert.deepEqual(JSON.parse(appended.stdout), {
          added: 3,
          skipped: 0,
          failures: [],
          slides_without_patches: [],
          items: 23,
        });
      },
    );
  });
}

test(
  'both stores give the same top-20 (paths, and distances to float16 precision) and the same evaluation',
  { timeout: 10_000 },
  () => {
    const [folder, postgres] = [answers.get('folder')!, answers.get('postgres')!];
    assert.deepEqual(
      postgres.search.map((r) => r.path),
      folder.search.map((r) => r.path),
    );
    postgres.search.forEach((r, i) =>
      assert.ok(
        Math.abs(r.distance - folder.search[i].distance) < 1e-3,
        `${r.path}: ${r.distance} vs ${folder.search[i].distance}`,
      ),
    );
    assert.equal(postgres.leaveOneOut, folder.leaveOneOut);
  },
);
