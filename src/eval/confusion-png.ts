/** Confusion-matrix image: an SVG heat map (rows = true label, columns = top-1 prediction). */
import {
  CHAR_EM,
  headingBottom,
  INK,
  PAD,
  shorten,
  svgDocument,
  svgHeading,
  svgText,
  svgToPng,
  textWidth,
  type Heading,
} from '../util/figure.js';

/** The SVG is laid out in user units and rendered at this many pixels per unit, for crisp text. */
const SCALE = 2;
/** Smaller than the shared TITLE_SIZE, as the report has always drawn it: the cells' places follow from it. */
const TITLE_SIZE = 16;
const NOTE_SIZE = 11;
const LABEL_SIZE = 11;
const AXIS_SIZE = 13;
const MAX_LABEL_CHARS = 24;
const NOTE = "numbers: queries; colour: share of the true label's queries (row-normalised)";
const heading = (title: string): Heading => ({
  title,
  subtitle: NOTE,
  size: TITLE_SIZE,
  subtitleSize: NOTE_SIZE,
  gap: 6,
});

/** matplotlib's "Blues": a sequential scale from near-white (0) to dark blue (1). */
const BLUES: readonly (readonly [number, number, number])[] = [
  [247, 251, 255],
  [222, 235, 247],
  [198, 219, 239],
  [158, 202, 225],
  [107, 174, 214],
  [66, 146, 198],
  [33, 113, 181],
  [8, 81, 156],
  [8, 48, 107],
];

export interface ConfusionLayout {
  /** Image size in pixels. */
  width: number;
  height: number;
  /** Cell side in pixels. */
  cellSize: number;
  /** Pixel centre of the cell for true label `row` and predicted label `col`. */
  cellCenter(row: number, col: number): { x: number; y: number };
}

interface Geometry {
  width: number;
  height: number;
  cell: number;
  matrixX: number;
  matrixY: number;
  labels: string[];
  verticalColumnLabels: boolean;
  columnBand: number;
}

/** Cells shrink as classes grow so ~30 classes still fit a screen, within readable bounds. */
function geometry(labels: readonly string[], title: string): Geometry {
  const n = labels.length;
  const cell = Math.max(18, Math.min(48, Math.floor(600 / n)));
  const shown = labels.map((label) => shorten(label, MAX_LABEL_CHARS));
  const labelWidth = Math.max(...shown.map((l) => textWidth(l, LABEL_SIZE)));
  // Column labels lie flat when they fit their cell, otherwise they stand upright.
  const verticalColumnLabels = labelWidth > cell - 4;
  const columnBand = (verticalColumnLabels ? labelWidth : LABEL_SIZE) + 8;
  const matrixX = PAD + AXIS_SIZE + 8 + labelWidth + 6;
  const matrixY = headingBottom(heading(title)) + 12;
  const width = Math.max(
    matrixX + n * cell + PAD,
    textWidth(title, TITLE_SIZE * 1.1) + 2 * PAD,
    textWidth(NOTE, NOTE_SIZE) + 2 * PAD,
  );
  const height = matrixY + n * cell + columnBand + AXIS_SIZE + 8 + PAD;
  return {
    width: Math.ceil(width),
    height: Math.ceil(height),
    cell,
    matrixX,
    matrixY,
    labels: shown,
    verticalColumnLabels,
    columnBand,
  };
}

function checkMatrix(labels: readonly string[], confusion: readonly (readonly number[])[]): void {
  if (labels.length === 0) throw new RangeError('confusion matrix: no labels');
  const n = labels.length;
  if (confusion.length !== n || confusion.some((row) => row.length !== n)) {
    throw new RangeError(`confusion matrix: expected ${n}×${n} counts for ${n} labels`);
  }
  if (confusion.some((row) => row.some((c) => !Number.isInteger(c) || c < 0))) {
    throw new RangeError('confusion matrix: counts must be non-negative integers');
  }
}

