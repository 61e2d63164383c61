/**
 * The header of a JPEG stream (its marker segments before the first scan), which colour space its
 * three components are in, and the stream rebuilt so libjpeg decodes them in that space. Shared by
 * DICOM frames (dicom/jpeg-frame.ts) and TIFF tiles (tiff-colour.ts, tiff/jpeg-tiff-slide.ts). Only
 * markers are read here (a few hundred bytes); decoding is libjpeg's, through sharp.
 *
 * A JPEG stream does not have to say whether its components are Y Cb Cr or R G B. libjpeg decides from
 * markers: a JFIF APP0 means YCbCr; else an Adobe APP14's transform flag (0 = RGB, 1 = YCbCr); else
 * component ids 'R','G','B' mean RGB; and anything else is taken for YCbCr. The container says it too —
 * DICOM's Photometric Interpretation (RGB, YBR_FULL_422, YBR_FULL), TIFF's Photometric tag (RGB, YCbCr),
 * which libtiff follows alone — and the two can disagree; then one of them is wrong. The rule, the
 * same for both containers (the encoder's own word first, the container's label otherwise):
 *
 * 1. What the stream says explicitly, because its encoder wrote it about these very bytes: a JFIF APP0
 *    (JFIF mandates YCbCr), an Adobe APP14 transform flag, component ids 'R','G','B', or chroma
 *    subsampling (nobody subsamples G and B; an encoder does that to Cb and Cr). A stream that says
 *    both (a JFIF marker with an Adobe flag of 0, subsampled 'R','G','B'), or an Adobe flag other than
 *    0 or 1 on three components, is refused: there is no telling what it holds.
 * 2. Otherwise the container's label, which libjpeg is made to follow by an Adobe APP14 stating it.
 *    The case that needs it is common: Aperio SVS tiles are RGB without any colour marker and component
 *    ids 0, 1, 2, which libjpeg takes for YCbCr; a converter that copies them into DICOM or OME-TIFF as
 *    RGB without adding a marker relies on the reader trusting the label. (OrthancWSIDicomizer 1.1 adds
 *    an Adobe APP14 with flag 0 to the tiles it copies, so for its output rule 1 and the label agree.)
 * 3. Except: an RGB label on a stream that says nothing and numbers its components 1, 2, 3 is refused.
 *    Those are libjpeg's (and libtiff's) ids for YCbCr; libtiff's and Aperio's RGB writers number them
 *    0, 1, 2, and RGB encoders that number them 1, 2, 3 write an Adobe marker. Such a stream is most
 *    likely YCbCr mislabelled, and reading it either way could give wrong colours.
 *
 * So a well-formed stream is always decoded right, a mislabelled one whenever its stream says what it
 * is (the usual mislabel, a JFIF stream wrapped as RGB, included), and none is decoded in colours that
 * are a guess.
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
  /** Horizontal and vertical sampling factors. */
  h: number;
  v: number;
  quantTable: number;
}

export interface JpegFrame {
  /** The SOF marker: 0xC0 baseline, 0xC1 extended, 0xC2 progressive, others lossless, hierarchical or arithmetic. */
  marker: number;
  /** Sample precision in bits. */
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

/** A JPEG header that cannot be read: the data is damaged or is no JPEG. */
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
 * with `jfifIds` whether its component ids are 1, 2, 3; `conflict` when it says both.
 */
export type StreamColour =
  { colour: JpegColour; evidence: string } | { colour: null; jfifIds: boolean } | { conflict: string };

const RGB_IDS = [0x52, 0x47, 0x42];
const JFIF_IDS = [1, 2, 3];
const hasIds = (frame: JpegFrame, ids: readonly number[]) => frame.components.every((c, i) => c.id === ids[i]);

/**
 * The colour space a 3-component stream declares (rule 1 of the module comment), from its own markers
 * and those of its tables stream (a TIFF's JPEGTables) when `headers` holds both.
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
  if (hasIds(frame, RGB_IDS)) claims.push(['rgb', "component ids 'R', 'G', 'B'"]);
  const [luma, ...chroma] = frame.components;
  if (chroma.some((c) => c.h !== luma!.h || c.v !== luma!.v))
    claims.push(['ycbcr', `chroma subsampling (${frame.components.map((c) => `${c.h}×${c.v}`).join(', ')})`]);
  const colours = new Set(claims.map(([c]) => c));
  const evidence = [...new Set(claims.map(([, why]) => why))].join(' and ');
  if (colours.size > 1) return { conflict: `the JPEG stream contradicts itself: ${evidence}` };
  if (claims.length) return { colour: claims[0]![0], evidence };
  return { colour: null, jfifIds: hasIds(frame, JFIF_IDS) };
}

/**
 * The colour space to decode a stream in when its container labels it `label` (the whole rule of the
 * module comment): `colour`, with the stream's `evidence` when that decided it, or `refuse`, the reason
 * it cannot be decoded faithfully. `labelText` names the label in that reason ('tagged Photometric RGB').
 */
export function decodingColour(
  said: StreamColour,
  label: JpegColour,
  labelText: string,
): { colour: JpegColour; evidence: string | null } | { refuse: string } {
  if ('conflict' in said) return { refuse: said.conflict };
  if (said.colour) return { colour: said.colour, evidence: said.evidence };
  if (said.jfifIds && label === 'rgb')
    return {
      refuse: `${labelText}, but its JPEG stream numbers its components 1, 2, 3 as YCbCr streams do, with no marker saying which it is`,
    };
  return { colour: label, evidence: null };
}

/** The colour space libjpeg assumes for a 3-component stream on its own (jdapimin.c's default_decompress_parms). */
function libjpegColour(header: JpegHeader, frame: JpegFrame): JpegColour {
  if (header.jfif) return 'ycbcr';
  if (header.adobeTransform !== null) return header.adobeTransform === 0 ? 'rgb' : 'ycbcr';
  return hasIds(frame, RGB_IDS) ? 'rgb' : 'ycbcr';
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
 * A standalone 3-component stream that libjpeg decodes as `colour`: the stream itself when it has no
 * separate tables and libjpeg would take it for `colour` anyway; otherwise the tables (a TIFF's
 * JPEGTables, if any) put in front of the stream's own segments, every JFIF and Adobe marker dropped,
 * and one Adobe marker added saying `colour`, which libjpeg obeys before its guesses from component ids.
 */
export function standaloneJpeg(stream: ParsedJpeg, tables: ParsedJpeg | null, colour: JpegColour): Uint8Array {
  const { frame } = stream.header;
  if (!tables && frame && libjpegColour(stream.header, frame) === colour) return stream.data;
  const parts: Uint8Array[] = [Uint8Array.of(0xff, SOI), adobeMarker(colour)];
  for (const { data, header } of tables ? [tables, stream] : [stream]) {
    for (const s of header.segments) if (!statesColour(data, s)) parts.push(data.subarray(s.start, s.end));
  }
  parts.push(stream.data.subarray(stream.header.headerEnd));
  return Buffer.concat(parts);
}
