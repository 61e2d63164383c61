/**
 * Retrieval metrics (docs/model.md#retrieval-metrics). Under the official Kimia Path24C protocol each test query is
 * searched against the *training* index; its prediction is the label of its top-1 neighbour.
 * Every figure is a fraction in [0, 1].
 */

/** What an evaluation measured: written next to its metrics in a report. */
export interface EvalContext {
  title: string;
  model: string;
  /** What was searched (the index), e.g. "Kimia Path24C training patches (22,591)". */
  database: string;
  /** What was queried, e.g. "Kimia Path24C test patches (1,325)". */
  queries: string;
  /** How predictions were made; see KIMIA_PROTOCOL (report.ts). */
  protocol: string;
  /** Neighbours retrieved per query. */
  k: number;
}

/** One query: its label and the labels of its ranked neighbours, best first. */
export interface QueryResult {
  trueLabel: string;
  neighbours: string[];
}

export interface PerClassMetrics {
  label: string;
  /** Queries whose true label this is (always ≥ 1: classes without queries have no recall). */
  queries: number;
  recall: number;
  /** Null when the class was never predicted. */
  precision: number | null;
}

export interface KimiaEta {
  /** Top-1 accuracy: correct / queries. */
  eta_p: number;
  /** Mean per-class recall over classes with ≥ 1 query: the paper's equation. */
  eta_w: number;
  /** Mean per-class precision over classes predicted ≥ 1 time: what Kimia's CalculateError.py computes. */
  eta_w_precision: number;
  /** eta_p · eta_w. */
  eta_tot: number;
}

export interface RetrievalMetrics extends KimiaEta {
  n_queries: number;
  /** Queries with a neighbour of their own label among the top k (hit@k). */
  recall_at_1: number;
  recall_at_5: number;
  recall_at_10: number;
  /** Mean average precision at 10; see averagePrecisionAt for the normaliser. */
  map_at_10: number;
  /** Queries whose majority label among the top 5 is right. */
  mv_at_5: number;
  /** Every true or top-1-predicted label, sorted naturally (s2 before s10). */
  labels: string[];
  /** confusion[t][p]: queries of labels[t] whose top-1 neighbour is labels[p]. */
  confusion: number[][];
  /** Classes with ≥ 1 query, in label order; eta_w is the mean of their recall. */
  per_class: PerClassMetrics[];
}

const collator = new Intl.Collator('en', { numeric: true });

