/**
 * The header of a JPEG stream as it sits in a TIFF tile: the marker segments before the first scan,
 * what they say about the colour space (JFIF APP0, Adobe APP14, component ids), the frame header, and
 * a standalone stream rebuilt from a tile and the TIFF's JPEGTables with the colour transform stated.
 * Only markers are read here (a few hundred bytes); decoding is libjpeg's, through sharp.
 */

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP0 = 0xe0;
const APP14 = 0xee;
/** Start-of-frame markers: C0–CF less DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers that stand alone, with no length: TEM and the restart markers. */
const isStandalone = (m: number) => m === 0x01 || (m >= 0xd0 && m <= 0xd7);

export interface JpegSegment {
  marker: number;
  /** Offset of the 0xFF byte just before the marker code. */
  start: number;
  /** Offset just past the segment. */
  end: number;
}

export interface JpegComponent {
  id: number;
  h: number;
  v: number;
  quantTable: number;
}

export interface JpegFrame {
  /** The SOF marker: 0xC0 baseline, 0xC1 extended, 0xC2 progressive, others lossless, hierarchical or arithmetic. */
  marker: number;
  precision: number;
  width: number;
  height: number;
  components: JpegComponent[];
}

export interface JpegHeader {
  /** The marker segments after SOI, up to and including the first SOS (or up to EOI for a tables-only stream). */
  segments: JpegSegment[];
  /** Offset where the segments end: the first scan's entropy-coded data, or the EOI of a tables-only stream. */
  headerEnd: number;
  jfif: boolean;
  /** The Adobe APP14 marker's transform (0 none, 1 YCbCr, 2 YCCK), or null without one. */
  adobeTransform: number | null;
  frame: JpegFrame | null;
}

export class JpegStreamError extends Error {}

/** Reads the markers of a JPEG stream (or a JPEGTables stream) up to its first scan; `data` may stop anywhere after that. */
export function readJpegHeader(data: Uint8Array): JpegHeader {
  if (data[0] !== 0xff || data[1] !== SOI) throw new JpegStreamError('not a JPEG stream (no SOI marker)');
  const header: JpegHeader = { segments: [], headerEnd: 2, jfif: false, adobeTransform: null, frame: null };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 2;
  for (;;) {
    if (pos + 2 > data.length) throw new JpegStreamError(`JPEG header cut short at byte ${pos}`);
    if (data[pos] !== 0xff) throw new JpegStreamError(`no JPEG marker at byte ${pos}`);
    while (data[pos + 1] === 0xff) pos++; // fill bytes before the marker
    const start = pos;
    const marker = data[pos + 1]!;
    pos += 2;
    if (marker === EOI) {
      header.headerEnd = start;
      return header;
    }
    if (isStandalone(marker)) continue;
    if (pos + 2 > data.length) throw new JpegStreamError(`JPEG header cut short at byte ${pos}`);
    const end = pos + view.getUint16(pos);
    if (end > data.length) throw new JpegStreamError(`JPEG marker segment at byte ${start} runs past the data read`);
    const payload = data.subarray(pos + 2, end);
    header.segments.push({ marker, start, end });
    if (marker === APP0 && startsWith(payload, 'JFIF\0')) header.jfif = true;
    if (marker === APP14 && startsWith(payload, 'Adobe') && payload.length >= 12) header.adobeTransform = payload[11]!;
    if (isSof(marker)) header.frame = readFrame(marker, payload);
    pos = end;
    if (marker === SOS) {
      header.headerEnd = end;
      return header;
    }
  }
}

function startsWith(bytes: Uint8Array, text: string): boolean {
  return bytes.length >= text.length && [...text].every((c, i) => bytes[i] === c.charCodeAt(0));
}

function readFrame(marker: number, p: Uint8Array): JpegFrame {
  const count = p[5] ?? 0;
  if (p.length < 6 + 3 * count) throw new JpegStreamError('JPEG frame header cut short');
  const components = Array.from({ length: count }, (_, i) => ({
    id: p[6 + 3 * i]!,
    h: p[7 + 3 * i]! >> 4,
    v: p[7 + 3 * i]! & 15,
    quantTable: p[8 + 3 * i]!,
  }));
  return { marker, precision: p[0]!, height: (p[1]! << 8) | p[2]!, width: (p[3]! << 8) | p[4]!, components };
}

export type JpegColour = 'rgb' | 'ycbcr';

