/**
 * One frame (tile) of a DICOM WSI instance, from its encoded bytes to interleaved 8-bit RGB,
 * tileWidth × tileHeight (DICOM frames are whole tiles, those on the right and bottom edges too).
 *
 * Transfer syntaxes: JPEG baseline and 8-bit extended (sharp; colours by the rule in ../jpeg-stream.ts),
 * JPEG 2000 (OpenJPEG; jpeg2000.ts), JPEG-LS (CharLS; jpegls.ts), and native pixels, explicit or implicit
 * VR little endian or deflated (the reader inflates; the frame arrives native). Photometric
 * interpretations: RGB, YBR_FULL_422 and YBR_FULL (JPEG, native, and JPEG 2000 as jpeg2000.ts says),
 * YBR_ICT/YBR_RCT (JPEG 2000), MONOCHROME2. Everything else — another transfer syntax, more than 8 bits, another colour space — is
 * refused with a FrameDecodeError naming it: a frame decoded in the wrong colours would be indexed
 * as if it were right, so no guess is ever made.
 */
import type { EncodedFrame, WsiInstance } from './instance.js';
import { FrameDecodeError } from './frame-error.js';
import { decodeJpegFrame } from './jpeg-frame.js';
import { decodeJpeg2000Frame } from './jpeg2000.js';
import { decodeJpegLsFrame } from './jpegls.js';
import { samplesToRgb, ybr422ToRgb } from './native-pixels.js';

export { FrameDecodeError } from './frame-error.js';

export const TransferSyntax = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
} as const;

/** The transfer syntaxes decodeFrame reads (8-bit samples only), e.g. for a WADO-RS Accept header. */
export const DECODABLE_TRANSFER_SYNTAXES: readonly string[] = Object.values(TransferSyntax);

const NAMES: Record<string, string> = {
  [TransferSyntax.implicitLittle]: 'Implicit VR Little Endian',
  [TransferSyntax.explicitLittle]: 'Explicit VR Little Endian',
  [TransferSyntax.deflatedExplicitLittle]: 'Deflated Explicit VR Little Endian',
  [TransferSyntax.jpegBaseline]: 'JPEG Baseline',
  [TransferSyntax.jpegExtended]: 'JPEG Extended',
  [TransferSyntax.jpegLsLossless]: 'JPEG-LS Lossless',
  [TransferSyntax.jpegLsNearLossless]: 'JPEG-LS Near-Lossless',
  [TransferSyntax.jpeg2000Lossless]: 'JPEG 2000 Lossless',
  [TransferSyntax.jpeg2000]: 'JPEG 2000',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
};

/** "1.2.840.10008.1.2.4.50 (JPEG Baseline)", or the bare UID when it is not one of the names known here. */
export function describeTransferSyntax(uid: string): string {
  const name = NAMES[uid];
  return name ? `${uid} (${name})` : uid;
}

/** Interleaved RGB, instance.tileWidth × instance.tileHeight, of one encoded frame of `instance`. */
export async function decodeFrame(frame: EncodedFrame, instance: WsiInstance): Promise<Uint8Array> {
  const { tileWidth: width, tileHeight: height, photometricInterpretation: photometric } = instance;
  const { data, transferSyntaxUid: syntax } = frame;
  switch (syntax) {
    case TransferSyntax.jpegBaseline:
    case TransferSyntax.jpegExtended: {
      const rgb = await decodeJpegFrame(data, photometric, instance.samplesPerPixel);
      if (rgb.length !== width * height * 3) {
        throw new FrameDecodeError('corrupt', `JPEG frame is not ${width}×${height} (${rgb.length / 3} pixels)`);
      }
      return rgb;
    }
    case TransferSyntax.jpeg2000Lossless:
    case TransferSyntax.jpeg2000:
      return decodeJpeg2000Frame(data, photometric, width, height);
    case TransferSyntax.jpegLsLossless:
    case TransferSyntax.jpegLsNearLossless:
      return decodeJpegLsFrame(data, photometric, width, height);
    case TransferSyntax.implicitLittle:
    case TransferSyntax.explicitLittle:
    case TransferSyntax.deflatedExplicitLittle:
      return nativeFrameToRgb(data, instance);
    default:
      throw new FrameDecodeError('unsupported', `transfer syntax ${describeTransferSyntax(syntax)} is not supported`);
  }
}

/** Native frames: 8 bits per sample, RGB (either planar configuration), YBR_FULL, YBR_FULL_422 or MONOCHROME2. */
function nativeFrameToRgb(data: Uint8Array, instance: WsiInstance): Uint8Array {
  const { tileWidth: width, tileHeight: height, photometricInterpretation: photometric } = instance;
  if (instance.bitsAllocated !== 8) {
    throw new FrameDecodeError(
      'unsupported',
      `native frame: Bits Allocated ${instance.bitsAllocated} is not supported (8 only)`,
    );
  }
  const layout = instance.planarConfiguration === 1 ? 'planar' : 'interleaved';
  const refuse = () =>
    new FrameDecodeError(
      'unsupported',
      `native frame: Photometric Interpretation ${photometric} with ${instance.samplesPerPixel} samples per pixel is not supported`,
    );
  switch (photometric) {
    case 'RGB':
    case 'YBR_FULL':
    case 'YBR_FULL_422':
      if (instance.samplesPerPixel !== 3) throw refuse();
      return photometric === 'YBR_FULL_422'
        ? ybr422ToRgb(data, width, height)
        : samplesToRgb(data, width * height, photometric, layout);
    case 'MONOCHROME2':
      if (instance.samplesPerPixel !== 1) throw refuse();
      return samplesToRgb(data, width * height, photometric, layout);
    default:
      throw refuse();
  }
}
