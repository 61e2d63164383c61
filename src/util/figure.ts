/**
 * What the PNG figures share (confusion matrix, explanation page, embedding map, loss curve): each is
 * an SVG drawn as text and rasterised by sharp (librsvg), so no canvas or plotting dependency is
 * needed. Lengths are SVG user units, one pixel each unless a figure scales its page.
 */
import sharp, { type OverlayOptions } from 'sharp';

export const SVG_FONT = 'DejaVu Sans, sans-serif';

/** Average DejaVu Sans advance per em, to size text bands without measuring glyphs. */
export const CHAR_EM = 0.6;

/** The margin between a figure's edge and its content. */
export const PAD = 16;

/** The size of a figure's title (the confusion matrix has always had a smaller one). */
export const TITLE_SIZE = 18;

/** Colours of text: most of it, and the quieter second line under a title. */
export const INK = '#111111';
export const MUTED = '#555555';

export const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** A label cut to `max` characters with an ellipsis. */
export const shorten = (label: string, max: number): string =>
  label.length > max ? `${label.slice(0, max - 1)}…` : label;

/** Estimated width of `text` at font size `size` (see CHAR_EM). */
export const textWidth = (text: string, size: number): number => text.length * size * CHAR_EM;

export interface TextStyle {
  size: number | string;
  /** Default INK. */
  fill?: string;
  /** Further attributes as written in SVG, e.g. 'text-anchor="middle" font-weight="bold"'. */
  attributes?: string;
}

/** One line of text at (x, y) (the baseline's start, or what text-anchor says), escaped. */
export function svgText(x: number | string, y: number | string, text: string, style: TextStyle): string {
  return `<text x="${x}" y="${y}" font-size="${style.size}" fill="${style.fill ?? INK}"${style.attributes ? ` ${style.attributes}` : ''}>${escapeXml(text)}</text>`;
}

/** A figure's heading at the top left: the title in bold and, `gap` below it, an optional quieter
 *  second line (what the figure shows, how it was made). */
export interface Heading {
  title: string;
  subtitle?: string;
  /** The title's font size (default TITLE_SIZE). */
  size?: number;
  subtitleSize: number;
  gap: number;
}

export function svgHeading(h: Heading): string[] {
  const size = h.size ?? TITLE_SIZE;
  const lines = [svgText(PAD, PAD + size, h.title, { size, attributes: 'font-weight="bold"' })];
  if (h.subtitle) lines.push(svgText(PAD, headingBottom(h), h.subtitle, { size: h.subtitleSize, fill: MUTED }));
  return lines;
}

/** The baseline of the heading's last line: a figure's content starts some way below it. */
export function headingBottom(h: Heading): number {
  return PAD + (h.size ?? TITLE_SIZE) + (h.subtitle ? h.gap + h.subtitleSize : 0);
}

/**
 * The SVG document of a figure: a white page `width` × `height` holding `body`. With `scale`, the
 * image is that many times larger than the layout (crisper small text) through its viewBox.
 */
export function svgDocument(
  width: number,
  height: number,
  body: string[],
  o: { scale?: number; attributes?: string } = {},
): string {
  const size =
    o.scale === undefined
      ? `width="${width}" height="${height}"`
      : `width="${width * o.scale}" height="${height * o.scale}" viewBox="0 0 ${width} ${height}"`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" ${size} font-family="${SVG_FONT}"${o.attributes ? ` ${o.attributes}` : ''}>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/**
 * The SVG as a PNG, with `tiles` (images) composited over it. Density 72 dpi is librsvg's own: one
 * user unit is one pixel, so the image has the size the SVG states.
 */
export function svgToPng(svg: string, tiles: OverlayOptions[] = []): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 }).composite(tiles).png().toBuffer();
}
