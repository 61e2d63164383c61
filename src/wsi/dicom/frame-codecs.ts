/**
 * One frame (tile) of a DICOM WSI instance, from its encoded bytes to interleaved 8-bit RGB,
 * tileWidth × tileHeight (DICOM frames are whole tiles, those on the right and bottom edges too).
 *
 * Transfer syntaxes (UIDs in transfer-syntax.ts): JPEG baseline and 8-bit extended (sharp; colours by
 * the rule in ../jpeg-stream.ts), JPEG 2000 (OpenJPEG; jpeg2000.ts), JPEG-LS (CharLS; jpegls.ts), and
 * native pixels, explicit or implicit VR little endian or deflated (the reader inflates; the frame
 * arrives native). Photometric interpretations: RGB, YBR_FULL_422 and YBR_FULL (JPEG, native, and
 * JPEG 2000 as jpeg2000.ts says), YBR_ICT/YBR_RCT (JPEG 2000), MONOCHROME2. Everything else — another
 * transfer syntax, more than 8 bits, another colour space — is refused with a FrameDecodeError naming
 * it: a frame decoded in the wrong colours would be indexed as if it were right, so no guess is ever
 * made.
 */
import type { EncodedFrame, WsiInstance } from './instance.js';
import { FrameDecodeError } from './frame-error.js';
import { decodeJpegFrame } from './jpeg-frame.js';
import { decodeJpeg2000Frame } from './jpeg2000.js';
import { decodeJpegLsFrame } from './jpegls.js';
import { samplesToRgb, ybr422ToRgb } from './native-pixels.js';
import { describeTransferSyntax, TransferSyntax } from './transfer-syntax.js';

// What callers of decodeFrame use with it: its error, and the transfer syntaxes by name.
export { FrameDecodeError } from './frame-error.js';
export { describeTransferSyntax, TransferSyntax } from './transfer-syntax.js';

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
