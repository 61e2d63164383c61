import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { histoseek, ROOT, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const KATHER = join(ROOT, '../shared/data/kather2016-samples');

test(
  'Kather tiles: indexed as a folder collection, a tile finds itself first at distance ≈ 0',
  { timeout: TIMEOUT, skip: existsSync(KATHER) ? false : `${KATHER} is absent (shared test data)` },
  async (t) => {
    const dir = await temporaryFolder('histoseek-kather-', t);
    const db = join(dir, 'db');
    const indexed = histoseek('index', KATHER, '--db', db, '--layout', 'folder');
    assert.equal(indexed.status, 0, indexed.stderr);
    assert.match(indexed.stderr, /24 added/);
    const tile = join(KATHER, '05_DEBRIS', '1A1F_CRC-Prim-HE-08_024.tif_Row_1651_Col_151.tif');
    const r = histoseek('search', tile, '--db', db, '-k', '5', '--json');
    assert.equal(r.status, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as {
      query: string;
      results: { rank: number; distance: number; path: string; label: string; slide: string | null }[];
    };
    assert.equal(answer.query, tile);
    assert.equal(answer.results.length, 5);
    assert.equal(answer.results[0].path, tile);
    assert.equal(answer.results[0].label, '05_DEBRIS');
    assert.ok(answer.results[0].distance < 1e-4, `distance ${answer.results[0].distance}`);
    assert.ok(
      answer.results.every((h, i) => h.rank === i + 1 && (i === 0 || h.distance >= answer.results[i - 1].distance)),
    );

    const evaluated = histoseek('eval', '--db', db, '--queries', KATHER, '--json', '--report', join(dir, 'report'));
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const metrics = JSON.parse(evaluated.stdout) as Record<string, number>;
    assert.equal(metrics.eta_p, 1, 'every tile is in the index, so its nearest neighbour is itself');
    assert.ok(metrics.map_at_10 > 0 && metrics.map_at_10 <= 1);
    const report = await readFile(join(dir, 'report', 'report.md'), 'utf8');
    assert.match(report, /η_p/);
  },
);
