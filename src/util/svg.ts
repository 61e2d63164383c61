/** Helpers shared by the PNG figures drawn as SVG (confusion matrix, explanation page, map, loss curve). */

export const SVG_FONT = 'DejaVu Sans, sans-serif';

/** Average DejaVu Sans advance per em, to size text bands without measuring glyphs. */
export const CHAR_EM = 0.6;

export const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** A label cut to `max` characters with an ellipsis. */
export const shorten = (label: string, max: number): string => (label.length > max ? `${label.slice(0, max - 1)}…` : label);
