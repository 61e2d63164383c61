/**
 * bench:scale's index build survives SIGKILL: a build killed after it committed a batch, then rerun
 * to completion, equals an uninterrupted build — items, stored vectors, the exact top-10 of 100
 * queries, a graph over every row, and the two-stage top-10 up to the graph's own nondeterminism
 * (measured by a second uninterrupted build).
 * CI size: 30 000 rows of 128-d vectors around random bases (no embedding). The archive-size check,
 * run by hand: HISTOSEEK_RESUME_ROWS=1000000 HISTOSEEK_RESUME_BATCH=65536 node --import tsx --test test/scale-resume.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Searcher } from '../../src/store/folder/search.js';
import { FolderIndex } from '../../src/store/folder/folder-index.js';
import {
  cyclicLabels,
  randomBases,
  sigmaForDistance,
  SyntheticSpace,
  writeRaw,
  writeSpec,
} from '../../bench/scale-space.js';
import { CHILD_TIMEOUT_MS, temporaryFolder } from '../helpers.js';

const BUILD = fileURLToPath(new URL('../../bench/scale-build.ts', import.meta.url));
const ROWS = Number(process.env.HISTOSEEK_RESUME_ROWS ?? 30_000);
const DIM = 128;
const BATCH = Number(process.env.HISTOSEEK_RESUME_BATCH ?? 2_000);
const BASES = 300;
const QUERIES = 100;
const TWO_STAGE_DIFFERENCES_ALLOWED = 3;
/**
 * How far below the worse of two uninterrupted builds the resumed build's recall@10 over 100 queries
 * may fall: three standard deviations at recall 0.98, for two builds.
 */
const RECALL_DIFFERENCE_ALLOWED = 0.02;

const work = await temporaryFolder('histoseek-scale-resume-');

const basesFile = join(work, 'bases.f32');
writeRaw(basesFile, randomBases(BASES, DIM, 5));
const specFile = join(work, 'space.json');
writeSpec(specFile, {
  d: DIM,
  basesFile,
  count: BASES,
  labels: cyclicLabels(BASES),
  sigma: sigmaForDistance(0.5, DIM),
  seed: 11,
  origin: 'random bases (test)',
});

/** Runs the build child; with `killAfterBatches`, SIGKILLs it once it has reported that many committed batches. */
function build(
  dir: string,
  killAfterBatches?: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; committed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, BUILD, '--space', specFile, '--dir', dir, '--n', String(ROWS), '--batch', String(BATCH)],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' },
    );
    let committed = 0;
    let stderr = '';
    let killed = false;
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      committed += (chunk.match(/committed \d+\//g) ?? []).length;
      if (killAfterBatches !== undefined && committed >= killAfterBatches && !killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0 && !killed) reject(new Error(`scale-build exited with ${code ?? signal}: ${stderr}`));
      else resolve({ code, signal, committed });
    });
  });
}

async function top10(dir: string, mode: 'exact' | 'two-stage', queries: Float32Array): Promise<number[][]> {
  const store = FolderIndex.open(dir);
  const searcher = await Searcher.open(store, { threads: 2, mode });
  try {
    const hits = await searcher.search(queries, queries.length / DIM, { k: 10 });
    return hits.map((h) => h.map((hit) => hit.row));
  } finally {
    await searcher.release();
    store.close();
  }
}

test(
  'a build killed partway and rerun equals an uninterrupted one',
  { timeout: Math.max(120_000, ROWS * 3) },
  async (t) => {
    const resumed = join(work, 'resumed');
    const killed = await build(resumed, 3);
    assert.equal(killed.signal, 'SIGKILL', 'the first build was killed, not finished');
    const partial = FolderIndex.open(resumed);
    const rowsAtKill = partial.rows;
    partial.close();
    assert.ok(rowsAtKill >= 3 * BATCH && rowsAtKill < ROWS, `killed with ${rowsAtKill} rows committed`);
    const rerun = await build(resumed);
    assert.equal(rerun.code, 0);

    const straight = join(work, 'straight');
    assert.equal((await build(straight)).code, 0);

    const [a, b] = [FolderIndex.open(resumed), FolderIndex.open(straight)];
    try {
      assert.equal(a.rows, ROWS);
      assert.equal(b.rows, ROWS);
      assert.deepEqual(a.allItems(), b.allItems());
      const rows = Array.from({ length: ROWS }, (_, i) => i);
      assert.deepEqual(a.vectors(rows), b.vectors(rows));
    } finally {
      a.close();
      b.close();
    }

    const queries = SyntheticSpace.load(specFile).queries(QUERIES);
    const truth = await top10(straight, 'exact', queries);
    assert.deepEqual(await top10(resumed, 'exact', queries), truth, 'top-10 (exact)');

    // The resumed graph holds every row, and is stamped as covering them all (no tail left to scan).
    const store = FolderIndex.open(resumed);
    try {
      assert.equal(store.graphStamp()?.rows, ROWS);
      assert.equal(store.openGraph()?.size, ROWS);
    } finally {
      store.close();
    }
    // usearch inserts with two threads, so even two uninterrupted builds get slightly different graphs
    // (at 30 000 rows about 1 query in 150 gets a different two-stage top-10; at 10⁶ about 2 in 5).
    // So a second uninterrupted build measures that noise, and the resumed graph may differ from the
    // first by no more than twice as much (plus a few), and find the exact top-10 as often as the worse
    // of the two (at 10⁶ their recall@10 was 0.940 and 0.966 in one run: the noise is not one-sided).
    const again = join(work, 'again');
    assert.equal((await build(again)).code, 0);
    const [mine, theirs, control] = await Promise.all(
      [resumed, straight, again].map((dir) => top10(dir, 'two-stage', queries)),
    );
    const differing = (a: number[][], b: number[][]) => a.filter((ids, q) => ids.join() !== b[q].join()).length;
    const recall = (found: number[][]) =>
      found.reduce((n, ids, q) => n + ids.filter((id) => truth[q].includes(id)).length, 0) / (10 * QUERIES);
    const [resumedDiffers, controlDiffers] = [differing(mine, theirs), differing(control, theirs)];
    t.diagnostic(
      `two-stage top-10 differs from the uninterrupted build's for ${resumedDiffers} of ${QUERIES} queries ` +
        `(a second uninterrupted build: ${controlDiffers}); recall@10 resumed ${recall(mine)}, ` +
        `uninterrupted ${recall(theirs)} and ${recall(control)}`,
    );
    assert.ok(
      resumedDiffers <= 2 * controlDiffers + TWO_STAGE_DIFFERENCES_ALLOWED,
      `two-stage top-10 differs for ${resumedDiffers} of ${QUERIES} queries; two uninterrupted builds for ${controlDiffers}`,
    );
    assert.ok(
      recall(mine) >= Math.min(recall(theirs), recall(control)) - RECALL_DIFFERENCE_ALLOWED,
      `two-stage recall@10 ${recall(mine)} resumed, ${recall(theirs)} and ${recall(control)} uninterrupted`,
    );
  },
);
