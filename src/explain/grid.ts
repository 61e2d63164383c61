/**
 * One PNG page of explanations, laid out like the paper's figures: a row per image (query, result, …),
 * columns for the image, each neck layer's map and the combination of all layers, with a title, column
 * and row labels, each row's score, and the colour scale. Text is an SVG; the tiles are composited onto it.
 */
import sharp from 'sharp';
import type { ExplainImage, Explanation } from './gradcam.js';
import { jet, overlayRgb } from './overlay.js';
import { headingBottom, INK, PAD, svgDocument, svgHeading, svgText, svgToPng, type Heading } from '../util/figure.js';

export interface GridRow {
  /** Row title, e.g. 'query' or 'result #1 (s3)'. */
  label: string;
  image: ExplainImage;
  explanation: Explanation;
}

export interface GridOptions {
  title: string;
  /** Side of each tile in pixels (default 224). */
  tileSize?: number;
}

const GAP = 8;
const TEXT_SIZE = 13;
const LABEL_WIDTH = 190;
const HEADER_HEIGHT = 24;
const BAR_HEIGHT = 12;
const BAR_WIDTH = 240;

const SUBTITLE =
  'Grad-CAM++ on the terminal nodes P1_2–P4_2 of each neck layer (a layer’s map: the mean over its nodes)';

const scoreText = (e: Explanation): string =>
  `${e.target === 'similarity' ? 'cosine similarity' : 'class cosine'} ${e.score.toFixed(3)}`;

/** 'L0' → 'neck layer 0'. */
const layerTitle = (key: string): string => `neck layer ${key.slice(1)}`;

const text = (x: number, y: number, s: string, fill = INK, attributes = ''): string =>
  svgText(x, y, s, { size: TEXT_SIZE, fill, attributes });

async function tile(pixels: Uint8Array, size: number, tileSize: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .resize(tileSize, tileSize, { kernel: 'linear' })
    .png()
    .toBuffer();
}

/** The page for `rows` (e.g. a query and a result, or one image for a class), every row explaining the same layers. */
export async function explanationGrid(rows: GridRow[], options: GridOptions): Promise<Buffer> {
  if (rows.length === 0) throw new RangeError('explanation grid: no rows');
  const layerKeys = [...rows[0].explanation.layers.keys()];
  if (rows.some((r) => [...r.explanation.layers.keys()].join() !== layerKeys.join())) {
    throw new RangeError('explanation grid: every row must explain the same neck layers');
  }
  const t = options.tileSize ?? 224;
  const headers = ['image', ...layerKeys.map(layerTitle), 'all layers'];
  const gridX = PAD + LABEL_WIDTH;
  const heading: Heading = { title: options.title, subtitle: SUBTITLE, subtitleSize: TEXT_SIZE, gap: 10 };
  const gridY = headingBottom(heading) + 12 + HEADER_HEIGHT;
  const width = gridX + headers.length * (t + GAP) - GAP + PAD;
  const barY = gridY + rows.length * (t + GAP) + 8;
  const height = barY + BAR_HEIGHT + TEXT_SIZE + 8 + PAD;

  const svg = svgDocument(width, height, [
    ...svgHeading(heading),
    ...headers.map((h, c) =>
      text(gridX + c * (t + GAP) + t / 2, gridY - 8, h, INK, 'text-anchor="middle" font-weight="bold"'),
    ),
    ...rows.flatMap((r, i) => {
      const y = gridY + i * (t + GAP) + t / 2;
      return [
        text(PAD, y - 4, r.label, INK, 'font-weight="bold"'),
        text(PAD, y + TEXT_SIZE + 2, scoreText(r.explanation), '#333333'),
      ];
    }),
    ...colourBar(gridX, barY),
  ]);

  const tiles = await Promise.all(
    rows.flatMap((r, i) => {
      const { pixels, size } = r.image;
      const maps = [...layerKeys.map((k) => r.explanation.layers.get(k)!), r.explanation.combined];
      const images = [pixels, ...maps.map((m) => overlayRgb(pixels, size, m))];
      return images.map(async (p, c) => ({
        input: await tile(p, size, t),
        left: gridX + c * (t + GAP),
        top: gridY + i * (t + GAP),
      }));
    }),
  );
  return svgToPng(svg, tiles);
}

/** The jet scale as thin SVG rectangles, labelled at both ends. */
function colourBar(x: number, y: number): string[] {
  const steps = 60;
  const w = BAR_WIDTH / steps;
  const stops = Array.from({ length: steps }, (_, i) => {
    const [r, g, b] = jet((i + 0.5) / steps);
    return `<rect x="${(x + i * w).toFixed(2)}" y="${y}" width="${(w + 0.5).toFixed(2)}" height="${BAR_HEIGHT}" fill="rgb(${r},${g},${b})"/>`;
  });
  const labelY = y + BAR_HEIGHT + TEXT_SIZE + 2;
  return [
    ...stops,
    text(x, labelY, '0 (no evidence)'),
    text(x + BAR_WIDTH, labelY, '1 (most evidence)', INK, 'text-anchor="end"'),
  ];
}
