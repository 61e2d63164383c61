/**
 * Which colour space a JPEG frame's components are in, and how to make libjpeg agree.
 *
 * A JPEG stream does not have to say whether its three components are Y Cb Cr or R G B. libjpeg
 * (behind sharp) decides from markers: a JFIF APP0 means YCbCr; else an Adobe APP14's transform flag
 * (0 = RGB, 1 = YCbCr); else component ids 'R','G','B' mean RGB; and anything else is taken for YCbCr.
 * DICOM says it with Photometric Interpretation: YBR_FULL_422 / YBR_FULL for a stream whose encoder
 * applied the colour transform, RGB for one whose components are R, G and B. The two can disagree, and
 * then one of them is wrong. The rule here (the encoder's own word first, the DICOM header otherwise):
 *
 * 1. What the stream says explicitly, because its encoder wrote it about these very bytes: an Adobe
 *    APP14 transform flag; a JFIF APP0 (JFIF mandates YCbCr); component ids 'R','G','B'; or chroma
 *    subsampling (components sampled at different rates: nobody subsamples G and B, an encoder does
 *    that to Cb and Cr). A stream that says both (a JFIF APP0 with an Adobe flag of 0), or an Adobe
 *    flag other than 0 or 1 on three components, is refused: there is no telling what it holds.
 * 2. Otherwise the DICOM header, which is normative (PS3.5 8.2.1), and libjpeg is made to follow it:
 *    an Adobe APP14 with the header's transform is put after SOI. The case that needs it is common:
 *    Aperio SVS tiles are RGB without any colour marker and component ids 0, 1, 2, which libjpeg takes
 *    for YCbCr; a converter that copies them into DICOM as RGB without adding a marker relies on the
 *    decoder trusting the header. (OrthancWSIDicomizer 1.1 does add an Adobe APP14 with flag 0 to the
 *    CMU-1 tiles it copies, so for its output rule 1 and the header agree.)
 *
 * So a mislabelled file is decoded right whenever its stream says what it is (the usual mislabel, a
 * JFIF stream wrapped as RGB, included), a well-formed one always is, and the one undetectable case
 * (YCbCr without markers or subsampling, labelled RGB) is decoded as its header says, as dcmtk does.
 */
import { FrameDecodeError } from './frame-error.js';

export interface JpegComponent {
  id: number;
  /** Horizontal and vertical sampling factors. */
  h: number;
  v: number;
}

/** What the header segments of a JPEG stream (up to its first SOS) say. */
export interface JpegHeader {
  /** The SOF marker's code (0xc0 baseline, 0xc1 extended, 0xc2 progressive, 0xc3 lossless, …). */
  sof: number;
  /** Sample precision in bits. */
  precision: number;
  width: number;
  height: number;
  components: JpegComponent[];
  jfif: boolean;
  /** The Adobe APP14 marker's transform flag, or null without one. */
  adobeTransform: number | null;
}

export type JpegColour = 'rgb' | 'ycbcr';

const SOI = 0xd8;
const SOS = 0xda;
const EOI = 0xd9;
const APP0 = 0xe0;
const APP14 = 0xee;
/** SOF0–SOF15 less DHT (c4), JPG (c8) and DAC (cc). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Markers without a length: TEM and RST0–7. */
const isStandalone = (m: number) => m === 0x01 || (m >= 0xd0 && m <= 0xd7);

const ascii = (data: Uint8Array, at: number, text: string) =>
  text.split('').every((c, i) => data[at + i] === c.charCodeAt(0));