/** Natural order (s2 before s10); distinct labels the collator deems equal fall back to code-unit order. */
export function compareLabels(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

interface Confusion {
  labels: string[];
  counts: number[][];
}

function confusionOf(truth: readonly string[], pred: readonly string[]): Confusion {
  const labels = [...new Set([...truth, ...pred])].sort(compareLabels);
  const index = new Map(labels.map((label, i) => [label, i]));
  const counts = labels.map(() => new Array<number>(labels.length).fill(0));
  truth.forEach((label, q) => counts[index.get(label)!][index.get(pred[q])!]++);
  return { labels, counts };
}

interface ClassCounts {
  queries: number;
  predicted: number;
  correct: number;
}

function classCounts(counts: number[][]): ClassCounts[] {
  return counts.map((row, i) => ({
    queries: row.reduce((sum, c) => sum + c, 0),
    predicted: counts.reduce((sum, r) => sum + r[i], 0),
    correct: row[i],
  }));
}

const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

function etaOf(classes: ClassCounts[]): KimiaEta {
  const queries = classes.reduce((sum, c) => sum + c.queries, 0);
  const eta_p = classes.reduce((sum, c) => sum + c.correct, 0) / queries;
  const eta_w = mean(classes.filter((c) => c.queries > 0).map((c) => c.correct / c.queries));
  const eta_w_precision = mean(classes.filter((c) => c.predicted > 0).map((c) => c.correct / c.predicted));
  return { eta_p, eta_w, eta_w_precision, eta_tot: eta_p * eta_w };
}

/** The η figures from top-1 predictions and true labels (numbers are compared as labels). */
export function kimiaEta(pred: readonly string[], truth: readonly string[]): KimiaEta;
export function kimiaEta(pred: readonly number[], truth: readonly number[]): KimiaEta;
export function kimiaEta(pred: readonly (string | number)[], truth: readonly (string | number)[]): KimiaEta {
  if (pred.length !== truth.length) {
    throw new RangeError(`kimiaEta: ${pred.length} predictions for ${truth.length} true labels`);
  }
  if (pred.length === 0) throw new RangeError('kimiaEta: no queries');
  return etaOf(classCounts(confusionOf(truth.map(String), pred.map(String)).counts));
}

/** Whether the top k hold the label. A list shorter than k is taken as is: missing ranks are misses. */
const hitAt = (ranked: readonly string[], label: string, k: number): boolean => ranked.slice(0, k).includes(label);

/**
 * AP@k = (1 / min(k, R)) · Σ_{i ≤ k} P@i · rel_i, where R is the number of items of the query's
 * label in the index. Dividing by min(k, R), not by the hits found, keeps AP honest: one hit at
 * rank 1 followed by misses scores 1 / min(k, R), not 1; AP is 1 exactly when the first
 * min(k, R) ranks are all relevant. R = 0 (nothing to find) gives 0.
 */
function averagePrecisionAt(ranked: readonly string[], label: string, relevant: number, k: number): number {
  if (relevant === 0) return 0;
  let hits = 0;
  let sum = 0;
  ranked.slice(0, k).forEach((l, i) => {
    if (l === label) sum += ++hits / (i + 1);
  });
  return sum / Math.min(k, relevant);
}

/** The most frequent label among the top k; a tie goes to the tied label ranked first. */
function majorityAt(ranked: readonly string[], k: number): string {
  const top = ranked.slice(0, k);
  const votes = new Map<string, number>();
  for (const label of top) votes.set(label, (votes.get(label) ?? 0) + 1);
  // Walking in rank order and switching only on strictly more votes keeps the first-ranked of the tied.
  let best = top[0];
  for (const label of top) if (votes.get(label)! > votes.get(best)!) best = label;
  return best;
}

/**
 * Every metric for a set of queries. relevantCounts holds how many items of each label the
 * searched index contains (the AP normaliser); a label it lacks counts as 0.
 */
export function evaluateRetrieval(
  results: readonly QueryResult[],
  relevantCounts: ReadonlyMap<string, number>,
): RetrievalMetrics {
  if (results.length === 0) throw new RangeError('evaluateRetrieval: no queries');
  let hits1 = 0;
  let hits5 = 0;
  let hits10 = 0;
  let apSum = 0;
  let votesRight = 0;
  results.forEach(({ trueLabel, neighbours }, q) => {
    if (neighbours.length === 0) throw new RangeError(`query ${q} (${trueLabel}): no neighbours, so no prediction`);
    const relevant = relevantCounts.get(trueLabel) ?? 0;
    const found = neighbours.filter((label) => label === trueLabel).length;
    // More hits than the index holds means the counts are wrong, and AP would exceed 1.
    if (found > relevant) {
      throw new RangeError(`query ${q}: ${found} neighbours labelled ${trueLabel}, but the index holds ${relevant}`);
    }
    hits1 += Number(hitAt(neighbours, trueLabel, 1));
    hits5 += Number(hitAt(neighbours, trueLabel, 5));
    hits10 += Number(hitAt(neighbours, trueLabel, 10));
    apSum += averagePrecisionAt(neighbours, trueLabel, relevant, 10);
    votesRight += Number(majorityAt(neighbours, 5) === trueLabel);
  });

  const n = results.length;
  const { labels, counts } = confusionOf(
    results.map((r) => r.trueLabel),
    results.map((r) => r.neighbours[0]),
  );
  const classes = classCounts(counts);
  return {
    n_queries: n,
    ...etaOf(classes),
    recall_at_1: hits1 / n,
    recall_at_5: hits5 / n,
    recall_at_10: hits10 / n,
    map_at_10: apSum / n,
    mv_at_5: votesRight / n,
    labels,
    confusion: counts,
    per_class: labels.flatMap((label, i) => {
      const { queries, predicted, correct } = classes[i];
      return queries === 0
        ? []
        : [{ label, queries, recall: correct / queries, precision: predicted === 0 ? null : correct / predicted }];
    }),
  };
}