/**
 * What a stream says of its own colour space. `colour` when it says so outright; null when it does not,
 * with `hint` the colour libjpeg would guess from component ids 1, 2, 3 (JFIF's numbering) if they are
 * there; `conflict` when it says both.
 */
export type StreamColour =
  { colour: JpegColour; evidence: string } | { colour: null; hint: JpegColour | null } | { conflict: string };

const RGB_IDS = [0x52, 0x47, 0x42];
const JFIF_IDS = [1, 2, 3];

/**
 * The colour space a 3-component stream declares, from its own markers and those of its tables stream:
 * a JFIF marker (JFIF is YCbCr), an Adobe marker's transform, component ids 'R', 'G', 'B' (libjpeg's
 * RGB), or chroma subsampling (encoders subsample Cb and Cr, nobody subsamples G and B). Ids 1, 2, 3
 * (JFIF's numbering, and what libtiff writes for YCbCr) are a convention, not a declaration; ids 0, 1, 2
 * (what libtiff wrote for RGB, and Aperio's tiles) say nothing.
 */
export function streamColour(headers: readonly JpegHeader[], frame: JpegFrame): StreamColour {
  const claims: [JpegColour, string][] = [];
  for (const h of headers) {
    if (h.jfif) claims.push(['ycbcr', 'a JFIF marker']);
    if (h.adobeTransform === 0) claims.push(['rgb', 'an Adobe marker with transform 0']);
    if (h.adobeTransform === 1) claims.push(['ycbcr', 'an Adobe marker with transform 1']);
    if (h.adobeTransform !== null && h.adobeTransform > 1)
      return { conflict: `an Adobe marker with transform ${h.adobeTransform} (YCCK) on 3 components` };
  }
  const ids = frame.components.map((c) => c.id);
  if (ids.every((id, i) => id === RGB_IDS[i])) claims.push(['rgb', "component ids 'R', 'G', 'B'"]);
  const [luma, ...chroma] = frame.components;
  if (chroma.some((c) => c.h !== luma!.h || c.v !== luma!.v))
    claims.push(['ycbcr', `chroma subsampling (${frame.components.map((c) => `${c.h}×${c.v}`).join(', ')})`]);
  const colours = new Set(claims.map(([c]) => c));
  const evidence = [...new Set(claims.map(([, why]) => why))].join(' and ');
  if (colours.size > 1) return { conflict: `the JPEG stream contradicts itself: ${evidence}` };
  if (claims.length) return { colour: claims[0]![0], evidence };
  return { colour: null, hint: ids.every((id, i) => id === JFIF_IDS[i]) ? 'ycbcr' : null };
}

/** Adobe APP14 segment: "Adobe", version 100, no flags, the colour transform (0 none, 1 YCbCr). */
function adobeMarker(colour: JpegColour): Uint8Array {
  const transform = colour === 'ycbcr' ? 1 : 0;
  return Uint8Array.of(0xff, APP14, 0, 14, 0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, transform);
}

/** Whether a segment states a colour space (which a rebuilt stream replaces with its own statement). */
function statesColour(data: Uint8Array, s: JpegSegment): boolean {
  const payload = data.subarray(s.start + 4, s.end);
  return (s.marker === APP0 && startsWith(payload, 'JFIF\0')) || (s.marker === APP14 && startsWith(payload, 'Adobe'));
}

/** A stream and its parsed header. */
export interface ParsedJpeg {
  data: Uint8Array;
  header: JpegHeader;
}

export function parseJpeg(data: Uint8Array): ParsedJpeg {
  return { data, header: readJpegHeader(data) };
}

/**
 * A standalone JPEG from a TIFF tile: the tables of JPEGTables (if any) put in front of the tile's own
 * segments, every JFIF and Adobe marker dropped, and one Adobe marker added saying `colour`. libjpeg obeys
 * an Adobe marker before its guesses from component ids, so the decode applies exactly that transform.
 */
export function standaloneJpeg(tile: ParsedJpeg, tables: ParsedJpeg | null, colour: JpegColour): Buffer {
  const parts: Uint8Array[] = [Uint8Array.of(0xff, SOI), adobeMarker(colour)];
  for (const { data, header } of tables ? [tables, tile] : [tile]) {
    for (const s of header.segments) if (!statesColour(data, s)) parts.push(data.subarray(s.start, s.end));
  }
  parts.push(tile.data.subarray(tile.header.headerEnd));
  return Buffer.concat(parts);
}
