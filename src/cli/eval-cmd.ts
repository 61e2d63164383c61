/** `histoseek eval`: retrieval figures of an index, under the official Kimia Path24C protocol or leave-one-slide-out. */
import { basename, dirname, join, resolve } from 'node:path';
import { isLayout, LAYOUTS } from '../data/collections/collection.js';
import { readCollection } from '../data/collections/read.js';
import type { RetrievalMetrics } from '../eval/metrics.js';
import { KIMIA_PROTOCOL, writeEvalReport } from '../eval/report.js';
import { evaluateLeaveOneOut, evaluateQueries, type EvalOutcome } from '../eval/run.js';
import { isPostgresUrl } from '../index/open-store.js';
import type { SearchSettings } from '../index/searcher.js';
import { DB_USAGE, MODEL_OPTIONS, optionalPositiveInt, parse, positiveInt, RUN_OPTIONS } from './args.js';
import type { Command } from './command.js';
import { parseSearchSettings, SEARCH_MODE_OPTIONS, SEARCH_MODE_USAGE } from './search-options.js';
import { openSearchableIndex } from '../api/searchable-index.js';
import { evaluateSlides } from '../eval/slide-level.js';
import { MODEL_USAGE } from './model-options.js';
import { Progress } from '../util/progress.js';

const USAGE = `histoseek eval --db DB --queries DIR [options]
histoseek eval --db DB --leave-one-out [options]
histoseek eval --db DB --slide-level [options]

Searches every query against the index and reports η_p, η_w (per-class recall, the paper's
equation), η_w' (per-class precision, Kimia's CalculateError.py), η_tot = η_p·η_w, Recall@1/5/10,
mAP@10, majority vote@5 and the confusion matrix. With a Kimia index of the training patches and
the test patches as queries, this is the official Kimia Path24C protocol.

${DB_USAGE}${SEARCH_MODE_USAGE}  --queries DIR        the query collection (Kimia: its test tree, or the folder holding train/ and test/)
  --layout L           ${LAYOUTS.join(' | ')} (default: folder)
  --labels CSV         kimia, slides: label each query by its slide's row of a slide,label CSV (as 'index --labels')
  --leave-one-out      query with the indexed items themselves, leaving out each query's own slide
  --slide-level        whole-slide search, leave-one-slide-out: each indexed slide's mosaic against the
                       other slides; reports how often the top slide (and the majority vote) has its label
                       (for labels that are tissue classes, build the index with the tissue-class model)
  -k N                 neighbours per query (default 10)
  --report DIR         where metrics.json, report.md and confusion.png go (default: 'report' beside DB; for a
                       PostgreSQL store, ./report)
  --json               print the metrics as JSON on stdout
${MODEL_USAGE}  --batch N            images per batch (default 16)
  --threads N          inference threads (default 2)
`;

export function summary(m: RetrievalMetrics): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [
    `η_p ${pct(m.eta_p)}   η_w ${pct(m.eta_w)}   η_tot ${pct(m.eta_tot)}   η_w' ${pct(m.eta_w_precision)}`,
    `Recall@1 ${pct(m.recall_at_1)}   Recall@5 ${pct(m.recall_at_5)}   Recall@10 ${pct(m.recall_at_10)}   mAP@10 ${pct(m.map_at_10)}   MV@5 ${pct(m.mv_at_5)}`,
  ].join('\n');
}

export interface EvalRequest {
  db: string;
  queries?: string;
  layout: string;
  /** A slide,label CSV labelling the queries by their slide. */
  labels?: string;
  leaveOneOut: boolean;
  k: number;
  report: string;
  batch: number;
  threads: number;
  weights?: string;
  backbone?: string;
  size?: number;
  search?: SearchSettings;
}

/** Runs an evaluation and writes its report; returns the metrics and the report's paths. */
export async function runEval(o: EvalRequest): Promise<EvalOutcome & { paths: { json: string; markdown: string; png: string } }> {
  if (!isLayout(o.layout)) throw new Error(`--layout must be one of ${LAYOUTS.join(', ')}, got '${o.layout}'`);
  if (!o.leaveOneOut && !o.queries) throw new Error(`give --queries DIR or --leave-one-out\n\n${USAGE}`);
  const collection = o.queries ? await readCollection(o.queries, o.layout, 'queries', { labels: o.labels }) : null;
  const index = await openSearchableIndex(o.db, o);
  try {
    let outcome: EvalOutcome;
    if (collection) {
      const progress = new Progress('queries', collection.items.length, 'images');
      outcome = await evaluateQueries(index.store, index.searcher, index.embedder, collection.items, o.k, o.batch, (n) => progress.advance(n));
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
      queries: collection ? `${collection.root} (${outcome.queries} images, layout ${o.layout})` : `the ${items} indexed items, leave-one-slide-out`,
      protocol: collection
        ? o.layout === 'kimia' ? KIMIA_PROTOCOL : "each query's prediction is the label of its nearest indexed item (top-1)"
        : "leave-one-slide-out: each indexed item queries the others, its own slide's items left out; prediction = label of the nearest",
      k: o.k,
    });
    return { ...outcome, paths };
  } finally {
    await index.close();
  }
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'measure retrieval: η figures, Recall@k, mAP@10, majority vote, confusion matrix',
  usage: USAGE,
  async run(args) {
    const { values } = parse(args, {
      ...MODEL_OPTIONS,
      ...RUN_OPTIONS,
      db: { type: 'string' },
      ...SEARCH_MODE_OPTIONS,
      queries: { type: 'string' },
      layout: { type: 'string', default: 'folder' },
      labels: { type: 'string' },
      'leave-one-out': { type: 'boolean', default: false },
      'slide-level': { type: 'boolean', default: false },
      k: { type: 'string', short: 'k' },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
    }, USAGE);
    if (!values.db) throw new Error(`--db is required\n\n${USAGE}`);
    const search = parseSearchSettings(values);
    if (values['slide-level']) return runSlideLevel(values.db, { ...values, search, size: optionalPositiveInt(values.size, '--size'), threads: positiveInt(values.threads, 2, '--threads'), json: values.json! });
    const outcome = await runEval({
      db: values.db,
      queries: values.queries,
      layout: values.layout!,
      labels: values.labels,
      leaveOneOut: values['leave-one-out']!,
      k: positiveInt(values.k, 10, '-k'),
      report: values.report ?? (isPostgresUrl(values.db) ? 'report' : join(dirname(resolve(values.db)), 'report')),
      batch: positiveInt(values.batch, 16, '--batch'),
      threads: positiveInt(values.threads, 2, '--threads'),
      weights: values.weights,
      backbone: values.backbone,
      size: optionalPositiveInt(values.size, '--size'),
      search,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(outcome.metrics)}\n`);
    else process.stdout.write(`${summary(outcome.metrics)}\nreport: ${outcome.paths.markdown}\n`);
    return 0;
  },
};

async function runSlideLevel(db: string, o: { threads: number; json: boolean; weights?: string; backbone?: string; size?: number; search: SearchSettings }): Promise<number> {
  const index = await openSearchableIndex(db, o);
  try {
    const progress = new Progress('slides', 0, 'slides');
    const result = await evaluateSlides(index, (done, total) => {
      progress.total = total;
      progress.advance(1);
      if (done === total) progress.finish();
    });
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${result.slides} slides, leave-one-slide-out: top-1 slide has the query's label ${(100 * result.top1_accuracy).toFixed(1)}%, majority vote ${(100 * result.majority_vote_accuracy).toFixed(1)}%\n`);
    return 0;
  } finally {
    await index.close();
  }
}
