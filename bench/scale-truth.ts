/**
 * bench:scale's shared inputs for one width d, made in one streaming pass over the rows: the
 * held-out queries, the exact float32 top-k of every query over each case's first N rows (chunk by
 * chunk: regenerate, ExactSearch in memory with the chunk's row offset, merge), and — for FAISS —
 * the rows themselves as one raw float32 file, whose prefixes serve the smaller cases (rows are
 * identical across N by construction). Everything is kept in the work folder under a name keyed by
 * the space's spec, so a rerun reuses it.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ExactSearch } from '../src/store/vectors/exact-search.js';
import { info } from './common.js';
import { emptyHits, mergeTopK } from './scale-metrics.js';
import { type SyntheticSpace, writeRaw, writeSpec } from './scale-space.js';

export const K = 10;
/** Rows generated and scanned at a time: 64 MiB of float32 whatever d. */
const CHUNK_VALUES = 1 << 24;

export interface SharedInputs {
  specFile: string;
  queriesFile: string;
  /** Raw float32 rows (the largest N), or null when FAISS does not run. */
  dataFile: string | null;
  truthFile: (n: number) => string;
}

const sizeIs = (file: string, bytes: number) => existsSync(file) && statSync(file).size === bytes;

export async function prepareInputs(
  space: SyntheticSpace,
  counts: number[],
  nQueries: number,
  work: string,
  withData: boolean,
): Promise<SharedInputs> {
  const d = space.d;
  const key = createHash('sha1').update(JSON.stringify(space.spec)).digest('hex').slice(0, 12);
  const stem = path.join(work, `d${d}-${key}`);
  const inputs: SharedInputs = {
    specFile: `${stem}.json`,
    queriesFile: `${stem}-queries${nQueries}.f32`,
    dataFile: withData ? `${stem}-rows.f32` : null,
    truthFile: (n) => `${stem}-q${nQueries}-top${K}-n${n}.i32`,
  };
  writeSpec(inputs.specFile, space.spec);
  const queries = space.queries(nQueries);
  writeRaw(inputs.queriesFile, queries);

  const sorted = [...new Set(counts)].sort((a, b) => a - b);
  const largest = sorted.at(-1)!;
  // The data file is complete when it holds at least the largest N (an earlier run's larger one serves too).
  const haveData =
    !inputs.dataFile || (existsSync(inputs.dataFile) && statSync(inputs.dataFile).size >= largest * d * 4);
  const missingTruth = sorted.filter((n) => !sizeIs(inputs.truthFile(n), nQueries * K * 4));
  if (haveData && missingTruth.length === 0) {
    info(`d=${d}: queries, ground truth${inputs.dataFile ? ' and FAISS rows' : ''} from ${stem}-*`);
    return inputs;
  }
  const end = haveData ? missingTruth.at(-1)! : largest;
  const partialData = `${inputs.dataFile}.partial`;
  const dataFd = haveData ? null : openSync(partialData, 'w');
  const exact = await ExactSearch.create(d, { threads: 2 });
  const best = emptyHits(nQueries, K);
  const chunkRows = Math.max(1, Math.floor(CHUNK_VALUES / d));
  const started = performance.now();
  try {
    for (let first = 0; first < end;) {
      // Chunks stop at each case's N, so that the top-k so far is that case's ground truth.
      const stop = Math.min(
        first + chunkRows,
        sorted.find((n) => n > first)!,
      );
      const { vectors } = space.rows(first, stop - first);
      if (dataFd !== null) writeSync(dataFd, new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength));
      mergeTopK(best, await exact.search(vectors, stop - first, queries, nQueries, K), first);
      first = stop;
      if (sorted.includes(first)) writeRaw(inputs.truthFile(first), best.ids);
      const seconds = (performance.now() - started) / 1000;
      info(
        `d=${d}: ground truth${dataFd !== null ? ' and FAISS rows' : ''} ${first}/${end} rows (${Math.round(seconds)} s, ~${Math.round((seconds * (end - first)) / first)} s left)`,
      );
    }
  } finally {
    await exact.release();
    if (dataFd !== null) closeSync(dataFd);
  }
  if (dataFd !== null) renameSync(partialData, inputs.dataFile!);
  return inputs;
}
