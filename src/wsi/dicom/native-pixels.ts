/**
 * Decoded 8-bit samples to interleaved RGB: the last step for native (uncompressed) frames and for the
 * codecs that hand back samples in the colour space the DICOM header names (JPEG-LS, JPEG 2000 without
 * a component transform). YBR_FULL is converted with the equations of DICOM PS3.3 C.7.6.3.1.2 (those
 * of JFIF), in 16-bit fixed point as libjpeg does, so a native YBR frame and a JPEG one of the same
 * pixels come out the same.
 */
import { FrameDecodeError } from './frame-error.js';

const FIX = 16;
const HALF = 1 << (FIX - 1);
const fixed = (x: number) => Math.round(x * (1 << FIX));
/** Per-sample tables: Cr's share of R and G, Cb's share of G and B (B and R rounded, G summed then rounded). */
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const c = i - 128;
  CR_R[i] = (fixed(1.402) * c + HALF) >> FIX;
  CB_B[i] = (fixed(1.772) * c + HALF) >> FIX;
  CR_G[i] = -fixed(0.714136) * c;
  CB_G[i] = -fixed(0.344136) * c + HALF;
}

/** The colour spaces decoded samples can be in; anything else is refused before it gets here. */
export type SampleSpace = 'RGB' | 'YBR_FULL' | 'MONOCHROME2';

/**
 * `pixels` pixels of 8-bit samples, interleaved (RGBRGB…) or planar (RR…GG…BB…), in `space`, as a new
 * interleaved RGB array. Grey (MONOCHROME2, one sample per pixel) is repeated into R, G and B.
 */
export function samplesToRgb(
  samples: Uint8Array,
  pixels: number,
  space: SampleSpace,
  layout: 'interleaved' | 'planar',
): Uint8Array {
  const perPixel = space === 'MONOCHROME2' ? 1 : 3;
  if (samples.length < pixels * perPixel) {
    throw new FrameDecodeError(
      'corrupt',
      `frame holds ${samples.length} bytes, ${pixels * perPixel} expected for ${pixels} pixels of ${space}`,
    );
  }
  const rgb = new Uint8Array(pixels * 3);
  if (space === 'MONOCHROME2') {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) rgb[o] = rgb[o + 1] = rgb[o + 2] = samples[i]!;
    return rgb;
  }
  if (layout === 'planar') {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      rgb[o] = samples[i]!;
      rgb[o + 1] = samples[pixels + i]!;
      rgb[o + 2] = samples[2 * pixels + i]!;
    }
  } else {
    rgb.set(samples.subarray(0, pixels * 3));
  }
  if (space === 'YBR_FULL') ybrToRgbInPlace(rgb);
  return rgb;
}

/** Interleaved Y Cb Cr triples, converted to R G B where they lie. */
function ybrToRgbInPlace(samples: Uint8Array): void {
  const clamped = new Uint8ClampedArray(samples.buffer, samples.byteOffset, samples.length);
  for (let o = 0; o < samples.length; o += 3) {
    const y = samples[o]!;
    const cb = samples[o + 1]!;
    const cr = samples[o + 2]!;
    clamped[o] = y + CR_R[cr]!;
    clamped[o + 1] = y + ((CB_G[cb]! + CR_G[cr]!) >> FIX);
    clamped[o + 2] = y + CB_B[cb]!;
  }
}

/**
 * Native YBR_FULL_422 (PS3.3 C.7.6.3.1.2): each pair of pixels on a row is stored as Y1 Y2 Cb Cr, the
 * pair sharing its chroma. Width must be even, as the standard requires.
 */
export function ybr422ToRgb(samples: Uint8Array, width: number, height: number): Uint8Array {
  if (width % 2 !== 0) throw new FrameDecodeError('corrupt', `YBR_FULL_422 frame has an odd width (${width})`);
  const pixels = width * height;
  if (samples.length < pixels * 2) {
    throw new FrameDecodeError(
      'corrupt',
      `frame holds ${samples.length} bytes, ${pixels * 2} expected for YBR_FULL_422`,
    );
  }
  const ybr = new Uint8Array(pixels * 3);
  for (let i = 0, o = 0; i < pixels * 2; i += 4, o += 6) {
    ybr[o] = samples[i]!;
    ybr[o + 3] = samples[i + 1]!;
    ybr[o + 1] = ybr[o + 4] = samples[i + 2]!;
    ybr[o + 2] = ybr[o + 5] = samples[i + 3]!;
  }
  ybrToRgbInPlace(ybr);
  return ybr;
}
