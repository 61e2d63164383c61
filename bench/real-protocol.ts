/**
 * bench:real's protocol: folds that hold out one group (a specimen, or a single tile) as the
 * queries and search every other group's tiles, scored with eval's own metrics (src/eval), and the
 * spread of each metric over the folds.
 */
import { scoreRetrieval } from '../src/eval/in-memory.js';
import { compareLabels, kimiaEta, type RetrievalMetrics } from '../src/eval/metrics.js';

/** The metrics bench:real reports, as eval names them: η_p, η_w, mMV@5, mAP@10, Recall@5. */
export const REAL_METRICS = ['eta_p', 'eta_w', 'mv_at_5', 'map_at_10', 'recall_at_5'] as const;
export type RealMetric = (typeof REAL_METRICS)[number];

/** Neighbours retrieved per query: mAP@10 needs ten. */
export const K = 10;

export interface Fold {
  /** The group held out. */
  held: string;
  /** Indices of the held-out group's tiles: the queries. */
  queries: number[];
  /** Indices of every other tile: what the queries search. */
  index: number[];
}

/** One fold per distinct group (natural order): its tiles are the queries, all others the index. */
export function groupFolds(groups: readonly string[]): Fold[] {
  const held = [...new Set(groups)].sort(compareLabels);
  return held.map((group) => ({
    held: group,
    queries: groups.flatMap((g, i) => (g === group ? [i] : [])),
    index: groups.flatMap((g, i) => (g === group ? [] : [i])),
  }));
}

/** The rows `picked` of `vectors` (dim values each), in that order. */
function rows(vectors: Float32Array, dim: number, picked: readonly number[]): Float32Array {
  const out = new Float32Array(picked.length * dim);
  picked.forEach((row, i) => out.set(vectors.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}

export interface FoldResult {
  held: string;
  metrics: RetrievalMetrics;
  /** Queries whose class has no tile in the fold's index: no method can answer them. */
  unanswerable: number;
}

/** Each fold's metrics: its queries searched (exactly, by inner product) against its index. `vectors` are L2-normalised rows. */
export async function scoreFolds(
  vectors: Float32Array,
  dim: number,
  labels: readonly string[],
  folds: readonly Fold[],
  threads = 2,
): Promise<FoldResult[]> {
  const results: FoldResult[] = [];
  for (const fold of folds) {
    const indexLabels = fold.index.map((i) => labels[i]);
    const queryLabels = fold.queries.map((i) => labels[i]);
    const metrics = await scoreRetrieval(
      dim,
      rows(vectors, dim, fold.index),
      indexLabels,
      rows(vectors, dim, fold.queries),
      queryLabels,
      K,
      threads,
    );
    const unanswerable = queryLabels.filter((label) => !indexLabels.includes(label)).length;
    results.push({ held: fold.held, metrics, unanswerable });
  }
  return results;
}

export interface Spread {
  mean: number;
  /** Sample standard deviation over the folds (n − 1); 0 for a single fold. */
  sd: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of no folds');
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const squares = values.reduce((s, v) => s + (v - mean) ** 2, 0);
  return {
    mean,
    sd: values.length > 1 ? Math.sqrt(squares / (values.length - 1)) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/**
 * The metrics over all queries at once (each tile is queried in exactly one fold): η_p, mMV@5,
 * mAP@10 and Recall@5 are means over queries, so the query-weighted mean of the folds'; η_w is
 * the mean per-class recall of the summed confusion. With one query per fold, the folds' own η_w
 * is that query's hit, so only this pooled η_w is averaged over classes.
 */
export function pooled(folds: readonly FoldResult[]): Record<RealMetric, number> {
  const n = folds.reduce((s, f) => s + f.metrics.n_queries, 0);
  const weighted = (metric: RealMetric) => folds.reduce((s, f) => s + f.metrics[metric] * f.metrics.n_queries, 0) / n;
  const truth: string[] = [];
  const predicted: string[] = [];
  for (const { metrics } of folds) {
    metrics.confusion.forEach((row, t) =>
      row.forEach((count, p) => {
        for (let c = 0; c < count; c++) {
          truth.push(metrics.labels[t]);
          predicted.push(metrics.labels[p]);
        }
      }),
    );
  }
  return {
    eta_p: weighted('eta_p'),
    eta_w: kimiaEta(predicted, truth).eta_w,
    mv_at_5: weighted('mv_at_5'),
    map_at_10: weighted('map_at_10'),
    recall_at_5: weighted('recall_at_5'),
  };
}

export interface Summary {
  folds: number;
  queries: number;
  unanswerable: number;
  /** Each metric's mean and spread over the folds. */
  over_folds: Record<RealMetric, Spread>;
  pooled: Record<RealMetric, number>;
}

export function summarise(folds: readonly FoldResult[]): Summary {
  return {
    folds: folds.length,
    queries: folds.reduce((s, f) => s + f.metrics.n_queries, 0),
    unanswerable: folds.reduce((s, f) => s + f.unanswerable, 0),
    over_folds: Object.fromEntries(
      REAL_METRICS.map((metric) => [metric, spread(folds.map((f) => f.metrics[metric]))]),
    ) as Record<RealMetric, Spread>,
    pooled: pooled(folds),
  };
}
