/** `histoseek eval`: retrieval figures of an index, under the official Kimia Path24C protocol or leave-one-slide-out. */
import { basename, dirname, join, resolve } from 'node:path';
import type { Layout } from '../collections/collection.js';
import { readCollection } from '../collections/read.js';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { KIMIA_PROTOCOL, writeEvalReport } from '../eval/report.js';
import { evaluateLeaveOneOut, evaluateQueries, type EvalOutcome } from '../eval/run.js';
import { isPostgresUrl } from '../store/open-store.js';
import { JSON_OPTIONS } from './args.js';
import { COLLECTION_OPTIONS, LAYOUT_USAGE, parseLayout } from './collection-options.js';
import { defineCommand } from './command.js';
import {
  DEFAULT_K,
  K_OPTIONS,
  parseK,
  parseSearchSettings,
  SEARCH_MODE_OPTIONS,
  SEARCH_MODE_USAGE,
} from './search-options.js';
import { openSearchableIndex, type SearchableIndexOptions } from '../api/searchable-index.js';
import { evaluateSlides } from '../eval/slide-level.js';
import { INDEX_MODEL_OPTIONS, MODEL_USAGE, parseModelOptions, PRECISION_USAGE } from './model-options.js';
import { batchUsage, parseRunOptions, parseThreads, threadsUsage } from './run-options.js';
import { DB_USAGE, requireDb } from './store-options.js';
import { STDERR_LOGGER } from '../util/logger.js';
import { Progress } from '../util/progress.js';

/** Query images per batch unless --batch says otherwise. */
const BATCH = 16;

const USAGE = `histoseek eval --db DB --queries DIR [options]
histoseek eval --db DB --leave-one-out [options]
histoseek eval --db DB --slide-level [options]

Searches every query against the index and reports η_p, η_w (per-class recall, the paper's
equation), η_w' (per-class precision, Kimia's CalculateError.py), η_tot = η_p·η_w, Recall@1/5/10,
mAP@10, majority vote@5 and the confusion matrix. With a Kimia index of the training patches and
the test patches as queries, this is the official Kimia Path24C protocol.

${DB_USAGE}${SEARCH_MODE_USAGE}  --queries DIR        the query collection (Kimia: its test tree, or the folder holding train/ and test/)
${LAYOUT_USAGE}  --labels CSV         kimia, slides: label each query by its slide's row of a slide,label CSV (as 'index --labels')
  --leave-one-out      query with the indexed items themselves, leaving out each query's own slide
  --slide-level        whole-slide search, leave-one-slide-out: each indexed slide's mosaic against the
                       other slides; reports how often the top slide (and the majority vote) has its label
                       (for labels that are tissue classes, build the index with the tissue-class model)
  -k N                 neighbours per query (default ${DEFAULT_K})
  --report DIR         where metrics.json, report.md and confusion.png go (default: 'report' beside DB; for a
                       PostgreSQL store, ./report)
  --json               print the metrics as JSON on stdout
${MODEL_USAGE}${PRECISION_USAGE}${batchUsage(BATCH)}${threadsUsage()}`;

export function summary(m: RetrievalMetrics): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [
    `η_p ${pct(m.eta_p)}   η_w ${pct(m.eta_w)}   η_tot ${pct(m.eta_tot)}   η_w' ${pct(m.eta_w_precision)}`,
    `Recall@1 ${pct(m.recall_at_1)}   Recall@5 ${pct(m.recall_at_5)}   Recall@10 ${pct(m.recall_at_10)}   mAP@10 ${pct(m.map_at_10)}   MV@5 ${pct(m.mv_at_5)}`,
  ].join('\n');
}

export interface EvalRequest extends SearchableIndexOptions {
  db: string;
  queries?: string;
  layout: Layout;
  /** A slide,label CSV labelling the queries by their slide. */
  labels?: string;
  leaveOneOut: boolean;
  k: number;
  report: string;
  batch: number;
}

