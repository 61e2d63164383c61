/**
 * bench:scale's figures, panels of lines sharing one legend: the growth figure (p50 latency and
 * serving RSS against N, log–log) and the recall figure (p50 latency and batch throughput against
 * recall@10, as ann-benchmarks draws them), one line per (engine, method).
 */
import { escapeXml, svgDocument, svgToPng } from '../src/util/figure.js';

export interface SeriesPoint {
  x: number;
  value: number;
  /** Drawn hollow and dashed: a figure extrapolated, not measured. */
  extrapolated?: boolean;
}

export interface Series {
  name: string;
  points: SeriesPoint[];
}

export interface Panel {
  title: string;
  xLabel: string;
  /** Whether the x axis is logarithmic (the y axis always is). */
  xLog: boolean;
  yLabel: string;
  series: Series[];
  /** x values marked by dashed vertical lines (the recalls the figures are read at). */
  guides?: number[];
}

const PANEL_W = 520;
const H = 460;
const PAD = { left: 70, right: 20, top: 50, bottom: 50 };
const LEGEND_W = 250;
const COLOURS = [
  '#08519c',
  '#e6550d',
  '#31a354',
  '#756bb1',
  '#de2d26',
  '#636363',
  '#3182bd',
  '#fd8d3c',
  '#74c476',
  '#9e9ac8',
];

/** Log-axis ticks in [lo, hi]: powers of ten, or 1-2-5 steps when the range spans fewer than three decades. */
function logTicks(lo: number, hi: number): number[] {
  const at = (steps: number[]) => {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
      for (const s of steps) out.push(s * 10 ** e);
    return out.filter((t) => t >= lo && t <= hi);
  };
  const decades = at([1]);
  return decades.length >= 3 ? decades : at([1, 2, 5]);
}

/** Linear-axis ticks in [lo, hi]: the smallest 1-2-5 step that gives at most 8 of them. */
function linearTicks(lo: number, hi: number): number[] {
  const steps = [1, 2, 5].flatMap((s) => [-3, -2, -1, 0].map((e) => s * 10 ** e)).sort((a, b) => a - b);
  const step = steps.find((s) => (hi - lo) / s <= 8) ?? hi - lo;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

const tickLabel = (v: number) =>
  v >= 1e4 || v < 1e-2 ? v.toExponential(0).replace('+', '') : String(Number(v.toPrecision(2)));

/** An axis over `values`: its range (padded), ticks and a map from value to pixel between `from` and `to`. */
function axis(values: number[], log: boolean, from: number, to: number) {
  const [min, max] = [Math.min(...values), Math.max(...values)];
  const margin = Math.max((max - min) * 0.05, 0.005);
  const [lo, hi] = log ? [min / 1.5, max * 1.5] : [min - margin, max + margin];
  const f = log ? Math.log : (v: number) => v;
  return {
    at: (v: number) => from + ((f(v) - f(lo)) / (f(hi) - f(lo))) * (to - from),
    ticks: log ? logTicks(lo, hi) : linearTicks(lo, hi),
  };
}

function panelSvg(p: Panel, x0: number): string {
  const all = p.series.flatMap((s) => s.points).filter((pt) => pt.value > 0);
  if (all.length === 0) return '';
  const [left, right, bottom] = [x0 + PAD.left, x0 + PANEL_W - PAD.right, H - PAD.bottom];
  const xAxis = axis(
    all.map((pt) => pt.x),
    p.xLog,
    left,
    right,
  );
  const yAxis = axis(
    all.map((pt) => pt.value),
    true,
    bottom,
    PAD.top,
  );
  const [x, y] = [xAxis.at, yAxis.at];
  const lines = p.series.map((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = s.points.filter((pt) => pt.value > 0).sort((a, b) => a.x - b.x);
    const segments = points.slice(1).map((pt, j) => {
      const q = points[j];
      return `<line x1="${x(q.x).toFixed(1)}" y1="${y(q.value).toFixed(1)}" x2="${x(pt.x).toFixed(1)}" y2="${y(pt.value).toFixed(1)}" stroke="${colour}" stroke-width="2"${pt.extrapolated ? ' stroke-dasharray="5,4"' : ''}/>`;
    });
    const dots = points.map(
      (pt) =>
        `<circle cx="${x(pt.x).toFixed(1)}" cy="${y(pt.value).toFixed(1)}" r="4" fill="${pt.extrapolated ? 'white' : colour}" stroke="${colour}" stroke-width="1.5"/>`,
    );
    return [...segments, ...dots].join('');
  });
  const guides = (p.guides ?? []).map(
    (g) => `<line x1="${x(g)}" x2="${x(g)}" y1="${PAD.top}" y2="${bottom}" stroke="#999" stroke-dasharray="4,4"/>`,
  );
  return `<g>
  <text x="${x0 + PANEL_W / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(p.title)}</text>
  ${xAxis.ticks.map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${PAD.top}" y2="${bottom}" stroke="#eee"/><text x="${x(t)}" y="${bottom + 18}" text-anchor="middle">${tickLabel(t)}</text>`).join('')}
  ${yAxis.ticks.map((t) => `<line x1="${left}" x2="${right}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/><text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`).join('')}
  ${guides.join('')}
  <rect x="${left}" y="${PAD.top}" width="${right - left}" height="${bottom - PAD.top}" fill="none" stroke="black"/>
  ${lines.join('\n  ')}
  <text x="${x0 + (PANEL_W + PAD.left) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(p.xLabel)}</text>
  <text x="${x0 + 18}" y="${H / 2}" text-anchor="middle" transform="rotate(-90 ${x0 + 18} ${H / 2})">${escapeXml(p.yLabel)}</text>
</g>`;
}

/** Panels side by side sharing one legend; series are matched by name across panels (one colour each). */
export async function renderPanels(panels: Panel[], title: string): Promise<Buffer> {
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const ordered = (p: Panel): Panel => ({
    ...p,
    series: names.map((name) => p.series.find((s) => s.name === name) ?? { name, points: [] }),
  });
  const legendX = panels.length * PANEL_W;
  const width = legendX + LEGEND_W;
  const legend = names.map((name, i) => {
    const top = PAD.top + 10 + 22 * i;
    return `<line x1="${legendX + 10}" x2="${legendX + 36}" y1="${top}" y2="${top}" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="3"/><text x="${legendX + 42}" y="${top + 4}">${escapeXml(name)}</text>`;
  });
  const extrapolated = panels.some((p) => p.series.some((s) => s.points.some((pt) => pt.extrapolated)));
  const svg = svgDocument(
    width,
    H + 30,
    [
      ...panels.map((p, i) => panelSvg(ordered(p), i * PANEL_W)),
      ...legend,
      extrapolated
        ? `<text x="${legendX + 10}" y="${PAD.top + 30 + 22 * names.length}" font-size="11">hollow, dashed: extrapolated</text>`
        : '',
      `<text x="${width / 2}" y="${H + 20}" text-anchor="middle" font-size="12">${escapeXml(title)}</text>`,
    ],
    { attributes: 'font-size="12"' },
  );
  return svgToPng(svg);
}