/** Reads the marker segments before the first scan. Throws FrameDecodeError('corrupt') on a malformed header. */
export function readJpegHeader(data: Uint8Array): JpegHeader {
  const corrupt = (why: string) => new FrameDecodeError('corrupt', `JPEG frame: ${why}`);
  if (data[0] !== 0xff || data[1] !== SOI) throw corrupt('no SOI marker at the start');
  let sof: Omit<JpegHeader, 'jfif' | 'adobeTransform'> | null = null;
  let jfif = false;
  let adobeTransform: number | null = null;
  let at = 2;
  for (;;) {
    if (at + 1 >= data.length) throw corrupt('the header ends before the first scan');
    if (data[at] !== 0xff) throw corrupt(`no marker at byte ${at}`);
    const marker = data[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (isStandalone(marker)) {
      at += 2;
      continue;
    }
    if (marker === EOI) throw corrupt('EOI before any scan');
    if (at + 3 >= data.length) throw corrupt('the header ends inside a marker');
    const length = (data[at + 2]! << 8) | data[at + 3]!;
    const body = at + 4;
    const end = at + 2 + length;
    if (length < 2 || end > data.length) throw corrupt(`marker 0x${marker.toString(16)} runs past the end`);
    if (marker === SOS) {
      if (!sof) throw corrupt('a scan before any SOF marker');
      return { ...sof, jfif, adobeTransform };
    }
    if (isSof(marker)) {
      const count = data[body + 5]!;
      if (length < 8 + 3 * count) throw corrupt('SOF marker too short for its components');
      const components: JpegComponent[] = [];
      for (let c = 0; c < count; c++) {
        const sampling = data[body + 7 + 3 * c]!;
        components.push({ id: data[body + 6 + 3 * c]!, h: sampling >> 4, v: sampling & 15 });
      }
      sof = {
        sof: marker,
        precision: data[body]!,
        height: (data[body + 1]! << 8) | data[body + 2]!,
        width: (data[body + 3]! << 8) | data[body + 4]!,
        components,
      };
    } else if (marker === APP0 && length >= 7 && ascii(data, body, 'JFIF\0')) {
      jfif = true;
    } else if (marker === APP14 && length >= 14 && ascii(data, body, 'Adobe')) {
      adobeTransform = data[body + 11]!;
    }
    at = end;
  }
}

/** The colour space libjpeg will assume for three components (jdapimin.c's default_decompress_parms). */
export function libjpegColour(header: JpegHeader): JpegColour {
  if (header.jfif) return 'ycbcr';
  if (header.adobeTransform !== null) return header.adobeTransform === 0 ? 'rgb' : 'ycbcr';
  return isRgbIds(header) ? 'rgb' : 'ycbcr';
}

const isRgbIds = (header: JpegHeader) => header.components.map((c) => String.fromCharCode(c.id)).join('') === 'RGB';

/** What the stream itself says about its three components (rule 1), or null when it says nothing. */
function streamColour(header: JpegHeader): JpegColour | null {
  const { jfif, adobeTransform } = header;
  if (adobeTransform !== null) {
    if (adobeTransform !== 0 && adobeTransform !== 1) {
      throw new FrameDecodeError(
        'unsupported',
        `JPEG frame: an Adobe APP14 colour transform of ${adobeTransform} on three components is not supported`,
      );
    }
    if (jfif && adobeTransform === 0) {
      throw new FrameDecodeError(
        'unsupported',
        'JPEG frame: its JFIF marker says YCbCr and its Adobe marker says RGB; its colours cannot be known',
      );
    }
    return adobeTransform === 0 ? 'rgb' : 'ycbcr';
  }
  if (jfif) return 'ycbcr';
  if (isRgbIds(header)) return 'rgb';
  const [first, ...rest] = header.components;
  if (rest.some((c) => c.h !== first!.h || c.v !== first!.v)) return 'ycbcr';
  return null;
}

/** The colour space of a three-component frame labelled `photometric`, by the rule in the module comment. */
export function jpegColour(header: JpegHeader, photometric: string): JpegColour {
  const labelled: JpegColour | null =
    photometric === 'RGB' ? 'rgb' : photometric === 'YBR_FULL_422' || photometric === 'YBR_FULL' ? 'ycbcr' : null;
  if (!labelled) {
    throw new FrameDecodeError(
      'unsupported',
      `JPEG frame: Photometric Interpretation ${photometric} is not supported with three components`,
    );
  }
  return streamColour(header) ?? labelled;
}

/**
 * The stream with an Adobe APP14 marker right after SOI saying `colour`, so libjpeg decodes it as
 * that. Only called for streams without a JFIF or Adobe marker (rule 2), where libjpeg would otherwise
 * guess from the component ids.
 */
export function withAdobeMarker(data: Uint8Array, colour: JpegColour): Uint8Array {
  // APP14, length 14, "Adobe", version 100, flags0 0, flags1 0, transform.
  const marker = [0xff, APP14, 0, 14, 0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, colour === 'rgb' ? 0 : 1];
  const out = new Uint8Array(data.length + marker.length);
  out.set(data.subarray(0, 2));
  out.set(marker, 2);
  out.set(data.subarray(2), 2 + marker.length);
  return out;
}
