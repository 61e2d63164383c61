/**
 * Exact-search benchmark: histoseek's ExactSearch against FAISS IndexFlatL2 (bench/faiss_search.py)
 * on the same seeded random unit vectors (d = 2048), 2 threads each. For N = 100 000 and 20 000
 * (a prefix of the same store) it reports single queries (median over SINGLE queries) and batches
 * of BATCH (median ms per query over BATCHES batches), the ratio to FAISS, and whether both return
 * the same top-10 ids; then the memory the store and the search take.
 *
 *   npm run bench:search
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExactSearch, type SearchHits } from '../src/store/vectors/exact-search.js';
import { Random } from '../src/util/random.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  median,
  peakRssMib,
  Results,
  runPython,
  significant,
  SYSTEM_PYTHON,
  timeRounds,
} from './common.js';

const DIM = 2048;
const COUNTS = [100_000, 20_000];
const SINGLE = 21;
const BATCH = 64;
const BATCHES = 5;
const K = 10;
const THREADS = 2;
const INSTALL = 'apt-get install python3-faiss';
const FAISS_SCRIPT = path.join(BENCH_DIR, 'faiss_search.py');

function unitVectors(count: number, seed: number): Float32Array {
  const data = new Random(seed).fillNormal(new Float32Array(count * DIM));
  for (let i = 0; i < count; i++) {
    const row = data.subarray(i * DIM, (i + 1) * DIM);
    let norm = 0;
    for (const v of row) norm += v * v;
    const scale = 1 / Math.sqrt(norm);
    for (let j = 0; j < DIM; j++) row[j] *= scale;
  }
  return data;
}

interface Measured {
  msPerQuery: number;
  /** Every query's top-K ids, in query order. */
  ids: Int32Array;
}

/** Times `blocks` query blocks of `perBlock` queries each, after one untimed warm-up search. */
async function measure(
  search: ExactSearch,
  store: Float32Array,
  count: number,
  queries: Float32Array,
  first: number,
  blocks: number,
  perBlock: number,
): Promise<Measured> {
  const block = (b: number) => queries.subarray((first + b * perBlock) * DIM, (first + (b + 1) * perBlock) * DIM);
  const hits: SearchHits[] = [];
  let next = 0;
  await search.search(store, count, block(0), perBlock, K);
  const seconds = await timeRounds(
    async () => hits.push(await search.search(store, count, block(next++), perBlock, K)),
    blocks,
    0,
  );
  const ids = new Int32Array(blocks * perBlock * K);
  hits.forEach((h, b) => ids.set(h.ids, b * perBlock * K));
  return { msPerQuery: (1000 * median(seconds)) / perBlock, ids };
}

/**
 * Whether our top-k ids equal FAISS's, allowing only swaps among exact ties: each run of equal
 * FAISS distances must hold the same ids on both sides.
 */
function sameTopK(ours: Int32Array, faissIds: number[][], faissDistances: number[][]): boolean {
  return faissIds.every((theirs, q) => {
    const distances = faissDistances[q];
    for (let start = 0; start < K;) {
      let end = start + 1;
      while (end < K && distances[end] === distances[start]) end++;
      const mine = new Set(ours.subarray(q * K + start, q * K + end));
      if (theirs.slice(start, end).some((id) => !mine.has(id))) return false;
      start = end;
    }
    return true;
  });
}

interface FaissCase {
  ms_per_query: number;
  ids: number[][];
  distances: number[][];
}

async function runFaiss(
  dataFile: string,
  queriesFile: string,
): Promise<{ cases: Record<string, FaissCase> } | { error: string }> {
  const args = [
    '--data',
    dataFile,
    '--queries',
    queriesFile,
    '--dim',
    String(DIM),
    '--counts',
    COUNTS.join(','),
    '--single',
    String(SINGLE),
    '--batch',
    String(BATCH),
    '--batches',
    String(BATCHES),
    '--k',
    String(K),
    '--threads',
    String(THREADS),
  ];
  try {
    const answer = await runPython(FAISS_SCRIPT, args);
    info(`FAISS ${String(answer.faiss)}, ${String(answer.threads)} threads`);
    return { cases: answer.cases as Record<string, FaissCase> };
  } catch (e) {
    const missingPython = e instanceof ChildError && e.code === 'ENOENT';
    return { error: missingPython ? `${SYSTEM_PYTHON} not found; install: ${INSTALL}` : (e as Error).message };
  }
}

async function main(): Promise<void> {
  const results = new Results('search');
  info(`generating ${COUNTS[0]} × ${DIM} unit vectors and ${SINGLE + BATCH * BATCHES} queries…`);
  const store = unitVectors(COUNTS[0], 1);
  const queries = unitVectors(SINGLE + BATCH * BATCHES, 2);

  const rssBeforeSearchMib = process.memoryUsage().rss / 2 ** 20;
  const search = await ExactSearch.create(DIM, { threads: THREADS });
  const ours = new Map<string, Measured>();
  for (const count of COUNTS) {
    info(`histoseek: n=${count} single…`);
    ours.set(`n${count}_single`, await measure(search, store, count, queries, 0, SINGLE, 1));
    info(`histoseek: n=${count} batch${BATCH}…`);
    ours.set(`n${count}_batch${BATCH}`, await measure(search, store, count, queries, SINGLE, BATCHES, BATCH));
  }
  await search.release();
  const searchOverheadMib = peakRssMib() - rssBeforeSearchMib;

  // FAISS reads the very same vectors; it runs after our side so that the two never share the cores.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'histoseek-bench-'));
  let faiss: Awaited<ReturnType<typeof runFaiss>>;
  try {
    const dataFile = path.join(dir, 'data.f32');
    const queriesFile = path.join(dir, 'queries.f32');
    await writeFile(dataFile, new Uint8Array(store.buffer, store.byteOffset, store.byteLength));
    await writeFile(queriesFile, new Uint8Array(queries.buffer, queries.byteOffset, queries.byteLength));
    faiss = await runFaiss(dataFile, queriesFile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if ('error' in faiss) results.emit({ error: `FAISS yardstick unavailable: ${faiss.error}` });

  for (const [name, mine] of ours) {
    const theirs = 'cases' in faiss ? faiss.cases[name] : undefined;
    results.emit({
      case: name,
      histoseek_ms_per_query: significant(mine.msPerQuery),
      faiss_ms_per_query: theirs ? significant(theirs.ms_per_query) : null,
      ratio: theirs ? significant(mine.msPerQuery / theirs.ms_per_query, 3) : null,
      same_top10: theirs ? sameTopK(mine.ids, theirs.ids, theirs.distances) : null,
    });
  }
  results.emit({
    case: 'memory',
    // The store is the only per-vector cost: the search scans it in place, in bounded chunks.
    bytes_per_million_vectors: 4 * DIM * 1e6,
    search_overhead_mib: significant(searchOverheadMib, 3),
    peak_rss_mib: significant(peakRssMib(), 4),
    dim: DIM,
  });
  info(`wrote ${await results.save()}`);
}

await main();
