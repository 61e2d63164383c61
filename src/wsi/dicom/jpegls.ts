/**
 * JPEG-LS frames (DICOM's 1.2.840.10008.1.2.4.80 lossless and .81 near-lossless), decoded with
 * CharLS's WASM build. JPEG-LS has no colour transform of its own that DICOM uses (CharLS undoes the HP
 * transforms itself), so the samples are in the colour space the header names: RGB, YBR_FULL or
 * MONOCHROME2.
 */
import { FrameDecodeError } from './frame-error.js';
import { samplesToRgb, type SampleSpace } from './native-pixels.js';
import { charls } from './wasm-codecs.js';

const SPACES: Record<string, SampleSpace> = { RGB: 'RGB', YBR_FULL: 'YBR_FULL', MONOCHROME2: 'MONOCHROME2' };

/** Interleaved RGB of a JPEG-LS frame, `width` × `height`, whose DICOM header says `photometric`. */
export async function decodeJpegLsFrame(
  data: Uint8Array,
  photometric: string,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const space = SPACES[photometric];
  if (!space) {
    throw new FrameDecodeError(
      'unsupported',
      `JPEG-LS frame: Photometric Interpretation ${photometric} is not supported`,
    );
  }
  const components = space === 'MONOCHROME2' ? 1 : 3;
  const { samples, planar } = await charls.run((codec, printed) => {
    const decoder = new codec.JpegLSDecoder();
    try {
      decoder.getEncodedBuffer(data.length).set(data);
      try {
        decoder.decode();
      } catch {
        // CharLS throws C++ exceptions, which reach JavaScript as bare pointers: only the fact is known.
        throw new FrameDecodeError('corrupt', `JPEG-LS frame does not decode${printed() ? ` (${printed()})` : ''}`);
      }
      const info = decoder.getFrameInfo();
      if (info.bitsPerSample !== 8) {
        throw new FrameDecodeError('unsupported', `JPEG-LS frame: ${info.bitsPerSample}-bit samples are not supported`);
      }
      if (info.width !== width || info.height !== height || info.componentCount !== components) {
        throw new FrameDecodeError(
          'corrupt',
          `JPEG-LS frame is ${info.width}×${info.height}×${info.componentCount}, ${width}×${height}×${components} expected`,
        );
      }
      const decoded = decoder.getDecodedBuffer();
      return {
        samples: new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.length),
        planar: decoder.getInterleaveMode() === 0,
      };
    } finally {
      decoder.delete();
    }
  });
  return samplesToRgb(samples, width * height, space, planar ? 'planar' : 'interleaved');
}
