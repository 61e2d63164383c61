/**
 * int8 against fp32 retrieval quality on the demo (issue #15). The demo's synthetic collection
 * (`histoseek demo`'s settings: seed 1, 24 slides, 2 400 training and 480 test patches; made here
 * unless --collection names one) is indexed with the built-in model at each precision and
 * evaluated under the Kimia protocol (η_p, η_w, η_tot); then every test patch is searched in both
 * indexes and the top-10 ids compared: `top10_shared` is the mean number of fp32's ten that int8's
 * ten also holds. The built-in model's backbone is a seeded random one (models/default/MODEL_CARD.md).
 *
 * The precisions are compared with float32 vectors stored, so that only the model differs; then
 * again with the default float16 vectors, beside a control: the fp32 model's float16 index against
 * its float32 one. Many demo patches have dozens of neighbours within cosine 0.9999, and the
 * control shows how far float16 rounding alone reorders them.
 *
 *   npm run bench:precision [-- --collection DIR] [--work DIR] [--quick]
 *
 * --quick: the demo's quick collection (6 slides). Output: one JSON line per precision and stored
 * vectors, and one per comparison, on stdout and in bench/results/precision-<time>Z.json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openIndex } from '../src/api/library.js';
import { DEMO_COLLECTION, ensureCollection, QUICK_DEMO_COLLECTION } from '../src/cli/demo-cmd.js';
import { readCollection } from '../src/collections/read.js';
import type { VectorKind } from '../src/store/types.js';
import type { Precision } from '../src/model/types.js';
import { info, Results, significant } from './common.js';

const THREADS = 2;
const K = 10;

const { values: opts } = parseArgs({
  options: {
    collection: { type: 'string' },
    work: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});

const results = new Results('precision');
const work = opts.work ?? (await mkdtemp(path.join(os.tmpdir(), 'histoseek-precision-')));
const collection = opts.collection ?? path.join(work, 'collection');
await ensureCollection(collection, opts.quick ? QUICK_DEMO_COLLECTION : DEMO_COLLECTION);
const queries = (await readCollection(collection, 'kimia', 'queries')).items.map((item) => item.source);

/** One index: the model's precision and the stored vectors. */
interface Run {
  precision: Precision;
  vectors: VectorKind;
}
const RUNS: Run[] = [
  { precision: 'fp32', vectors: 'f32' },
  { precision: 'int8', vectors: 'f32' },
  { precision: 'fp32', vectors: 'f16' },
  { precision: 'int8', vectors: 'f16' },
];
const runName = (run: Run) => `${run.precision}-${run.vectors}`;

const rankings = new Map<string, string[][]>();
const etaTot = new Map<string, number>();
for (const run of RUNS) {
  const { precision, vectors } = run;
  const db = path.join(work, `db-${runName(run)}`);
  info(`indexing the training patches at ${precision} (${vectors} vectors) into ${db}…`);
  const started = performance.now();
  const index = await openIndex(db, { create: true, threads: THREADS, precision, vectors });
  try {
    await index.add(collection, { layout: 'kimia', batch: 16 });
    const indexSeconds = (performance.now() - started) / 1000;
    const metrics = await index.evaluate({ queries: collection, layout: 'kimia', k: K });
    const ranked: string[][] = [];
    for (const query of queries) ranked.push((await index.search(query, { k: K })).map((hit) => hit.path));
    rankings.set(runName(run), ranked);
    etaTot.set(runName(run), metrics.eta_tot);
    results.emit({
      case: 'demo',
      precision,
      vectors,
      queries: queries.length,
      index_s: significant(indexSeconds),
      eta_p: significant(metrics.eta_p),
      eta_w: significant(metrics.eta_w),
      eta_tot: significant(metrics.eta_tot),
      threads: THREADS,
    });
  } finally {
    await index.close();
  }
}
/** How far `other`'s top-10 and η_tot move from `base`'s. */
function compare(label: string, base: Run, other: Run): void {
  const [reference, ranked] = [rankings.get(runName(base))!, rankings.get(runName(other))!];
  const shared = reference.map((ids, q) => ids.filter((id) => ranked[q].includes(id)).length);
  results.emit({
    case: 'demo',
    compare: label,
    queries: queries.length,
    top10_shared: significant(shared.reduce((a, b) => a + b, 0) / shared.length),
    top10_shared_min: Math.min(...shared),
    eta_tot_points: significant(100 * (etaTot.get(runName(other))! - etaTot.get(runName(base))!)),
  });
}
compare('int8-vs-fp32, f32 vectors', RUNS[0], RUNS[1]);
compare('int8-vs-fp32, f16 vectors', RUNS[2], RUNS[3]);
compare('f16-vs-f32 vectors, fp32 model', RUNS[0], RUNS[2]);
info(`wrote ${await results.save()}`);
if (!opts.work) await rm(work, { recursive: true, force: true });
