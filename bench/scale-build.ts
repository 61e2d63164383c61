/**
 * bench:scale's index builder, run as its own process so that it can be killed and rerun: appends
 * the rows of a synthetic space (scale-space.ts) to a histoseek index in batches, resuming from the
 * rows the index already holds (store.rows). The seconds spent building accumulate across runs in
 * DIR.build.json (beside the index, so it is not counted in the index's bytes).
 *
 *   node --import tsx bench/scale-build.ts --space SPEC.json --dir DIR --n N [--vectors f16] [--batch 65536]
 *
 * Prints "committed R/N rows" on stderr after each batch, and {"rows", "build_s"} on stdout at the end.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isVectorKind, type ModelIdentity } from '../src/store/types.js';
import { FolderIndex } from '../src/store/folder/folder-index.js';
import { Random } from '../src/util/random.js';
import { significant } from './common.js';
import { SyntheticSpace } from './scale-space.js';

const { values: opts } = parseArgs({
  options: {
    space: { type: 'string' },
    dir: { type: 'string' },
    n: { type: 'string' },
    vectors: { type: 'string', default: 'f16' },
    batch: { type: 'string', default: '65536' },
  },
});
if (!opts.space || !opts.dir || !opts.n)
  throw new Error('usage: scale-build.ts --space SPEC.json --dir DIR --n N [--vectors f16|f32|i8] [--batch ROWS]');
const n = Number(opts.n);
const batch = Number(opts.batch);
const kind = opts.vectors!;
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(batch) || batch < 1)
  throw new Error(`--n and --batch must be positive integers, got ${opts.n} and ${opts.batch}`);
if (!isVectorKind(kind)) throw new Error(`--vectors must be f32, f16 or i8, got ${kind}`);

const space = SyntheticSpace.load(opts.space);
const d = space.d;
/** The identity every bench:scale index of this width shares. */
const model: ModelIdentity = { id: `bench:scale synthetic d=${d}`, hash: `bench-scale-d${d}`, dim: d, inputSize: 224 };
const timingFile = `${opts.dir}.build.json`;
// Time spent on an index that is gone (removed after measuring, say) does not count.
const earlier =
  existsSync(timingFile) && existsSync(opts.dir)
    ? (JSON.parse(readFileSync(timingFile, 'utf8')) as { build_s: number }).build_s
    : 0;

/**
 * The rows are unit vectors already; their raw descriptors' norms only take space in the metadata.
 * They are drawn, not all 1: SQLite stores a whole number in fewer bytes than a real norm takes.
 */
function rawNorms(first: number, count: number): Float32Array {
  const random = new Random(first + 1);
  return Float32Array.from({ length: count }, () => 20 + 5 * random.normal());
}

const started = performance.now();
const elapsed = () => earlier + (performance.now() - started) / 1000;
const store = FolderIndex.openOrCreate(opts.dir, model, { vectors: kind });
try {
  if (store.rows > n) throw new Error(`${opts.dir}: holds ${store.rows} rows, more than --n ${n}`);
  if (store.rows > 0) process.stderr.write(`[scale-build] resuming at row ${store.rows}\n`);
  for (let first = store.rows; first < n; first = store.rows) {
    const count = Math.min(batch, n - first);
    const { vectors, bases } = space.rows(first, count);
    store.append(space.items(first, bases), vectors, rawNorms(first, count));
    writeFileSync(timingFile, JSON.stringify({ build_s: elapsed() }));
    process.stderr.write(`[scale-build] committed ${store.rows}/${n} rows (${Math.round(elapsed())} s)\n`);
  }
} finally {
  store.close(); // saves the graph
}
const buildSeconds = elapsed();
writeFileSync(timingFile, JSON.stringify({ build_s: buildSeconds }));
console.log(JSON.stringify({ rows: n, build_s: significant(buildSeconds) }));