/** Where the image for these labels puts each cell, in pixels. */
export function confusionLayout(labels: readonly string[], title: string): ConfusionLayout {
  const g = geometry(labels, title);
  return {
    width: g.width * SCALE,
    height: g.height * SCALE,
    cellSize: g.cell * SCALE,
    cellCenter: (row, col) => ({
      x: (g.matrixX + (col + 0.5) * g.cell) * SCALE,
      y: (g.matrixY + (row + 0.5) * g.cell) * SCALE,
    }),
  };
}

function colourAt(fraction: number): [number, number, number] {
  const pos = Math.min(1, Math.max(0, fraction)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(pos));
  const t = pos - i;
  return [0, 1, 2].map((c) => Math.round(BLUES[i][c] + t * (BLUES[i + 1][c] - BLUES[i][c]))) as [
    number,
    number,
    number,
  ];
}

/** WCAG relative luminance, to pick the count's text colour against its cell. */
function luminance([r, g, b]: [number, number, number]): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

const fmt = (v: number): string => String(Math.round(v * 100) / 100);

function confusionSvg(labels: readonly string[], confusion: readonly (readonly number[])[], title: string): string {
  const g = geometry(labels, title);
  const n = labels.length;
  const { cell, matrixX, matrixY } = g;
  const matrixEnd = matrixY + n * cell;
  const parts = svgHeading(heading(title));

  confusion.forEach((row, r) => {
    const rowTotal = row.reduce((sum, c) => sum + c, 0);
    row.forEach((count, c) => {
      const colour = colourAt(rowTotal === 0 ? 0 : count / rowTotal);
      const x = matrixX + c * cell;
      const y = matrixY + r * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${colour.join(',')})" stroke="#dde3ea" stroke-width="0.5"/>`,
      );
      const text = String(count);
      const size = Math.min(cell * 0.42, (cell - 4) / (text.length * CHAR_EM));
      // Zeros stay legible but faint, so the confusions stand out.
      const fill = count === 0 ? '#b4bcc6' : luminance(colour) < 0.4 ? '#ffffff' : INK;
      parts.push(
        svgText(fmt(x + cell / 2), fmt(y + cell / 2 + size * 0.35), text, {
          size: fmt(size),
          fill,
          attributes: 'text-anchor="middle"',
        }),
      );
    });
  });
  parts.push(
    `<rect x="${matrixX}" y="${matrixY}" width="${n * cell}" height="${n * cell}" fill="none" stroke="#8a94a0" stroke-width="1"/>`,
  );

  g.labels.forEach((label, i) => {
    const centre = i * cell + cell / 2;
    parts.push(
      svgText(fmt(matrixX - 6), fmt(matrixY + centre + LABEL_SIZE * 0.35), label, {
        size: LABEL_SIZE,
        attributes: 'text-anchor="end"',
      }),
    );
    const cx = matrixX + centre;
    parts.push(
      g.verticalColumnLabels
        ? svgText(0, 0, label, {
            size: LABEL_SIZE,
            attributes: `transform="translate(${fmt(cx + LABEL_SIZE * 0.35)} ${matrixEnd + 6}) rotate(-90)" text-anchor="end"`,
          })
        : svgText(fmt(cx), matrixEnd + 4 + LABEL_SIZE, label, { size: LABEL_SIZE, attributes: 'text-anchor="middle"' }),
    );
  });

  const matrixMid = (n * cell) / 2;
  const axis = { size: AXIS_SIZE, attributes: 'font-weight="bold" text-anchor="middle"' };
  parts.push(
    svgText(fmt(matrixX + matrixMid), fmt(matrixEnd + g.columnBand + AXIS_SIZE), 'predicted', axis),
    svgText(0, 0, 'true', {
      ...axis,
      attributes: `transform="translate(${PAD + AXIS_SIZE} ${fmt(matrixY + matrixMid)}) rotate(-90)" ${axis.attributes}`,
    }),
  );
  return svgDocument(g.width, g.height, parts, { scale: SCALE });
}

/** The confusion matrix (rows true, columns predicted) as a PNG; confusionLayout gives its geometry. */
export async function renderConfusionPng(
  labels: readonly string[],
  confusion: readonly (readonly number[])[],
  title: string,
): Promise<Buffer> {
  checkMatrix(labels, confusion);
  return svgToPng(confusionSvg(labels, confusion, title));
}
