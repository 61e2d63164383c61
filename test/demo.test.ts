import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { histoseek, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

test(
  'demo --quick generates, indexes, evaluates and prints the η figures; a rerun reuses everything',
  { timeout: TIMEOUT },
  async (t) => {
    const out = join(await temporaryFolder('histoseek-demo-', t), 'demo');
    const run = () => histoseek('demo', '--quick', '--out', out);
    const first = run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /24 test patches searched against the indexed training patches/);
    const eta = /η_p (\d+\.\d+)%\s+η_w (\d+\.\d+)%\s+η_tot (\d+\.\d+)%/.exec(first.stdout);
    assert.ok(eta, first.stdout);
    const [etaP, etaW, etaTot] = eta.slice(1).map(Number);
    assert.ok(Math.abs(etaTot - (etaP * etaW) / 100) < 0.01);
    assert.ok(existsSync(join(out, 'collection', 'slides', 's0.tiff')));
    const metrics = JSON.parse(await readFile(join(out, 'report', 'metrics.json'), 'utf8'));
    assert.equal(metrics.n_queries, 24);
    assert.ok(Math.abs(metrics.eta_p * 100 - etaP) < 0.01);

    const second = run();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /using the synthetic collection/);
    assert.match(second.stderr, /0 added, 72 already indexed/);
    assert.match(second.stdout, new RegExp(`η_p ${etaP.toFixed(2)}%`));
  },
);