/** Runs an evaluation and writes its report; returns the metrics and the report's paths. */
export async function runEval(
  o: EvalRequest,
): Promise<EvalOutcome & { paths: { json: string; markdown: string; png: string } }> {
  if (!o.leaveOneOut && !o.queries) throw new Error(`give --queries DIR or --leave-one-out\n\n${USAGE}`);
  const collection = o.queries ? await readCollection(o.queries, o.layout, 'queries', { labels: o.labels }) : null;
  const index = await openSearchableIndex(o.db, { ...o, logger: STDERR_LOGGER });
  try {
    let outcome: EvalOutcome;
    if (collection) {
      const progress = new Progress('queries', collection.items.length, 'images');
      outcome = await evaluateQueries(
        index.store,
        index.searcher,
        index.embedder,
        collection.items,
        o.k,
        o.batch,
        (n) => progress.advance(n),
      );
      progress.finish();
      for (const f of outcome.failures) process.stderr.write(`skipped ${f.message}\n`);
    } else {
      outcome = await evaluateLeaveOneOut(index.store, index.searcher, o.k);
    }
    const items = await index.store.liveCount();
    const where = isPostgresUrl(o.db) ? index.store.location : resolve(o.db);
    const paths = await writeEvalReport(o.report, outcome.metrics, {
      title: `histoseek retrieval evaluation — ${isPostgresUrl(o.db) ? where : basename(where)}`,
      model: index.model.source,
      database: `${where} (${items} items)`,
      queries: collection
        ? `${collection.root} (${outcome.queries} images, layout ${o.layout})`
        : `the ${items} indexed items, leave-one-slide-out`,
      protocol: collection
        ? o.layout === 'kimia'
          ? KIMIA_PROTOCOL
          : "each query's prediction is the label of its nearest indexed item (top-1)"
        : "leave-one-slide-out: each indexed item queries the others, its own slide's items left out; prediction = label of the nearest",
      k: o.k,
    });
    return { ...outcome, paths };
  } finally {
    await index.close();
  }
}

export const evalCommand = defineCommand({
  usage: USAGE,
  options: {
    ...INDEX_MODEL_OPTIONS,
    ...SEARCH_MODE_OPTIONS,
    queries: { type: 'string' },
    ...COLLECTION_OPTIONS,
    'leave-one-out': { type: 'boolean', default: false },
    'slide-level': { type: 'boolean', default: false },
    ...K_OPTIONS,
    report: { type: 'string' },
    ...JSON_OPTIONS,
  },
  async run({ values }) {
    const db = requireDb(values, USAGE);
    const search = parseSearchSettings(values);
    if (values['slide-level'])
      return runSlideLevel(db, {
        search,
        ...parseModelOptions(values),
        threads: parseThreads(values.threads),
        json: values.json!,
      });
    const outcome = await runEval({
      db,
      queries: values.queries,
      labels: values.labels,
      leaveOneOut: values['leave-one-out']!,
      k: parseK(values),
      report: values.report ?? (isPostgresUrl(db) ? 'report' : join(dirname(resolve(db)), 'report')),
      ...parseRunOptions(values, BATCH),
      ...parseModelOptions(values),
      search,
      layout: parseLayout(values.layout),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(outcome.metrics)}\n`);
    else process.stdout.write(`${summary(outcome.metrics)}\nreport: ${outcome.paths.markdown}\n`);
    return 0;
  },
});

async function runSlideLevel(db: string, o: SearchableIndexOptions & { json: boolean }): Promise<number> {
  const index = await openSearchableIndex(db, { ...o, logger: STDERR_LOGGER });
  try {
    const progress = new Progress('slides', 0, 'slides');
    const result = await evaluateSlides(index, (done, total) => {
      progress.total = total;
      progress.advance(1);
      if (done === total) progress.finish();
    });
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else
      process.stdout.write(
        `${result.slides} slides, leave-one-slide-out: top-1 slide has the query's label ${(100 * result.top1_accuracy).toFixed(1)}%, majority vote ${(100 * result.majority_vote_accuracy).toFixed(1)}%\n`,
      );
    return 0;
  } finally {
    await index.close();
  }
}
