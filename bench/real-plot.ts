/** bench:real's figure: one panel per tile set, grouped bars per metric (one bar per method) with the spread over folds as whiskers. */
import {
  headingBottom,
  PAD,
  svgDocument,
  svgHeading,
  svgText,
  svgToPng,
  textWidth,
  type Heading,
} from '../src/util/figure.js';
import { REAL_METRICS, type RealMetric, type Spread } from './real-protocol.js';

export interface ChartRow {
  /** The panel's title: the tile set and its protocol. */
  panel: string;
  method: string;
  over_folds: Record<RealMetric, Spread>;
  /** Over all queries at once: drawn as a diamond on the bar. */
  pooled: Record<RealMetric, number>;
}

const METRIC_LABELS: Record<RealMetric, string> = {
  eta_p: 'η_p',
  eta_w: 'η_w',
  mv_at_5: 'mMV@5',
  map_at_10: 'mAP@10',
  recall_at_5: 'Recall@5',
};

const WIDTH = 980;
const PANEL_H = 300;
const PLOT = { left: 56, right: 20, top: 34, bottom: 36 };
const LEGEND_ROW = 22;
const COLOURS = ['#969696', '#e6550d', '#756bb1', '#08519c', '#31a354', '#de2d26'];
const TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1];

/** The pooled figure's marker, centred on (x, y). */
const diamond = (x: number, y: number): string =>
  `<path d="M${x.toFixed(1)} ${(y - 5).toFixed(1)} l5 5 l-5 5 l-5 -5 z" fill="#ffffff" stroke="#111" stroke-width="1.2"/>`;

function panel(title: string, rows: ChartRow[], methods: string[], top: number): string[] {
  const x0 = PLOT.left;
  const plotW = WIDTH - PLOT.left - PLOT.right;
  const plotH = PANEL_H - PLOT.top - PLOT.bottom;
  const y = (v: number) => top + PLOT.top + (1 - v) * plotH;
  const groupW = plotW / REAL_METRICS.length;
  const barW = (groupW * 0.8) / methods.length;
  const out = [svgText(x0, top + 18, title, { size: 14, attributes: 'font-weight="bold"' })];
  for (const t of TICKS) {
    out.push(
      `<line x1="${x0}" x2="${x0 + plotW}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      svgText(x0 - 6, y(t) + 4, t.toFixed(1), { size: 11, attributes: 'text-anchor="end"' }),
    );
  }
  REAL_METRICS.forEach((metric, g) => {
    const gx = x0 + g * groupW + groupW * 0.1;
    out.push(
      svgText(x0 + (g + 0.5) * groupW, top + PANEL_H - PLOT.bottom + 18, METRIC_LABELS[metric], {
        size: 12,
        attributes: 'text-anchor="middle"',
      }),
    );
    methods.forEach((method, m) => {
      const row = rows.find((r) => r.method === method);
      if (!row) return;
      const { mean, sd } = row.over_folds[metric];
      const pooledY = y(row.pooled[metric]);
      const bx = gx + m * barW;
      const cx = (bx + barW / 2).toFixed(1);
      const [lo, hi] = [y(Math.max(0, mean - sd)), y(Math.min(1, mean + sd))];
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${y(mean).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - y(mean)).toFixed(1)}" fill="${COLOURS[m % COLOURS.length]}"/>`,
        `<line x1="${cx}" x2="${cx}" y1="${lo.toFixed(1)}" y2="${hi.toFixed(1)}" stroke="#111" stroke-width="1.2"/>`,
        ...[lo, hi].map(
          (yy) =>
            `<line x1="${(bx + barW / 2 - 4).toFixed(1)}" x2="${(bx + barW / 2 + 4).toFixed(1)}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#111" stroke-width="1.2"/>`,
        ),
        diamond(bx + barW / 2, pooledY),
      );
    });
  });
  out.push(`<rect x="${x0}" y="${top + PLOT.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#111"/>`);
  return out;
}

/** The PNG: a legend of methods (in first-seen order, one colour each throughout), then one panel per distinct `panel`. */
export async function renderRealChart(
  rows: ChartRow[],
  heading: Omit<Heading, 'subtitleSize' | 'gap'>,
): Promise<Buffer> {
  const h: Heading = { ...heading, subtitleSize: 12, gap: 6 };
  const methods = [...new Set(rows.map((r) => r.method))];
  const panels = [...new Set(rows.map((r) => r.panel))];
  const legendTop = headingBottom(h) + 14;
  let legendX = PAD;
  const legend = methods.map((method, m) => {
    const item = `<rect x="${legendX}" y="${legendTop}" width="14" height="14" fill="${COLOURS[m % COLOURS.length]}"/>${svgText(legendX + 20, legendTop + 12, method, { size: 12 })}`;
    legendX += 20 + textWidth(method, 12) + 24;
    return item;
  });
  legend.push(
    diamond(legendX + 7, legendTop + 2),
    svgText(legendX + 20, legendTop + 12, 'every query once (pooled)', { size: 12 }),
  );
  const panelsTop = legendTop + LEGEND_ROW + 6;
  const body = [
    ...svgHeading(h),
    ...legend,
    ...panels.flatMap((title, p) =>
      panel(
        title,
        rows.filter((r) => r.panel === title),
        methods,
        panelsTop + p * PANEL_H,
      ),
    ),
  ];
  return svgToPng(svgDocument(WIDTH, panelsTop + panels.length * PANEL_H + PAD, body));
}
