/**
 * Decodes a whole JPEG stream — a DICOM frame or a TIFF tile, its colour space already settled by
 * jpeg-stream.ts — to interleaved 8-bit samples.
 *
 * libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0), called through koffi on libuv's threads,
 * where the library is installed; sharp otherwise. Both are the same libjpeg-turbo and give the same
 * samples, but sharp spends more CPU on libvips' pipeline around each small frame than on decoding
 * it, which made tiling DICOM slides slower than OpenSlide tiling their TIFF source (bench:slides;
 * docs/performance.md#jpeg-frames).
 */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';
import sharp from 'sharp';

/** Debian's libturbojpeg0 (TurboJPEG API 2.x). */
const TURBOJPEG_LIBRARY = 'libturbojpeg.so.0';
/** TurboJPEG's pixel formats for tjDecompress2. */
const TJPF_RGB = 0;
const TJPF_GRAY = 6;
/** A warning (a stream cut short, say) stops the decode and is reported: no half-grey frame. */
const TJFLAG_STOPONWARNING = 8192;

type Fn = ReturnType<Koffi.LibraryHandle['func']>;
type Handle = unknown;

interface TurboJpeg {
  initDecompress: Fn;
  decompress: Fn;
  errorText: Fn;
  /** Decompressor handles not in use: a handle serves one call at a time, so each call in flight takes one. */
  idle: Handle[];
}

let turbo: TurboJpeg | null | undefined;

/** The TurboJPEG binding, loaded on first use; null when the library is not installed. */
function turboJpeg(): TurboJpeg | null {
  if (turbo !== undefined) return turbo;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
    const lib = koffi.load(TURBOJPEG_LIBRARY);
    turbo = {
      initDecompress: lib.func('void *tjInitDecompress()'),
      // Buffers are `void *`: koffi passes the typed arrays' memory in place, also to the calls that
      // run on libuv's threads.
      decompress: lib.func(
        'int tjDecompress2(void *handle, const void *jpegBuf, unsigned long jpegSize, void *dstBuf, int width, int pitch, int height, int pixelFormat, int flags)',
      ),
      errorText: lib.func('const char *tjGetErrorStr2(void *handle)'),
      idle: [],
    };
  } catch {
    turbo = null;
  }
  return turbo;
}

/** Which decoder runs: 'turbojpeg' when libturbojpeg0 is installed, else 'sharp'. */
export function jpegDecoder(): 'turbojpeg' | 'sharp' {
  return turboJpeg() ? 'turbojpeg' : 'sharp';
}

/**
 * The `width` × `height` image of `stream` as `channels` interleaved 8-bit samples (3: RGB, 1: grey),
 * in the colour space libjpeg reads from the stream's markers. Throws the decoder's own words when
 * the stream does not decode, or decodes to another size.
 */
export async function decodeJpeg(
  stream: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  /** Which decoder (default: jpegDecoder()); the tests run both on the same streams. */
  decoder = jpegDecoder(),
): Promise<Uint8Array> {
  if (decoder === 'sharp') return decodeWithSharp(stream, width, height, channels);
  const tj = turboJpeg();
  if (!tj) throw new Error(`TurboJPEG: ${TURBOJPEG_LIBRARY} is not installed`);
  return decodeWithTurboJpeg(tj, stream, width, height, channels);
}

async function decodeWithTurboJpeg(
  tj: TurboJpeg,
  stream: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Promise<Uint8Array> {
  const handle = tj.idle.pop() ?? tj.initDecompress();
  if (!handle) throw new Error('TurboJPEG: cannot create a decompressor');
  const out = new Uint8Array(width * height * channels);
  const pixelFormat = channels === 3 ? TJPF_RGB : TJPF_GRAY;
  try {
    // The size asked for must be the stream's own: TurboJPEG would otherwise pick a scaled size.
    const status = await new Promise<number>((resolve, reject) =>
      tj.decompress.async(
        handle,
        stream,
        stream.length,
        out,
        width,
        0,
        height,
        pixelFormat,
        TJFLAG_STOPONWARNING,
        (err: unknown, result: number) => (err ? reject(err) : resolve(result)),
      ),
    );
    if (status !== 0) {
      // libjpeg's words went to the worker thread's own error buffer: decode again on this thread,
      // once, to read them (a failing stream is the rare case).
      tj.decompress(handle, stream, stream.length, out, width, 0, height, pixelFormat, TJFLAG_STOPONWARNING);
      throw new Error(`libjpeg-turbo: ${tj.errorText(handle) as string}`);
    }
    return out;
  } finally {
    tj.idle.push(handle);
  }
}

async function decodeWithSharp(
  stream: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Promise<Uint8Array> {
  // ignoreIcc: the samples as they are (DICOM keeps the ICC profile apart; OpenSlide applies none).
  const image = sharp(stream, { ignoreIcc: true });
  // sharp hands back sRGB, three bands, unless told to keep a grey image grey.
  if (channels === 1) image.toColourspace('b-w');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== channels)
    throw new Error(
      `decoded to ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×${channels}`,
    );
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
