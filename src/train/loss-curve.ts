/** The loss curve as a PNG: every step's loss, its moving average, and epoch boundaries. */
import { escapeXml, svgDocument, svgToPng } from '../util/figure.js';

export interface CurvePoint {
  step: number;
  loss: number;
}

const W = 900;
const H = 420;
const PAD = { left: 70, right: 20, top: 40, bottom: 50 };

function movingAverage(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window];
    out.push(sum / Math.min(i + 1, window));
  });
  return out;
}

export async function renderLossCurve(points: CurvePoint[], epochStarts: number[], title: string): Promise<Buffer> {
  const steps = points.map((p) => p.step);
  const losses = points.map((p) => p.loss);
  const [x0, x1] = [Math.min(...steps, 0), Math.max(...steps, 1)];
  const [y0, y1] = [0, Math.max(...losses, 1e-6) * 1.05];
  const x = (s: number) => PAD.left + ((s - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - ((v - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const line = (values: number[]) => values.map((v, i) => `${x(steps[i]).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 6 }, (_, i) => y0 + ((y1 - y0) * i) / 5);
  const svg = svgDocument(
    W,
    H,
    [
      `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
      epochStarts
        .map((s) => `<line x1="${x(s)}" x2="${x(s)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#ddd"/>`)
        .join(''),
      ticks
        .map(
          (t) =>
            `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(t)}" y2="${y(t)}" stroke="#f0f0f0"/><text x="${PAD.left - 8}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(2)}</text>`,
        )
        .join(''),
      `<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="${line(losses)}"/>`,
      `<polyline fill="none" stroke="#08519c" stroke-width="2.5" points="${line(movingAverage(losses, Math.max(1, Math.round(points.length / 30))))}"/>`,
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}" stroke="black"/>`,
      `<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="black"/>`,
      `<text x="${(W + PAD.left) / 2}" y="${H - 12}" text-anchor="middle">step (grey lines: epochs)</text>`,
      `<text x="18" y="${H / 2}" text-anchor="middle" transform="rotate(-90 18 ${H / 2})">loss (Sub-center ArcFace)</text>`,
    ],
    { attributes: 'font-size="13"' },
  );
  return svgToPng(svg);
}
