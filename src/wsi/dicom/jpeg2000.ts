/**
 * JPEG 2000 frames (DICOM's 1.2.840.10008.1.2.4.90 lossless and .91), decoded with OpenJPEG's WASM
 * build. A codestream carries no colour space; what it shows is whether the codec applied its
 * multiple-component transform (COD's MCT flag) and whether any component is subsampled. The rule:
 *
 * - With the transform, OpenJPEG undoes it, and the output is what the encoder was given: R G B,
 *   labelled YBR_RCT/YBR_ICT as PS3.5 8.2.4 asks, or RGB as some writers do.
 * - Without it, the components are what the encoder was given: R G B for RGB; Y Cb Cr for YBR_FULL
 *   (a writer that converted the pixels itself says so), converted here.
 * - YBR_FULL_422 names JPEG's transform and 4:2:2 chroma; on a full-resolution codestream it is a
 *   label carried over from JPEG, and the encoder was given R G B. OrthancWSIDicomizer 1.1 writes
 *   exactly this (lossless, no MCT, YBR_FULL_422): its frames of CMU-1-Small-Region read this way
 *   equal OpenSlide's read of the source SVS (mean absolute difference 0; read as Y Cb Cr, 18–105).
 * - YBR_ICT/YBR_RCT without the transform is refused: the label says the codec transformed the
 *   components and the codestream says it did not, so they could be R G B or a writer's own Y Cb Cr.
 *   So is YBR_FULL with the transform, and anything subsampled or beyond 8 bits.
 */
import { FrameDecodeError } from './frame-error.js';
import { samplesToRgb, type SampleSpace } from './native-pixels.js';
import { openJpeg } from './wasm-codecs.js';

interface CodestreamHeader {
  width: number;
  height: number;
  components: { precision: number; signed: boolean; dx: number; dy: number }[];
  /** COD's multiple component transformation flag (main header). */
  mct: boolean;
}

const SIZ = 0xff51;
const COD = 0xff52;
const SOT = 0xff90;
const JP2_SIGNATURE = [0, 0, 0, 12, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];

const corrupt = (why: string) => new FrameDecodeError('corrupt', `JPEG 2000 frame: ${why}`);
const unsupported = (why: string) => new FrameDecodeError('unsupported', `JPEG 2000 frame: ${why}`);

/** The codestream itself: DICOM asks for a bare one, but some writers wrap it in a JP2 file (its jp2c box). */
function codestreamOf(data: Uint8Array): Uint8Array {
  if (!JP2_SIGNATURE.every((b, i) => data[i] === b)) return data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at + 8 <= data.length;) {
    const size32 = view.getUint32(at);
    const type = String.fromCharCode(...data.subarray(at + 4, at + 8));
    const header = size32 === 1 ? 16 : 8;
    const size = size32 === 0 ? data.length - at : size32 === 1 ? Number(view.getBigUint64(at + 8)) : size32;
    if (size < header || at + size > data.length) break;
    if (type === 'jp2c') return data.subarray(at + header, at + size);
    at += size;
  }
  throw corrupt('a JP2 file without a codestream (jp2c) box');
}

/** SIZ and COD of the main header (the markers before the first tile-part). */
function readCodestreamHeader(cs: Uint8Array): CodestreamHeader {
  const view = new DataView(cs.buffer, cs.byteOffset, cs.byteLength);
  if (cs.length < 4 || view.getUint16(0) !== 0xff4f) throw corrupt('no SOC marker at the start');
  let size: Omit<CodestreamHeader, 'mct'> | null = null;
  let mct: boolean | null = null;
  for (let at = 2; at + 4 <= cs.length;) {
    const marker = view.getUint16(at);
    if (marker === SOT) break;
    const length = view.getUint16(at + 2);
    if (at + 2 + length > cs.length) throw corrupt(`marker 0x${marker.toString(16)} runs past the end`);
    if (marker === SIZ) {
      const count = view.getUint16(at + 38);
      const components = [];
      for (let c = 0; c < count; c++) {
        const ssiz = cs[at + 40 + 3 * c]!;
        components.push({
          precision: (ssiz & 0x7f) + 1,
          signed: ssiz >= 0x80,
          dx: cs[at + 41 + 3 * c]!,
          dy: cs[at + 42 + 3 * c]!,
        });
      }
      size = {
        width: view.getUint32(at + 6) - view.getUint32(at + 14),
        height: view.getUint32(at + 10) - view.getUint32(at + 18),
        components,
      };
    } else if (marker === COD) {
      mct = cs[at + 8] === 1;
    }
    at += 2 + length;
  }
  if (!size || mct === null) throw corrupt('no SIZ or COD marker in the main header');
  return { ...size, mct };
}

/** The space OpenJPEG's output is in, for a codestream labelled `photometric` (the module comment's rule). */
function outputSpace(header: CodestreamHeader, photometric: string): SampleSpace {
  const count = header.components.length;
  if (count === 1 && photometric === 'MONOCHROME2') return 'MONOCHROME2';
  if (count === 3) {
    if (photometric === 'RGB' || photometric === 'YBR_FULL_422') return 'RGB';
    if (header.mct && (photometric === 'YBR_ICT' || photometric === 'YBR_RCT')) return 'RGB';
    if (!header.mct && photometric === 'YBR_FULL') return 'YBR_FULL';
    if (!header.mct && (photometric === 'YBR_ICT' || photometric === 'YBR_RCT')) {
      throw unsupported(
        `Photometric Interpretation ${photometric} on a codestream without a multiple-component transform is not supported (its components could be R G B or Y Cb Cr)`,
      );
    }
  }
  const transform = count === 3 ? (header.mct ? ' with' : ' without') + ' a multiple-component transform' : '';
  throw unsupported(`${count} components with Photometric Interpretation ${photometric}${transform} are not supported`);
}

/** Interleaved RGB of a JPEG 2000 frame, `width` × `height`, whose DICOM header says `photometric`. */
export async function decodeJpeg2000Frame(
  data: Uint8Array,
  photometric: string,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const codestream = codestreamOf(data);
  const header = readCodestreamHeader(codestream);
  const component = header.components.find((c) => c.precision !== 8 || c.signed);
  if (component)
    throw unsupported(`${component.signed ? 'signed ' : ''}${component.precision}-bit samples are not supported`);
  if (header.components.some((c) => c.dx !== 1 || c.dy !== 1))
    throw unsupported('subsampled components are not supported');
  const space = outputSpace(header, photometric);
  if (header.width !== width || header.height !== height) {
    throw corrupt(`codestream is ${header.width}×${header.height}, the frame ${width}×${height}`);
  }
  const samples = await openJpeg.run((codec, printed) => {
    const decoder = new codec.J2KDecoder();
    try {
      decoder.getEncodedBuffer(codestream.length).set(codestream);
      decoder.decode();
      const decoded = decoder.getDecodedBuffer();
      const info = decoder.getFrameInfo();
      // OpenJPEG's wrapper prints an error and returns, rather than throwing, when a codestream fails.
      if (
        info.width !== width ||
        info.height !== height ||
        decoded.length !== width * height * header.components.length
      ) {
        throw corrupt(`does not decode${printed() ? ` (${printed()})` : ''}`);
      }
      return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.length);
    } finally {
      decoder.delete();
    }
  });
  return samplesToRgb(samples, width * height, space, 'interleaved');
}
