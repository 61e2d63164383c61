/** bench:scale's figure: single-query p50 latency and serving RSS against N, log–log, one line per (engine, method). */
import { escapeXml, svgDocument, svgToPng } from '../src/util/figure.js';

export interface SeriesPoint {
  n: number;
  value: number;
  /** Drawn hollow and dashed: a figure extrapolated, not measured. */
  extrapolated?: boolean;
}

export interface Series {
  name: string;
  points: SeriesPoint[];
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
const tickLabel = (v: number) =>
  v >= 1e4 || v < 1e-2 ? v.toExponential(0).replace('+', '') : String(Number(v.toPrecision(2)));

function panel(series: Series[], title: string, yLabel: string, x0: number): string {
  const all = series.flatMap((s) => s.points).filter((p) => p.value > 0);
  if (all.length === 0) return '';
  const [nLo, nHi] = [Math.min(...all.map((p) => p.n)) / 1.5, Math.max(...all.map((p) => p.n)) * 1.5];
  const [vLo, vHi] = [Math.min(...all.map((p) => p.value)) / 1.5, Math.max(...all.map((p) => p.value)) * 1.5];
  const x = (n: number) =>
    x0 +
    PAD.left +
    ((Math.log(n) - Math.log(nLo)) / (Math.log(nHi) - Math.log(nLo))) * (PANEL_W - PAD.left - PAD.right);
  const y = (v: number) =>
    H - PAD.bottom - ((Math.log(v) - Math.log(vLo)) / (Math.log(vHi) - Math.log(vLo))) * (H - PAD.top - PAD.bottom);
  const xTicks = logTicks(nLo, nHi);
  const yTicks = logTicks(vLo, vHi);
  const lines = series.map((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = s.points.filter((p) => p.value > 0).sort((a, b) => a.n - b.n);
    const segments = points.slice(1).map((p, j) => {
      const q = points[j];
      return `<line x1="${x(q.n).toFixed(1)}" y1="${y(q.value).toFixed(1)}" x2="${x(p.n).toFixed(1)}" y2="${y(p.value).toFixed(1)}" stroke="${colour}" stroke-width="2"${p.extrapolated ? ' stroke-dasharray="5,4"' : ''}/>`;
    });
    const dots = points.map(
      (p) =>
        `<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="4" fill="${p.extrapolated ? 'white' : colour}" stroke="${colour}" stroke-width="1.5"/>`,
    );
    return [...segments, ...dots].join('');
  });
  return `<g>
  <text x="${x0 + PANEL_W / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>
  ${xTicks.map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#eee"/><text x="${x(t)}" y="${H - PAD.bottom + 18}" text-anchor="middle">${tickLabel(t)}</text>`).join('')}
  ${yTicks.map((t) => `<line x1="${x0 + PAD.left}" x2="${x0 + PANEL_W - PAD.right}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/><text x="${x0 + PAD.left - 6}" y="${y(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`).join('')}
  <rect x="${x0 + PAD.left}" y="${PAD.top}" width="${PANEL_W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" fill="none" stroke="black"/>
  ${lines.join('\n  ')}
  <text x="${x0 + (PANEL_W + PAD.left) / 2}" y="${H - 12}" text-anchor="middle">N (items indexed)</text>
  <text x="${x0 + 18}" y="${H / 2}" text-anchor="middle" transform="rotate(-90 ${x0 + 18} ${H / 2})">${escapeXml(yLabel)}</text>
</g>`;
}

/** Two log–log panels (latency, memory) sharing one legend; series are matched by name across panels. */
export async function renderScalePlot(latency: Series[], memory: Series[], title: string): Promise<Buffer> {
  const names = [...new Set([...latency, ...memory].map((s) => s.name))];
  const ordered = (series: Series[]) =>
    names.map((name) => series.find((s) => s.name === name) ?? { name, points: [] });
  const width = 2 * PANEL_W + LEGEND_W;
  const legend = names.map((name, i) => {
    const top = PAD.top + 10 + 22 * i;
    return `<line x1="${2 * PANEL_W + 10}" x2="${2 * PANEL_W + 36}" y1="${top}" y2="${top}" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="3"/><text x="${2 * PANEL_W + 42}" y="${top + 4}">${escapeXml(name)}</text>`;
  });
  const svg = svgDocument(
    width,
    H + 30,
    [
      panel(ordered(latency), 'single-query latency (p50)', 'ms per query', 0),
      panel(ordered(memory), 'resident memory while serving (peak RSS)', 'MiB', PANEL_W),
      ...legend,
      `<text x="${2 * PANEL_W + 10}" y="${PAD.top + 30 + 22 * names.length}" font-size="11">hollow, dashed: extrapolated</text>`,
      `<text x="${width / 2}" y="${H + 20}" text-anchor="middle" font-size="12">${escapeXml(title)}</text>`,
    ],
    { attributes: 'font-size="12"' },
  );
  return svgToPng(svg);
}
