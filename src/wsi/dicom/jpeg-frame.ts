/**
 * JPEG baseline and extended (8-bit) frames, decoded by libjpeg-turbo (../jpeg-decoder.ts), in the
 * colour space ../jpeg-stream.ts settles on from the stream and the Photometric Interpretation.
 * Lossless, hierarchical and 12-bit JPEG are refused.
 */
import { decodeJpeg } from '../jpeg-decoder.js';
import {
  decodingColour,
  JpegStreamError,
  readJpegHeader,
  standaloneJpeg,
  streamColour,
  type JpegColour,
  type JpegHeader,
} from '../jpeg-stream.js';
import { FrameDecodeError } from './frame-error.js';
import { samplesToRgb } from './native-pixels.js';

/** SOF markers libjpeg decodes: baseline, extended and progressive, Huffman or arithmetic coded. */
const DCT_SOF = new Set([0xc0, 0xc1, 0xc2, 0xc9, 0xca]);

/** The colour space each three-component Photometric Interpretation labels a JPEG stream with. */
const LABELS: Record<string, JpegColour> = { RGB: 'rgb', YBR_FULL_422: 'ycbcr', YBR_FULL: 'ycbcr' };

/** Interleaved RGB of a JPEG frame whose DICOM header says `photometric` and `samplesPerPixel`. */
export async function decodeJpegFrame(
  data: Uint8Array,
  photometric: string,
  samplesPerPixel: number,
): Promise<Uint8Array> {
  let header: JpegHeader;
  try {
    header = readJpegHeader(data);
  } catch (e) {
    if (e instanceof JpegStreamError) throw new FrameDecodeError('corrupt', `JPEG frame: ${e.message}`);
    throw e;
  }
  const { frame } = header;
  if (!frame) throw new FrameDecodeError('corrupt', 'JPEG frame: no SOF marker before the first scan');
  if (!DCT_SOF.has(frame.marker)) {
    throw new FrameDecodeError(
      'unsupported',
      `JPEG frame: SOF marker 0x${frame.marker.toString(16)} (lossless or hierarchical JPEG) is not supported`,
    );
  }
  if (frame.precision !== 8) {
    throw new FrameDecodeError(
      'unsupported',
      `JPEG frame: ${frame.precision}-bit samples are not supported (8-bit only)`,
    );
  }
  const components = frame.components.length;
  if (components !== samplesPerPixel) {
    throw new FrameDecodeError(
      'corrupt',
      `JPEG frame has ${components} components, the header says Samples per Pixel ${samplesPerPixel}`,
    );
  }
  let stream = data;
  if (components === 3) {
    const label = LABELS[photometric];
    if (!label) {
      throw new FrameDecodeError(
        'unsupported',
        `JPEG frame: Photometric Interpretation ${photometric} is not supported with three components`,
      );
    }
    const decided = decodingColour(streamColour([header], frame), label, `Photometric Interpretation ${photometric}`);
    if ('refuse' in decided)
      throw new FrameDecodeError('unsupported', `JPEG frame: its colours cannot be known: ${decided.refuse}`);
    stream = standaloneJpeg({ data, header }, null, decided.colour);
  } else if (components !== 1 || photometric !== 'MONOCHROME2') {
    throw new FrameDecodeError(
      'unsupported',
      `JPEG frame: ${components} components with Photometric Interpretation ${photometric} are not supported`,
    );
  }
  let pixels: Uint8Array;
  try {
    pixels = await decodeJpeg(stream, frame.width, frame.height, components);
  } catch (e) {
    throw new FrameDecodeError('corrupt', `JPEG frame does not decode: ${(e as Error).message}`);
  }
  return components === 1 ? samplesToRgb(pixels, frame.width * frame.height, 'MONOCHROME2', 'interleaved') : pixels;
}
