/**
 * Scatter-plot PNG of a 2-D embedding map: one colour per label from a categorical palette, a legend
 * of the label names, no axes (UMAP and PCA coordinates have no units worth reading).
 */
import {
  headingBottom,
  PAD,
  shorten,
  svgDocument,
  svgHeading,
  svgText,
  svgToPng,
  textWidth,
  type Heading,
} from '../util/figure.js';
import { Random } from '../util/random.js';

/**
 * Distinguishable categorical colours: matplotlib's tab10, then tab20's light partners, then darker
 * tones from tab20b and a few more, so Kimia Path24C's 24 scans each get their own.
 */
export const PALETTE: readonly string[] = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#aec7e8',
  '#ffbb78',
  '#98df8a',
  '#ff9896',
  '#c5b0d5',
  '#c49c94',
  '#f7b6d2',
  '#c7c7c7',
  '#dbdb8d',
  '#9edae5',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
  '#000000',
  '#ce6dbd',
  '#b5cf6b',
];

export interface MapOptions {
  title: string;
  /** Second line under the title, e.g. the method, point count and seed. */
  subtitle?: string;
  /** Image size in pixels (default 1000 × 760). */
  width?: number;
  height?: number;
}

const TEXT_SIZE = 12;
const ROW = 18;
const SWATCH = 12;
const MAX_LABEL_CHARS = 28;

/**
 * The labels in legend order (natural sort: s2 before s10) with their colours. Colour follows the
 * sorted position, so maps of collections with the same labels colour them alike; past the palette's
 * end colours repeat.
 */
export function labelColours(labels: readonly string[]): Map<string, string> {
  const sorted = [...new Set(labels)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return new Map(sorted.map((label, i) => [label, PALETTE[i % PALETTE.length]]));
}

export async function renderMapPng(
  coords: Float32Array,
  labels: readonly string[],
  options: MapOptions,
): Promise<Buffer> {
  const m = labels.length;
  if (coords.length !== 2 * m) throw new RangeError(`map: ${m} labels for ${coords.length / 2} points`);
  const width = options.width ?? 1000;
  const height = options.height ?? 760;
  const colours = labelColours(labels);

  const heading: Heading = { title: options.title, subtitle: options.subtitle, subtitleSize: TEXT_SIZE, gap: 8 };
  const top = headingBottom(heading) + 14;
  // Legend: as many rows as fit beside the plot, then further columns.
  const rowsPerColumn = Math.max(1, Math.floor((height - top - PAD) / ROW));
  const columns = Math.ceil(colours.size / rowsPerColumn);
  const longest = Math.max(0, ...[...colours.keys()].map((l) => textWidth(shorten(l, MAX_LABEL_CHARS), TEXT_SIZE)));
  const columnWidth = SWATCH + 6 + longest + 14;
  const legendX = width - PAD - columns * columnWidth;
  const plot = { x: PAD, y: top, w: legendX - 2 * PAD, h: height - top - PAD };
  if (plot.w < 50 || plot.h < 50)
    throw new RangeError(
      `map: ${width}×${height} px leaves no room for the plot beside a legend of ${colours.size} labels`,
    );

  const svg = svgDocument(width, height, [
    ...svgHeading(heading),
    `<rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="none" stroke="#c8ced6"/>`,
    ...points(coords, labels, colours, plot),
    ...[...colours].map(([label, colour], i) => {
      const x = legendX + Math.floor(i / rowsPerColumn) * columnWidth;
      const y = top + (i % rowsPerColumn) * ROW;
      return (
        `<rect x="${Math.round(x)}" y="${y}" width="${SWATCH}" height="${SWATCH}" fill="${colour}"/>` +
        svgText(Math.round(x) + SWATCH + 6, y + SWATCH - 1, shorten(label, MAX_LABEL_CHARS), { size: TEXT_SIZE })
      );
    }),
  ]);
  return svgToPng(svg);
}

/**
 * The points as circles, fitted into the plot with one scale for both axes (distances on the map are
 * what it shows) and drawn in a fixed shuffled order, so no label systematically covers another.
 */
function points(
  coords: Float32Array,
  labels: readonly string[],
  colours: Map<string, string>,
  plot: { x: number; y: number; w: number; h: number },
): string[] {
  const m = labels.length;
  if (m === 0) return [];
  let [minX, maxX, minY, maxY] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < m; i++) {
    minX = Math.min(minX, coords[2 * i]);
    maxX = Math.max(maxX, coords[2 * i]);
    minY = Math.min(minY, coords[2 * i + 1]);
    maxY = Math.max(maxY, coords[2 * i + 1]);
  }
  const radius = Math.max(1.5, Math.min(5, 60 / Math.sqrt(m)));
  const inner = { w: plot.w - 4 * radius, h: plot.h - 4 * radius };
  const scale = Math.min(inner.w / (maxX - minX || 1), inner.h / (maxY - minY || 1));
  const cx = plot.x + plot.w / 2;
  const cy = plot.y + plot.h / 2;
  const order = Array.from({ length: m }, (_, i) => i);
  const random = new Random(1);
  for (let i = m - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const fmt = (v: number) => v.toFixed(1);
  return order.map((i) => {
    const x = cx + (coords[2 * i] - (minX + maxX) / 2) * scale;
    // SVG's y grows downwards; the map's upwards.
    const y = cy - (coords[2 * i + 1] - (minY + maxY) / 2) * scale;
    return `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${radius.toFixed(2)}" fill="${colours.get(labels[i])}" fill-opacity="0.8"/>`;
  });
}
