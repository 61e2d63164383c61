/**
 * bench:scale's serving process: a fresh node process that only opens a built index and searches
 * it, so that its peak RSS is what serving that index costs. Times single queries one at a time
 * (after a warm-up) and batches of 64, and scores recall@k against the exact float32 ground truth.
 *
 *   node --import tsx bench/scale-serve.ts --dir DIR --mode two-stage|exact --queries Q.f32 --truth T.i32
 *        --singles S --batches B [--k 10] [--candidates C]
 *
 * Prints one JSON object: p50_ms, p95_ms, batch64_ms_per_query, recall_at_10, rss_mib (peak), the
 * numbers of queries behind each, and in two-stage search the graph candidates and the rows
 * re-ranked per query; rss_anon_mib and rss_file_mib split the resident memory after the last query
 * into private memory and mapped index pages.
 */
import { parseArgs } from 'node:util';
import { rerankedCount, Searcher } from '../src/store/folder/search.js';
import { type Hit, SEARCH_MODES, type SearchMode } from '../src/store/types.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { peakRssMib, rssPartsMib, significant } from './common.js';
import { latencySummary, recallAtK } from './scale-metrics.js';
import { readFloat32, readInt32 } from './scale-space.js';

const BATCH = 64;
const WARMUP = 3;
const THREADS = 2;

const { values: opts } = parseArgs({
  options: {
    dir: { type: 'string' },
    mode: { type: 'string' },
    queries: { type: 'string' },
    truth: { type: 'string' },
    singles: { type: 'string', default: '200' },
    batches: { type: 'string', default: '15' },
    k: { type: 'string', default: '10' },
    candidates: { type: 'string' },
  },
});
if (!opts.dir || !opts.queries || !opts.truth || !SEARCH_MODES.includes(opts.mode as SearchMode)) {
  throw new Error(
    'usage: scale-serve.ts --dir DIR --mode exact|two-stage --queries Q.f32 --truth T.i32 [--singles S] [--batches B] [--k K] [--candidates C]',
  );
}
const k = Number(opts.k);
const rssAtStartMib = peakRssMib();
const store = FolderIndex.open(opts.dir);
const d = store.model.dim;
const queries = readFloat32(opts.queries);
const truth = readInt32(opts.truth);
const nQueries = queries.length / d;
const singles = Math.min(Number(opts.singles), nQueries);
const batches = Math.min(Number(opts.batches), Math.floor(nQueries / BATCH));

const searcher = await Searcher.open(store, {
  threads: THREADS,
  mode: opts.mode as SearchMode,
  candidates: opts.candidates === undefined ? undefined : Number(opts.candidates),
});
const query = (first: number, count: number) => queries.subarray(first * d, (first + count) * d);
const answers: Hit[][] = new Array(nQueries);

// Warm-up on the last queries: pages of the graph and the vector files, onnxruntime's first runs.
for (let q = nQueries - WARMUP; q < nQueries; q++) await searcher.search(query(q, 1), 1, { k });
const singleMs: number[] = [];
for (let q = 0; q < singles; q++) {
  const start = performance.now();
  answers[q] = (await searcher.search(query(q, 1), 1, { k }))[0];
  singleMs.push(performance.now() - start);
}
let batchMs = 0;
for (let b = 0; b < batches; b++) {
  const start = performance.now();
  const hits = await searcher.search(query(b * BATCH, BATCH), BATCH, { k });
  batchMs += performance.now() - start;
  hits.forEach((h, i) => (answers[b * BATCH + i] = h));
}
const rssParts = rssPartsMib();
await searcher.release();
store.close();

const answered = answers.flatMap((hits, q) => (hits ? [{ q, ids: hits.map((h) => h.row) }] : []));
const latency = latencySummary(singleMs);
console.log(
  JSON.stringify({
    p50_ms: latency.p50,
    p95_ms: latency.p95,
    queries_timed: singles,
    batch64_ms_per_query: batches ? significant(batchMs / (batches * BATCH)) : null,
    queries_batched: batches * BATCH,
    recall_at_10: recallAtK(answered, truth, k),
    queries_recall: answered.length,
    rss_mib: significant(peakRssMib(), 4),
    rss_at_start_mib: significant(rssAtStartMib, 4),
    ...(searcher.mode === 'two-stage' ? { candidates: searcher.candidates, reranked: rerankedCount(k, d) } : {}),
    rss_anon_mib: significant(rssParts.anon, 4),
    rss_file_mib: significant(rssParts.file, 4),
  }),
);
