/**
 * The project's own writer of DICOM WSI Part 10 files (VL Whole Slide Microscopy Image, Supplement
 * 145), for tests that need no Debian package: one series per call, its instances the pyramid's
 * levels (each half the previous) and the label, overview and thumbnail images, with the attributes a
 * scanner writes (Image Type, Total Pixel Matrix, the Shared Functional Groups' Pixel Spacing, Plane
 * Positions per frame for TILED_SPARSE, Imaged Volume, patient, study, specimen and optical path).
 *
 * dcmjs writes the file meta and the data set. The Pixel Data group is written here: dcmjs always
 * puts a filled Basic Offset Table in front of encapsulated frames (no empty one, no Extended Offset
 * Table, whose OV VR it does not know) and writes the deflated transfer syntax without deflating.
 *
 * The frame encoders are exported for the codec tests. JPEG frames come from jpeg-fixtures.ts (sharp).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import type { Factory, FrameInfo } from '../src/wsi/dicom/wasm-codecs.js';
import { encodeJpeg } from './jpeg-fixtures.js';

export interface DicomWsiOptions {
  /** Dimension Organization Type TILED_FULL, or TILED_SPARSE with a Plane Position (Slide) per frame. */
  tiling?: 'full' | 'sparse';
  /** Frame width and height (default 256). */
  tileSize?: number;
  /** Pyramid levels, each half the previous (default 1). */
  levels?: number;
  /** Default 'jpeg'. 'native' is explicit VR little endian, 'implicit' implicit VR little endian. */
  transferSyntax?: 'jpeg' | 'jpeg2000' | 'jpegls' | 'native' | 'implicit' | 'deflate';
  /**
   * Default: YBR_FULL_422 for JPEG, YBR_ICT for JPEG 2000, RGB otherwise. JPEG 2000 with YBR_ICT is
   * lossy (.4.91), with YBR_RCT or RGB lossless (.4.90; RGB labels a codestream with the transform, as
   * some writers do). Native and deflate take RGB or YBR_FULL_422 (two samples a pixel); JPEG-LS RGB.
   */
  photometric?: 'RGB' | 'YBR_FULL_422' | 'YBR_ICT' | 'YBR_RCT';
  /** For encapsulated frames (default 'basic'). */
  offsetTable?: 'basic' | 'extended' | 'none';
  associated?: Array<'LABEL' | 'OVERVIEW' | 'THUMBNAIL'>;
  /** Default `${i}.dcm`: the levels first (0 = full resolution), then the associated images in the order given. */
  fileName?: (instanceIndex: number) => string;
  seriesInstanceUid?: string;
  studyInstanceUid?: string;
  patientId?: string;
  /** Level 0's pixel spacing in mm (default 0.0005, 0.5 µm). */
  pixelSpacingMm?: number;
  /** TILED_SPARSE only: tiles (column, row, 0-based) left out, as a scanner leaves out empty glass. */
  skipFrames?: (x: number, y: number) => boolean;
  /** JPEG quality (default 90). */
  quality?: number;
}

export interface DicomWsiFixture {
  dir: string;
  /** Absolute paths, in instance order. */
  files: string[];
  seriesInstanceUid: string;
  studyInstanceUid: string;
  patientId: string;
  /** What each level holds before encoding (level 0 is the image given), for comparisons. */
  levels: Array<{ width: number; height: number; rgb: Uint8Array }>;
  transferSyntaxUid: string;
}

export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

const SOP_CLASS_WSI = '1.2.840.10008.5.1.4.1.1.77.1.6';
const TRANSFER_SYNTAX = {
  jpeg: '1.2.840.10008.1.2.4.50',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  jpegls: '1.2.840.10008.1.2.4.80',
  native: '1.2.840.10008.1.2.1',
  implicit: '1.2.840.10008.1.2',
  deflate: '1.2.840.10008.1.2.1.99',
} as const;

/** A fresh UID under 2.25 (a UUID as a decimal integer, PS3.5 B.2). */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
}

// ---------------------------------------------------------------------------------------------
// Frame encoders

