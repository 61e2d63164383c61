/**
 * JPEG streams for tests, in the colour space and with the colour signalling a test chooses (the
 * cases src/wsi/jpeg-stream.ts tells apart), for DICOM frames (dicom-fixtures.ts) and TIFF tiles
 * (tiff-writer.ts).
 *
 * Y Cb Cr: sharp's `.jpeg()` (libvips: component ids 1, 2, 3), its own APP0 and APP14 markers taken out
 * and the chosen one put in. R G B (components R, G, B, no colour transform, as Aperio's tiles are):
 * libvips has no option for it, so the stream is put together from three greyscale JPEGs of the R, G
 * and B planes, as one frame with one non-interleaved scan per component (legal in sequential JPEG):
 * the entropy-coded data of a one-component scan with 1×1 sampling is the same as a greyscale image's,
 * so nothing is re-encoded. Standard Huffman tables (no optimised coding) and one quality give every
 * plane, and every tile, the same tables: the components share them, and a TIFF's tiles can share
 * JPEGTables.
 */
import sharp from 'sharp';
import { readJpegHeader, type JpegHeader } from '../src/wsi/jpeg-stream.js';

export interface JpegOptions {
  /** What the components hold: Y Cb Cr (the encoder's colour transform) or R G B (none). */
  colour: 'ycbcr' | 'rgb';
  /** The colour marker written: JFIF APP0 (ycbcr only), an Adobe APP14 with the matching flag, or none. */
  marker: 'jfif' | 'adobe' | 'none';
  /** ycbcr only (default '4:2:0'). */
  subsampling?: '4:2:0' | '4:4:4';
  /** rgb only: the component ids (default 'R', 'G', 'B', as libjpeg writes them). */
  componentIds?: readonly [number, number, number];
  /** Default 90. */
  quality?: number;
}

const APP0 = 0xe0;
const APP14 = 0xee;
const DQT = 0xdb;
const DHT = 0xc4;
const SOI = Uint8Array.of(0xff, 0xd8);
const EOI = Uint8Array.of(0xff, 0xd9);
const segment = (marker: number, body: readonly number[]) =>
  Uint8Array.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body]);
/** JFIF APP0 1.01, no units, 1:1 density, no thumbnail. */
const JFIF = segment(APP0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const ADOBE = (transform: number) => segment(APP14, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, transform]);

/** The segments of `h` with one of `markers`, end to end. */
const segmentsOf = (data: Uint8Array, h: JpegHeader, ...markers: number[]) =>
  Buffer.concat(h.segments.filter((s) => markers.includes(s.marker)).map((s) => data.subarray(s.start, s.end)));

/** A baseline JPEG of interleaved RGB (`width` × `height`), with its components and colour marker as `o` says. */
export async function encodeJpeg(rgb: Uint8Array, width: number, height: number, o: JpegOptions): Promise<Uint8Array> {
  const quality = o.quality ?? 90;
  if (o.colour === 'ycbcr') {
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({ quality, chromaSubsampling: o.subsampling ?? '4:2:0', optimiseCoding: false })
      .toBuffer();
    const h = readJpegHeader(jpeg);
    const kept = h.segments.filter((s) => s.marker !== APP0 && s.marker !== APP14);
    const marker = o.marker === 'jfif' ? [JFIF] : o.marker === 'adobe' ? [ADOBE(1)] : [];
    return plain([SOI, ...marker, ...kept.map((s) => jpeg.subarray(s.start, s.end)), jpeg.subarray(h.headerEnd)]);
  }
  if (o.marker === 'jfif') throw new Error('an RGB JPEG with a JFIF marker would say YCbCr');
  const ids = o.componentIds ?? [0x52, 0x47, 0x42];
  const greys = await Promise.all(
    [0, 1, 2].map((c) => {
      const plane = Buffer.alloc(width * height);
      for (let i = 0; i < plane.length; i++) plane[i] = rgb[i * 3 + c]!;
      // b-w: sharp would otherwise write its sRGB output, three components.
      return sharp(plane, { raw: { width, height, channels: 1 } })
        .toColourspace('b-w')
        .jpeg({ quality, optimiseCoding: false })
        .toBuffer();
    }),
  );
  const headers = greys.map((g) => readJpegHeader(g));
  const tables = segmentsOf(greys[0]!, headers[0]!, DQT, DHT);
  greys.forEach((g, i) => {
    if (!segmentsOf(g, headers[i]!, DQT, DHT).equals(tables))
      throw new Error('the planes were coded with different tables');
    const frame = headers[i]!.frame;
    if (frame?.marker !== 0xc0 || frame.components.length !== 1 || frame.components[0]!.quantTable !== 0)
      throw new Error('sharp wrote a greyscale JPEG that is not baseline with one component on table 0');
    if (g.at(-2) !== 0xff || g.at(-1) !== 0xd9) throw new Error('a greyscale JPEG does not end with EOI');
  });
  // SOF0: precision 8, size, 3 components sampled 1×1, all on quantisation table 0.
  const sof = segment(0xc0, [
    8,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    3,
    ...ids.flatMap((id) => [id, 0x11, 0]),
  ]);
  const parts: Uint8Array[] = [SOI, ...(o.marker === 'adobe' ? [ADOBE(0)] : []), tables, sof];
  greys.forEach((g, c) => {
    // SOS: one component, DC/AC tables 0, spectral selection 0–63, no approximation.
    parts.push(segment(0xda, [1, ids[c]!, 0x00, 0, 63, 0]), g.subarray(headers[c]!.headerEnd, g.length - 2));
  });
  return plain([...parts, EOI]);
}

/** The parts end to end, as a plain Uint8Array (a Buffer's slice() would share its bytes with the copy a test edits). */
const plain = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
