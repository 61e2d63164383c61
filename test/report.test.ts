import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { confusionLayout, renderConfusionPng } from '../src/eval/confusion-png.js';
import { evaluateRetrieval, type EvalContext, type RetrievalMetrics } from '../src/eval/metrics.js';
import { KIMIA_PROTOCOL, formatMetricsMarkdown, writeEvalReport } from '../src/eval/report.js';
import { FRACTION_METRICS, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 120_000;

let dir = '';
before(async () => {
  dir = await temporaryFolder('histoseek-report-');
});

const context: EvalContext = {
  title: 'LGFFEM on Kimia Path24C',
  model: 'lgffem-atto (strategy C)',
  database: 'Kimia Path24C training patches',
  queries: 'Kimia Path24C test patches',
  protocol: KIMIA_PROTOCOL,
  k: 10,
};

/*
 * Top-1 only (ranks 2–10 are s99, which matches nothing). s1: 4 queries, 3 right, 1 → s2.
 * s2: 2 queries, both right. s10: 2 queries → s1 and s3; never predicted. s3: no queries, predicted once.
 */
function sampleMetrics(): RetrievalMetrics {
  const q = (trueLabel: string, top: string) => ({ trueLabel, neighbours: [top, ...new Array<string>(9).fill('s99')] });
  return evaluateRetrieval(
    [
      q('s1', 's1'),
      q('s1', 's1'),
      q('s1', 's1'),
      q('s1', 's2'),
      q('s2', 's2'),
      q('s2', 's2'),
      q('s10', 's1'),
      q('s10', 's3'),
    ],
    new Map([
      ['s1', 50],
      ['s2', 50],
      ['s10', 50],
      ['s3', 50],
    ]),
  );
}

describe('formatMetricsMarkdown', { timeout: TIMEOUT }, () => {
  const metrics = sampleMetrics();
  const md = formatMetricsMarkdown(metrics, context);

  test('headline figures as percentages with 2 decimals', () => {
    // Correct 5/8. Recall s1 3/4, s2 1, s10 0 → η_w 7/12. Precision s1 3/4, s2 2/3, s3 0 → η_w' 17/36.
    assert.match(md, /\| η_p \(top-1 accuracy\) \| 62\.50% \|/);
    assert.match(md, /\| η_w \(mean per-class recall, paper eq\.\) \| 58\.33% \|/);
    assert.match(md, /\| η_tot = η_p · η_w \| 36\.46% \|/);
    assert.match(md, /\| η_w' \(mean per-class precision, CalculateError\.py\) \| 47\.22% \|/);
    assert.match(md, /\| Recall@1 \| 62\.50% \|/);
    assert.match(md, /\| Recall@10 \| 62\.50% \|/);
    // AP@10 of a query right at rank 1 with 50 relevant: 1/min(10, 50); 5 such queries of 8.
    assert.match(md, /\| mAP@10 \| 6\.25% \|/);
    assert.match(md, /\| Majority vote@5 \| 0\.00% \|/);
  });

  test('per-class table in natural order, with the never-predicted class and predicted-only labels', () => {
    const rows = md.split('\n').filter((l) => /^\| s\d+ \|/.test(l));
    assert.deepEqual(rows, [
      '| s1 | 4 | 75.00% | 75.00% |',
      '| s2 | 2 | 100.00% | 66.67% |',
      '| s10 | 2 | 0.00% | never predicted |',
    ]);
    assert.match(md, /Predicted but with no queries \(precision 0, counted in η_w'\): s3 \(1×\)\./);
  });

  test('states the protocol and that the paper figures are not comparable', () => {
    assert.ok(md.includes(`Protocol used: ${KIMIA_PROTOCOL}.`));
    assert.match(md, /nearest training patch/);
    assert.match(md, /searches the test set against itself/);
    assert.match(md, /not comparable/);
    assert.match(md, /Queries: Kimia Path24C test patches — 8 in all/);
    assert.match(md, /!\[Confusion matrix\]\(confusion\.png\)/);
  });

  test('a pipe in a label does not break the table', () => {
    const m = evaluateRetrieval([{ trueLabel: 'a|b', neighbours: ['a|b'] }], new Map([['a|b', 1]]));
    assert.match(formatMetricsMarkdown(m, context), /^\| a\\\|b \| 1 \| 100\.00% \| 100\.00% \|$/m);
  });
});

/** RGB at a pixel; luminance-like brightness for comparing cells. */
async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return (x: number, y: number) => {
    const i = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[i], data[i + 1], data[i + 2]] as const;
  };
}
const brightness = ([r, g, b]: readonly number[]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

describe('confusion matrix PNG', { timeout: TIMEOUT }, () => {
  test('decodes at the laid-out size; a full diagonal cell is dark, a zero cell near-white', async () => {
    const labels = ['s0', 's1', 's2'];
    const confusion = [
      [7, 0, 0],
      [1, 5, 2],
      [0, 0, 3],
    ];
    const png = await renderConfusionPng(labels, confusion, 'test');
    const meta = await sharp(png).metadata();
    const layout = confusionLayout(labels, 'test');
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, layout.width);
    assert.equal(meta.height, layout.height);
    assert.ok(layout.width >= 300 && layout.width <= 1200, `width ${layout.width}`);
    assert.ok(layout.height >= 300 && layout.height <= 1200, `height ${layout.height}`);

    // Sample inside each cell but off its centre, clear of the count's glyphs and the grid lines.
    const at = await pixels(png);
    const cellColour = (row: number, col: number) => {
      const { x, y } = layout.cellCenter(row, col);
      return at(x - layout.cellSize * 0.35, y - layout.cellSize * 0.35);
    };
    const diagonal = cellColour(0, 0); // 7/7 of its row: the darkest colour
    const zero = cellColour(0, 1);
    const partial = cellColour(1, 1); // 5/8 of its row
    assert.ok(brightness(diagonal) < brightness(partial), `diagonal ${diagonal} vs partial ${partial}`);
    assert.ok(brightness(partial) < brightness(zero), `partial ${partial} vs zero ${zero}`);
    assert.deepEqual(diagonal, [8, 48, 107]);
    // Row-normalised: 3 of 3 is as dark as 7 of 7.
    assert.deepEqual(cellColour(2, 2), [8, 48, 107]);
    assert.deepEqual(zero, [247, 251, 255]);
    // Counts switch colour for contrast: white text shows up on the dark diagonal cell.
    const { x, y } = layout.cellCenter(0, 0);
    let light = 0;
    for (let dx = -6; dx <= 6; dx++)
      for (let dy = -8; dy <= 8; dy++) light += Number(brightness(at(x + dx, y + dy)) > 200);
    assert.ok(light > 5, 'white count on the dark cell');
  });

  test('30 classes stay readable and bounded; labels are escaped', async () => {
    const labels = Array.from({ length: 30 }, (_, i) => `s${i}`);
    const layout = confusionLayout(labels, 'thirty');
    assert.ok(layout.cellSize >= 36, `cell ${layout.cellSize}px`);
    assert.ok(layout.width <= 2000 && layout.height <= 2000, `${layout.width}×${layout.height}`);
    const png = await renderConfusionPng(
      ['<b>&', "o'k"],
      [
        [1, 0],
        [0, 1],
      ],
      'a < b & "c"',
    );
    assert.equal((await sharp(png).metadata()).format, 'png');
  });

  test('rejects a matrix that does not match the labels', async () => {
    await assert.rejects(renderConfusionPng(['a', 'b'], [[1, 0]], 't'), /2×2/);
    await assert.rejects(renderConfusionPng(['a'], [[-1]], 't'), /non-negative integers/);
  });
});

describe('writeEvalReport', { timeout: TIMEOUT }, () => {
  test('writes JSON with every metric and the context, Markdown and PNG, atomically', async () => {
    const metrics = sampleMetrics();
    const out = join(dir, 'nested', 'report');
    const first = await writeEvalReport(out, metrics, context);
    const paths = await writeEvalReport(out, metrics, context); // overwriting works too
    assert.deepEqual(paths, first);
    assert.deepEqual(paths, {
      json: join(out, 'metrics.json'),
      markdown: join(out, 'report.md'),
      png: join(out, 'confusion.png'),
    });
    assert.deepEqual((await readdir(out)).sort(), ['confusion.png', 'metrics.json', 'report.md'], 'no temp files left');

    const json = JSON.parse(await readFile(paths.json, 'utf8'));
    assert.deepEqual(json.context, context);
    for (const [key, value] of Object.entries(metrics)) assert.deepEqual(json[key], value, key);
    for (const key of FRACTION_METRICS) {
      assert.ok(json[key] >= 0 && json[key] <= 1, `${key} is a fraction`);
    }
    assert.equal(await readFile(paths.markdown, 'utf8'), formatMetricsMarkdown(metrics, context));
    const meta = await sharp(paths.png).metadata();
    const layout = confusionLayout(metrics.labels, `${context.title} — confusion matrix (top-1)`);
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', layout.width, layout.height]);
  });
});