/** JFIF's forward transform (DICOM PS3.3 C.7.6.3.1.2), rounded: interleaved RGB to interleaved Y Cb Cr. */
export function rgbToYbr(rgb: Uint8Array): Uint8Array {
  const out = new Uint8ClampedArray(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i]!;
    const g = rgb[i + 1]!;
    const b = rgb[i + 2]!;
    out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    out[i + 1] = Math.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128);
    out[i + 2] = Math.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128);
  }
  return new Uint8Array(out.buffer);
}

/** The parts end to end, as a plain Uint8Array (a Buffer's slice() would share its bytes). */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

interface WasmEncoder {
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
interface J2kEncoder extends WasmEncoder {
  setQuality(lossless: boolean, layers: number): void;
  setCompressionRatio(layer: number, ratio: number): void;
}
interface JpegLsEncoder extends WasmEncoder {
  setInterleaveMode(mode: number): void;
  setNearLossless(near: number): void;
}
const require = createRequire(import.meta.url);
/** Emscripten's options: the module object itself, so each module needs its own. */
const silent = () => ({ print: () => undefined, printErr: () => undefined });
interface OpenJpeg {
  J2KEncoder: new () => J2kEncoder;
}
interface Charls {
  JpegLSEncoder: new () => JpegLsEncoder;
}
let openJpeg: Promise<OpenJpeg> | undefined;
let charls: Promise<Charls> | undefined;

/** Runs a WASM encoder on `samples`, returning a copy of what it encoded. */
function runEncoder(encoder: WasmEncoder, samples: Uint8Array, info: FrameInfo): Uint8Array {
  try {
    encoder.getDecodedBuffer(info).set(samples);
    encoder.encode();
    return Uint8Array.from(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
}

/**
 * A JPEG 2000 codestream (OpenJPEG; its encoder always applies the multiple-component transform to three
 * components: RCT when lossless, ICT when not). `samples` is interleaved RGB, or grey with `components`
 * 1 (16-bit little endian words when `bitsPerSample` is over 8).
 */
export async function encodeJpeg2000Frame(
  samples: Uint8Array,
  width: number,
  height: number,
  o: { lossless: boolean; components?: 1 | 3; compressionRatio?: number; bitsPerSample?: number },
): Promise<Uint8Array> {
  openJpeg ??= (require('@cornerstonejs/codec-openjpeg/wasmjs') as Factory<OpenJpeg>)(silent());
  const encoder = new (await openJpeg).J2KEncoder();
  if (!o.lossless) {
    encoder.setQuality(false, 1);
    encoder.setCompressionRatio(0, o.compressionRatio ?? 10);
  }
  return runEncoder(encoder, samples, {
    width,
    height,
    bitsPerSample: o.bitsPerSample ?? 8,
    componentCount: o.components ?? 3,
    isSigned: false,
  });
}

/**
 * A lossless JPEG 2000 codestream whose three components are `components` (interleaved) with no
 * multiple-component transform, which OpenJPEG's encoder cannot write: it is given the samples whose
 * reversible transform (RCT, ISO 15444-1 G.2: Y = ⌊(R + 2G + B)/4⌋, U = B − G, V = R − G, after the
 * level shift) are `components`, and the MCT flag in COD is then cleared. Throws when those samples
 * fall outside 0–255 (keep the components' second and third values near each other and the first).
 */
export async function encodeJpeg2000WithoutMct(
  components: Uint8Array,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const input = new Uint8Array(components.length);
  for (let i = 0; i < components.length; i += 3) {
    const u = components[i + 1]! - 128;
    const v = components[i + 2]! - 128;
    const g = components[i]! - Math.floor((u + v) / 4);
    const rgb = [g + v, g, g + u];
    if (rgb.some((x) => x < 0 || x > 255)) throw new Error(`components at sample ${i / 3} have no 8-bit RCT source`);
    input.set(rgb, i);
  }
  const codestream = await encodeJpeg2000Frame(input, width, height, { lossless: true });
  const view = new DataView(codestream.buffer, codestream.byteOffset, codestream.byteLength);
  for (let at = 2; at + 4 <= codestream.length; at += 2 + view.getUint16(at + 2)) {
    if (view.getUint16(at) === 0xff52) {
      codestream[at + 8] = 0; // COD: Lcod (2), Scod (1), progression (1), layers (2), then MCT
      return codestream;
    }
  }
  throw new Error('OpenJPEG wrote no COD marker');
}

/**
 * A JPEG-LS stream (CharLS) of interleaved RGB (or grey with `components` 1): interleave mode 0 is
 * planar, 1 by line, 2 by sample; `near` > 0 is near-lossless.
 */
export async function encodeJpegLsFrame(
  samples: Uint8Array,
  width: number,
  height: number,
  o: { interleave?: 0 | 1 | 2; near?: number; components?: 1 | 3 } = {},
): Promise<Uint8Array> {
  charls ??= (require('@cornerstonejs/codec-charls/wasmjs') as Factory<Charls>)(silent());
  const encoder = new (await charls).JpegLSEncoder();
  const components = o.components ?? 3;
  const interleave = components === 1 ? 0 : (o.interleave ?? 2);
  encoder.setInterleaveMode(interleave);
  encoder.setNearLossless(o.near ?? 0);
  const input = interleave === 0 && components === 3 ? toPlanar(samples) : samples;
  return runEncoder(encoder, input, { width, height, bitsPerSample: 8, componentCount: components });
}

/** Interleaved RGB (or Y Cb Cr) to planar: RR…GG…BB…. */
export function toPlanar(interleaved: Uint8Array): Uint8Array {
  const n = interleaved.length / 3;
  const planar = new Uint8Array(interleaved.length);
  for (let i = 0; i < n; i++) {
    planar[i] = interleaved[3 * i]!;
    planar[n + i] = interleaved[3 * i + 1]!;
    planar[2 * n + i] = interleaved[3 * i + 2]!;
  }
  return planar;
}

/** Native YBR_FULL_422 samples (PS3.3 C.7.6.3.1.2): per pair of pixels Y1 Y2 Cb Cr, the pair's chroma averaged. */
export function toYbr422(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const ybr = rgbToYbr(rgb);
  const out = new Uint8Array(width * height * 2);
  for (let p = 0, o = 0; p < width * height; p += 2, o += 4) {
    out[o] = ybr[3 * p]!;
    out[o + 1] = ybr[3 * p + 3]!;
    out[o + 2] = Math.round((ybr[3 * p + 1]! + ybr[3 * p + 4]!) / 2);
    out[o + 3] = Math.round((ybr[3 * p + 2]! + ybr[3 * p + 5]!) / 2);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The series

interface Encoding {
  syntax: string;
  photometric: string;
  encapsulated: boolean;
  /** (0028,2110) and (0028,2114), or null for lossless. */
  lossy: { method: string } | null;
  encode(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array>;
}

function encodingOf(o: DicomWsiOptions): Encoding {
  const kind = o.transferSyntax ?? 'jpeg';
  const wrong = () => new Error(`writeDicomWsi: photometric ${o.photometric} is not written with ${kind}`);
  switch (kind) {
    case 'jpeg': {
      const photometric = o.photometric ?? 'YBR_FULL_422';
      if (photometric !== 'RGB' && photometric !== 'YBR_FULL_422') throw wrong();
      const colour = photometric === 'RGB' ? 'rgb' : 'ycbcr';
      const marker = photometric === 'RGB' ? 'adobe' : 'jfif';
      return {
        syntax: TRANSFER_SYNTAX.jpeg,
        photometric,
        encapsulated: true,
        lossy: { method: 'ISO_10918_1' },
        encode: (rgb, w, h) => encodeJpeg(rgb, w, h, { colour, marker, quality: o.quality }),
      };
    }
    case 'jpeg2000': {
      const photometric = o.photometric ?? 'YBR_ICT';
      if (photometric === 'YBR_FULL_422') throw wrong();
      const lossless = photometric !== 'YBR_ICT';
      return {
        syntax: lossless ? TRANSFER_SYNTAX.jpeg2000Lossless : TRANSFER_SYNTAX.jpeg2000,
        photometric,
        encapsulated: true,
        lossy: lossless ? null : { method: 'ISO_15444_1' },
        encode: (rgb, w, h) => encodeJpeg2000Frame(rgb, w, h, { lossless }),
      };
    }
    case 'jpegls':
      if ((o.photometric ?? 'RGB') !== 'RGB') throw wrong();
      return {
        syntax: TRANSFER_SYNTAX.jpegls,
        photometric: 'RGB',
        encapsulated: true,
        lossy: null,
        encode: (rgb, w, h) => encodeJpegLsFrame(rgb, w, h),
      };
    case 'native':
    case 'implicit':
    case 'deflate': {
      const photometric = o.photometric ?? 'RGB';
      if (photometric !== 'RGB' && photometric !== 'YBR_FULL_422') throw wrong();
      return {
        syntax: TRANSFER_SYNTAX[kind],
        photometric,
        encapsulated: false,
        lossy: photometric === 'YBR_FULL_422' ? { method: 'ISO_10918_1' } : null,
        encode: (rgb, w, h) => Promise.resolve(photometric === 'RGB' ? rgb : toYbr422(rgb, w, h)),
      };
    }
  }
}

/** A level's or associated image's pixels, resized from the slide's image (level 0 is the image). */
async function resized(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (width === image.width && height === image.height) return image;
  const rgb = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { rgb: new Uint8Array(rgb), width, height };
}

/** The tile at (tx, ty), white beyond the image's right and bottom edges (DICOM frames are whole tiles). */
function cutTile(image: RgbImage, tx: number, ty: number, tileWidth: number, tileHeight: number): Uint8Array {
  const tile = new Uint8Array(tileWidth * tileHeight * 3).fill(255);
  const x0 = tx * tileWidth;
  const y0 = ty * tileHeight;
  const w = Math.min(tileWidth, image.width - x0);
  for (let y = 0; y < Math.min(tileHeight, image.height - y0); y++) {
    const from = ((y0 + y) * image.width + x0) * 3;
    tile.set(image.rgb.subarray(from, from + w * 3), y * tileWidth * 3);
  }
  return tile;
}

/** A label: a blue card with a white band, as a stand-in for a barcode. */
function labelImage(): RgbImage {
  const width = 120;
  const height = 60;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const band = Math.floor(i / width) % 20 < 6;
    rgb.set(band ? [255, 255, 255] : [30, 60, 200], i * 3);
  }
  return { rgb, width, height };
}

type Json = Record<string, { vr: string; Value?: unknown[] }>;
const el = (vr: string, ...values: unknown[]) => ({ vr, Value: values });
const code = (value: string, scheme: string, meaning: string): Json => ({
  '00080100': el('SH', value),
  '00080102': el('SH', scheme),
  '00080104': el('LO', meaning),
});

interface InstancePlan {
  flavor: 'VOLUME' | 'LABEL' | 'OVERVIEW' | 'THUMBNAIL';
  image: RgbImage;
  tileWidth: number;
  tileHeight: number;
  level: number;
}

interface SeriesContext {
  options: DicomWsiOptions;
  encoding: Encoding;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  patientId: string;
  frameOfReferenceUid: string;
  level0: RgbImage;
  spacing0: number;
}

/** The data set of one instance (less Pixel Data) in dcmjs's form of the DICOM JSON model, and its frames. */
async function buildInstance(
  plan: InstancePlan,
  number: number,
  ctx: SeriesContext,
): Promise<{ sopInstanceUid: string; dataset: Json; frames: Uint8Array[] }> {
  const { options, encoding } = ctx;
  const { image, tileWidth, tileHeight, flavor } = plan;
  const sparse = flavor === 'VOLUME' && options.tiling === 'sparse';
  const columns = Math.ceil(image.width / tileWidth);
  const rows = Math.ceil(image.height / tileHeight);
  const frames: Uint8Array[] = [];
  const perFrame: Json[] = [];
  // Pixel Spacing's order: between rows (vertical), between columns.
  const spacing = [(ctx.spacing0 * ctx.level0.height) / image.height, (ctx.spacing0 * ctx.level0.width) / image.width];
  for (let ty = 0; ty < rows; ty++) {
    for (let tx = 0; tx < columns; tx++) {
      if (sparse && options.skipFrames?.(tx, ty)) continue;
      frames.push(await encoding.encode(cutTile(image, tx, ty, tileWidth, tileHeight), tileWidth, tileHeight));
      if (!sparse) continue;
      // Image Orientation (Slide) 0\1\0\1\0\0 below: a row runs along the slide's Y axis, a column along its X.
      perFrame.push({
        '00209111': el('SQ', { '00209157': el('UL', tx + 1, ty + 1) }),
        '0048021A': el('SQ', {
          '0040072A': el('DS', round(20 + ty * tileHeight * spacing[0]!)),
          '0040073A': el('DS', round(40 + tx * tileWidth * spacing[1]!)),
          '0040074A': el('DS', 0),
          '0048021E': el('SL', tx * tileWidth + 1),
          '0048021F': el('SL', ty * tileHeight + 1),
        }),
      });
    }
  }
  const imageType =
    flavor === 'VOLUME' && plan.level > 0
      ? ['DERIVED', 'PRIMARY', 'VOLUME', 'RESAMPLED']
      : flavor === 'THUMBNAIL'
        ? ['DERIVED', 'PRIMARY', 'THUMBNAIL', 'RESAMPLED']
        : ['ORIGINAL', 'PRIMARY', flavor, 'NONE'];
  const sopInstanceUid = newUid();
  const dimensionOrganizationUid = newUid();
  const date = '20240102';
  const dataset: Json = {
    '00080005': el('CS', 'ISO_IR 192'),
    '00080008': el('CS', ...imageType),
    '00080016': el('UI', SOP_CLASS_WSI),
    '00080018': el('UI', sopInstanceUid),
    '00080020': el('DA', date),
    '00080023': el('DA', date),
    '0008002A': el('DT', `${date}101500`),
    '00080030': el('TM', '101500'),
    '00080033': el('TM', '101500'),
    '00080050': el('SH'),
    '00080060': el('CS', 'SM'),
    '00080070': el('LO', 'histoseek tests'),
    '00080090': el('PN'),
    '00081090': el('LO', 'dicom-fixtures'),
    '00100010': el('PN', { Alphabetic: 'Test^Slide' }),
    '00100020': el('LO', ctx.patientId),
    '00100030': el('DA'),
    '00100040': el('CS'),
    '00181000': el('LO', '1'),
    '00181020': el('LO', '1'),
    '0020000D': el('UI', ctx.studyInstanceUid),
    '0020000E': el('UI', ctx.seriesInstanceUid),
    '00200010': el('SH', '1'),
    '00200011': el('IS', 1),
    '00200013': el('IS', number),
    '00200052': el('UI', ctx.frameOfReferenceUid),
    '00201040': el('LO', 'SLIDE_CORNER'),
    '00209221': el('SQ', { '00209164': el('UI', dimensionOrganizationUid) }),
    '00209311': el('CS', sparse ? 'TILED_SPARSE' : 'TILED_FULL'),
    '00280002': el('US', 3),
    '00280004': el('CS', encoding.photometric),
    '00280006': el('US', 0),
    '00280008': el('IS', frames.length),
    '00280010': el('US', tileHeight),
    '00280011': el('US', tileWidth),
    '00280100': el('US', 8),
    '00280101': el('US', 8),
    '00280102': el('US', 7),
    '00280103': el('US', 0),
    '00280301': el('CS', flavor === 'LABEL' ? 'YES' : 'NO'),
    '00282110': el('CS', encoding.lossy ? '01' : '00'),
    '00400512': el('LO', 'SLIDE-1'),
    '00400513': el('SQ'),
    '00400518': el('SQ', code('433466003', 'SCT', 'Microscope slide')),
    '00400555': el('SQ'),
    '00400560': el('SQ', {
      '00400551': el('LO', 'SPECIMEN-1'),
      '00400554': el('UI', newUid()),
      '00400562': el('SQ'),
      '00400610': el('SQ'),
    }),
    '00480001': el('FL', ctx.level0.width * ctx.spacing0),
    '00480002': el('FL', ctx.level0.height * ctx.spacing0),
    '00480003': el('FL', 0.001),
    '00480006': el('UL', image.width),
    '00480007': el('UL', image.height),
    '00480008': el('SQ', { '0040072A': el('DS', 20), '0040073A': el('DS', 40) }),
    '00480010': el('CS', flavor === 'LABEL' || flavor === 'OVERVIEW' ? 'YES' : 'NO'),
    '00480011': el('CS', 'AUTO'),
    '00480012': el('CS', 'NO'),
    '00480102': el('DS', 0, 1, 0, 1, 0, 0),
    '00480105': el('SQ', {
      '00220016': el('SQ', code('111744', 'DCM', 'Brightfield illumination')),
      '00480106': el('SH', '1'),
      '00480108': el('SQ', code('414298005', 'SCT', 'Full Spectrum')),
    }),
    '00480302': el('UL', 1),
    '00480303': el('UL', 1),
    '52009229': el('SQ', {
      '00289110': el('SQ', { '00180050': el('DS', 0.001), '00280030': el('DS', ...spacing.map(round)) }),
      '00480207': el('SQ', { '00480106': el('SH', '1') }),
      '00400710': el('SQ', { '00089007': el('CS', ...imageType) }),
    }),
  };
  if (encoding.lossy) dataset['00282114'] = el('CS', encoding.lossy.method);
  if (sparse) {
    dataset['00209222'] = el(
      'SQ',
      ...[0x0048021e, 0x0048021f].map((pointer) => ({
        '00209164': el('UI', dimensionOrganizationUid),
        '00209165': el('AT', pointer),
        '00209167': el('AT', 0x0048021a),
      })),
    );
    dataset['52009230'] = el('SQ', ...perFrame);
  }
  return { sopInstanceUid, dataset, frames };
}

/** Decimal strings for DS: 12 significant digits at most (DS holds 16 characters). */
const round = (x: number) => Number(x.toPrecision(10));

/** Explicit VR little endian element header for a long VR (OB, OV, SQ…): tag, VR, 2 reserved bytes, 32-bit length. */
function longHeader(group: number, element: number, vr: string, length: number, explicit: boolean): Uint8Array {
  const b = Buffer.alloc(explicit ? 12 : 8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  if (explicit) {
    b.write(vr, 4, 'latin1');
    b.writeUInt32LE(length, 8);
  } else b.writeUInt32LE(length, 4);
  return b;
}

function item(group: number, element: number, value: Uint8Array = new Uint8Array()): Uint8Array {
  const b = Buffer.alloc(8 + value.length);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.writeUInt32LE(value.length, 4);
  b.set(value, 8);
  return b;
}

const even = (bytes: Uint8Array) => (bytes.length % 2 === 0 ? bytes : concat([bytes, new Uint8Array(1)]));

/** The Pixel Data element (and, with an Extended Offset Table, the two elements before it). */
function pixelDataGroup(
  frames: Uint8Array[],
  encoding: Encoding,
  offsetTable: DicomWsiOptions['offsetTable'],
): Uint8Array {
  const explicit = encoding.syntax !== TRANSFER_SYNTAX.implicit;
  if (!encoding.encapsulated) {
    const data = even(concat(frames));
    return concat([longHeader(0x7fe0, 0x0010, 'OB', data.length, explicit), data]);
  }
  const fragments = frames.map((f) => item(0xfffe, 0xe000, even(f)));
  const offsets: number[] = [];
  fragments.reduce((at, fragment) => (offsets.push(at), at + fragment.length), 0);
  const table = offsetTable ?? 'basic';
  const bot = Buffer.alloc(table === 'basic' ? 4 * offsets.length : 0);
  if (table === 'basic') offsets.forEach((o, i) => bot.writeUInt32LE(o, 4 * i));
  const parts: Uint8Array[] = [];
  if (table === 'extended') {
    const eot = Buffer.alloc(8 * offsets.length);
    const lengths = Buffer.alloc(8 * offsets.length);
    offsets.forEach((o, i) => {
      eot.writeBigUInt64LE(BigInt(o), 8 * i);
      lengths.writeBigUInt64LE(BigInt(fragments[i]!.length - 8), 8 * i);
    });
    parts.push(longHeader(0x7fe0, 0x0001, 'OV', eot.length, true), eot);
    parts.push(longHeader(0x7fe0, 0x0002, 'OV', lengths.length, true), lengths);
  }
  parts.push(
    longHeader(0x7fe0, 0x0010, 'OB', 0xffffffff, true),
    item(0xfffe, 0xe000, bot),
    ...fragments,
    item(0xfffe, 0xe0dd),
  );
  return concat(parts);
}

/** The part of dcmjs used here (dcmjs ships no types). */
interface Dcmjs {
  data: {
    DicomDict: new (meta: Json) => { dict: Json; write(): ArrayBuffer };
    DicomMessage: { write(dataset: Json, stream: unknown, syntax: string, options: object): number };
    WriteBufferStream: new (size: number, littleEndian: boolean) => { getBuffer(): ArrayBuffer };
  };
}
const dcmjs = require('dcmjs') as Dcmjs;

/** The Part 10 bytes: preamble, file meta (by dcmjs), then the data set (by dcmjs) and Pixel Data, deflated for 'deflate'. */
function part10(sopInstanceUid: string, dataset: Json, frames: Uint8Array[], ctx: SeriesContext): Uint8Array {
  const { encoding } = ctx;
  const meta = new dcmjs.data.DicomDict({
    '00020001': el('OB', new Uint8Array([0, 1]).buffer),
    '00020002': el('UI', SOP_CLASS_WSI),
    '00020003': el('UI', sopInstanceUid),
    '00020010': el('UI', encoding.syntax),
    '00020012': el('UI', '2.25.1234567890123456789'),
    '00020013': el('SH', 'HISTOSEEK_TEST'),
  });
  const head = new Uint8Array(meta.write());
  const stream = new dcmjs.data.WriteBufferStream(1 << 16, true);
  const bodySyntax = encoding.syntax === TRANSFER_SYNTAX.implicit ? TRANSFER_SYNTAX.implicit : TRANSFER_SYNTAX.native;
  dcmjs.data.DicomMessage.write(dataset, stream, bodySyntax, {});
  let body: Uint8Array = concat([
    new Uint8Array(stream.getBuffer()),
    pixelDataGroup(frames, encoding, ctx.options.offsetTable),
  ]);
  if (encoding.syntax === TRANSFER_SYNTAX.deflate) body = deflateRawSync(body);
  return concat([head, body]);
}

/**
 * Writes one DICOM WSI series for `image` into `dir` (created if missing): its levels, then the
 * associated images asked for. Returns the files and the UIDs written.
 */
export async function writeDicomWsi(
  dir: string,
  image: RgbImage,
  options: DicomWsiOptions = {},
): Promise<DicomWsiFixture> {
  if (image.rgb.length !== image.width * image.height * 3)
    throw new Error('writeDicomWsi: rgb is not width × height × 3');
  const encoding = encodingOf(options);
  const ctx: SeriesContext = {
    options,
    encoding,
    seriesInstanceUid: options.seriesInstanceUid ?? newUid(),
    studyInstanceUid: options.studyInstanceUid ?? newUid(),
    patientId: options.patientId ?? 'PATIENT-1',
    frameOfReferenceUid: newUid(),
    level0: image,
    spacing0: options.pixelSpacingMm ?? 0.0005,
  };
  const tileSize = options.tileSize ?? 256;
  const plans: InstancePlan[] = [];
  for (let level = 0; level < (options.levels ?? 1); level++) {
    const scale = 2 ** level;
    const levelImage = await resized(image, Math.ceil(image.width / scale), Math.ceil(image.height / scale));
    plans.push({ flavor: 'VOLUME', image: levelImage, tileWidth: tileSize, tileHeight: tileSize, level });
  }
  for (const flavor of options.associated ?? []) {
    const small = (max: number) => {
      const scale = max / Math.max(image.width, image.height);
      return resized(
        image,
        Math.max(2, 2 * Math.round((image.width * scale) / 2)),
        Math.max(1, Math.round(image.height * scale)),
      );
    };
    const associated = flavor === 'LABEL' ? labelImage() : await small(flavor === 'OVERVIEW' ? 200 : 96);
    // One frame holding the whole image.
    plans.push({ flavor, image: associated, tileWidth: associated.width, tileHeight: associated.height, level: 0 });
  }
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, plan] of plans.entries()) {
    const { sopInstanceUid, dataset, frames } = await buildInstance(plan, i + 1, ctx);
    const file = join(dir, options.fileName?.(i) ?? `${i}.dcm`);
    await writeFile(file, part10(sopInstanceUid, dataset, frames, ctx));
    files.push(file);
  }
  return {
    dir,
    files,
    seriesInstanceUid: ctx.seriesInstanceUid,
    studyInstanceUid: ctx.studyInstanceUid,
    patientId: ctx.patientId,
    levels: plans.filter((p) => p.flavor === 'VOLUME').map((p) => ({ ...p.image })),
    transferSyntaxUid: encoding.syntax,
  };
}
