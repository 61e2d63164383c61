/**
 * int8 against fp32 retrieval quality on the demo (issue #15). The demo's synthetic collection
 * (`histoseek demo`'s settings: seed 1, 24 slides, 2 400 training and 480 test patches; made here
 * unless --collection names one) is indexed with the built-in model at each precision and
 * evaluated under the Kimia protocol (η_p, η_w, η_tot); then every test patch is searched in both
 * indexes and the top-10 ids compared: `top10_shared` is the mean number of fp32's ten that int8's
 * ten also holds. The built-in model's backbone is a seeded random one (models/default/MODEL_CARD.md).
 *
 *   npm run bench:precision [-- --collection DIR] [--work DIR] [--quick]
 *
 * --quick: the demo's quick collection (6 slides). Output: one JSON line per precision and one
 * comparing them, on stdout and in bench/results/precision-<time>Z.json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openIndex } from '../src/api/library.js';
import { indexCollection } from '../src/api/index-collection.js';
import { DEMO_COLLECTION, ensureCollection, QUICK_DEMO_COLLECTION } from '../src/cli/demo-cmd.js';
import { readCollection } from '../src/data/collections/read.js';
import { PRECISIONS } from '../src/model/identity.js';
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

const rankings = new Map<string, string[][]>();
const etaTot = new Map<string, number>();
for (const precision of PRECISIONS) {
  const db = path.join(work, `db-${precision}`);
  info(`indexing the training patches at ${precision} into ${db}…`);
  const started = performance.now();
  await indexCollection({ root: collection, layout: 'kimia', db, batch: 16, threads: THREADS, precision });
  const indexSeconds = (performance.now() - started) / 1000;
  const index = await openIndex(db, { threads: THREADS, precision });
  try {
    const metrics = await index.evaluate({ queries: collection, layout: 'kimia', k: K });
    const ranked: string[][] = [];
    for (const query of queries) ranked.push((await index.search(query, { k: K })).map((hit) => hit.path));
    rankings.set(precision, ranked);
    etaTot.set(precision, metrics.eta_tot);
    results.emit({
      case: 'demo',
      precision,
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
const [fp32, int8] = [rankings.get('fp32')!, rankings.get('int8')!];
const shared = fp32.map((ids, q) => ids.filter((id) => int8[q].includes(id)).length);
results.emit({
  case: 'demo',
  compare: 'int8-vs-fp32',
  queries: queries.length,
  top10_shared: significant(shared.reduce((a, b) => a + b, 0) / shared.length),
  top10_shared_min: Math.min(...shared),
  eta_tot_points: significant(100 * (etaTot.get('int8')! - etaTot.get('fp32')!)),
});
info(`wrote ${await results.save()}`);
if (!opts.work) await rm(work, { recursive: true, force: true });
