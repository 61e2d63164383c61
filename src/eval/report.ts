/**
 * Evaluation reports: the metrics as JSON (fractions in [0, 1]), a Markdown summary (percentages)
 * and the confusion-matrix PNG, written side by side in one folder.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { renderConfusionPng } from './confusion-png.js';
import type { EvalContext, RetrievalMetrics } from './metrics.js';

/** The official protocol (docs/model.md#retrieval-metrics), worded for reports. */
export const KIMIA_PROTOCOL =
  "official Kimia Path24C protocol: each test patch's prediction is the scan of its nearest training patch (top-1)";

/** Why the paper's figures must not sit next to ours (docs/model.md#retrieval-metrics). */
const PAPER_NOTE =
  "The LGFFEM paper's headline Kimia Path24C figures (99.40 / 99.47 / 98.87) came from a different, flawed " +
  'procedure: its notebook searches the test set against itself, one query per scan, with a growing cut-off. ' +
  'They are not comparable with the figures in this report.';

const FILES = { json: 'metrics.json', markdown: 'report.md', png: 'confusion.png' } as const;

const percent = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`;

/** Table cells must not break the row: escape pipes, flatten line breaks. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

export function formatMetricsMarkdown(metrics: RetrievalMetrics, context: EvalContext): string {
  const headline: [string, string][] = [
    ['η_p (top-1 accuracy)', percent(metrics.eta_p)],
    ['η_w (mean per-class recall, paper eq.)', percent(metrics.eta_w)],
    ['η_tot = η_p · η_w', percent(metrics.eta_tot)],
    ["η_w' (mean per-class precision, CalculateError.py)", percent(metrics.eta_w_precision)],
    ['Recall@1', percent(metrics.recall_at_1)],
    ['Recall@5', percent(metrics.recall_at_5)],
    ['Recall@10', percent(metrics.recall_at_10)],
    ['mAP@10', percent(metrics.map_at_10)],
    ['Majority vote@5', percent(metrics.mv_at_5)],
  ];
  const queried = new Set(metrics.per_class.map((c) => c.label));
  const predictedOnly = metrics.labels
    .map((label, i) => ({ label, times: metrics.confusion.reduce((sum, row) => sum + row[i], 0) }))
    .filter(({ label, times }) => !queried.has(label) && times > 0);

  const lines = [
    `# ${context.title}`,
    '',
    `- Model: ${context.model}`,
    `- Searched (database): ${context.database}`,
    `- Queries: ${context.queries} — ${metrics.n_queries} in all`,
    `- Neighbours retrieved per query: k = ${context.k}`,
    '',
    '## Protocol',
    '',
    `Protocol used: ${context.protocol.replace(/\.$/, '')}.`,
    '',
    PAPER_NOTE,
    '',
    '## Results',
    '',
    '| Metric | Value |',
    '| --- | ---: |',
    ...headline.map(([name, value]) => `| ${name} | ${value} |`),
    '',
    'Recall@k: queries with at least one neighbour of their own label among the top k. ' +
      'mAP@10: AP@10 normalised by min(10, items of the label in the database). ' +
      'Majority vote@5: the most frequent label among the top 5 (ties to the best-ranked) is right.',
    '',
    '## Per class',
    '',
    '| Class | Queries | Recall | Precision |',
    '| --- | ---: | ---: | ---: |',
    ...metrics.per_class.map(
      (c) =>
        `| ${cell(c.label)} | ${c.queries} | ${percent(c.recall)} | ${c.precision === null ? 'never predicted' : percent(c.precision)} |`,
    ),
  ];
  if (predictedOnly.length > 0) {
    lines.push(
      '',
      "Predicted but with no queries (precision 0, counted in η_w'): " +
        predictedOnly.map(({ label, times }) => `${label} (${times}×)`).join(', ') +
        '.',
    );
  }
  lines.push(
    '',
    '## Confusion matrix',
    '',
    `Rows: true label; columns: predicted (top-1). Counts are in ${FILES.json} (\`confusion\`, in \`labels\` order).`,
    '',
    `![Confusion matrix](${FILES.png})`,
    '',
  );
  return lines.join('\n');
}

/** Writes metrics.json, report.md and confusion.png into dir (created if missing); returns their paths. */
export async function writeEvalReport(
  dir: string,
  metrics: RetrievalMetrics,
  context: EvalContext,
): Promise<{ json: string; markdown: string; png: string }> {
  // Render everything first, so a failure leaves the folder as it was.
  const png = await renderConfusionPng(
    metrics.labels,
    metrics.confusion,
    `${context.title} — confusion matrix (top-1)`,
  );
  const json = `${JSON.stringify({ context, ...metrics }, null, 2)}\n`;
  const markdown = formatMetricsMarkdown(metrics, context);

  await mkdir(dir, { recursive: true });
  const paths = { json: join(dir, FILES.json), markdown: join(dir, FILES.markdown), png: join(dir, FILES.png) };
  await writeFileAtomic(paths.json, json);
  await writeFileAtomic(paths.markdown, markdown);
  await writeFileAtomic(paths.png, png);
  return paths;
}
