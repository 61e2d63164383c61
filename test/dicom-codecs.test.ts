/**
 * decodeFrame (src/wsi/dicom/frame-codecs.ts): every transfer syntax and photometric interpretation it
 * reads gives back a known image within a stated bound (lossless ones exactly); the JPEG colour rule
 * (stream markers first, the DICOM header otherwise, RGB on unmarked ids 1, 2, 3 refused) in both
 * directions; JPEG 2000's transform rule; and a clear refusal, naming what is not supported, for
 * everything else. The frames are made by the
 * project's own encoders (test/dicom-fixtures.ts); the last test reads files written by writeDicomWsi.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import sharp from 'sharp';
import { decodeFrame, FrameDecodeError, TransferSyntax } from '../src/wsi/dicom/frame-codecs.js';
import { decodeJpeg, jpegDecoder } from '../src/wsi/jpeg-decoder.js';
import type { WsiInstance } from '../src/wsi/dicom/instance.js';
import {
  encodeJpeg2000Frame,
  encodeJpeg2000WithoutMct,
  encodeJpegLsFrame,
  rgbToYbr,
  toPlanar,
  toYbr422,
  writeDicomWsi,
  type DicomWsiOptions,
} from './dicom-fixtures.js';
import { temporaryFolder } from './helpers.js';
import { encodeJpeg } from './jpeg-fixtures.js';

const TIMEOUT = 120_000;
const W = 128;
const H = 96;

/**
 * A pastel test card with stripes and gradients: colourful enough that reading Y Cb Cr as R G B (or
 * the reverse) is far off, and within the range encodeJpeg2000WithoutMct can write.
 */
function testCard(): Uint8Array {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      rgb[i] = 120 + Math.round(60 * (0.5 + 0.5 * Math.sin(x / 9)));
      rgb[i + 1] = 100 + Math.round(60 * (0.5 + 0.5 * Math.cos(y / 7)));
      rgb[i + 2] = 130 + Math.round(60 * (0.5 + 0.5 * Math.sin((x + y) / 11)));
    }
  }
  return rgb;
}
const CARD = testCard();

function instance(photometric: string, o: Partial<WsiInstance> = {}): WsiInstance {
  return {
    sopInstanceUid: '2.25.1',
    seriesInstanceUid: '2.25.2',
    studyInstanceUid: '2.25.3',
    patientId: null,
    containerIdentifier: null,
    flavor: 'VOLUME',
    transferSyntaxUid: TransferSyntax.jpegBaseline,
    photometricInterpretation: photometric,
    samplesPerPixel: photometric === 'MONOCHROME2' ? 1 : 3,
    bitsAllocated: 8,
    planarConfiguration: 0,
    tileWidth: W,
    tileHeight: H,
    totalWidth: W,
    totalHeight: H,
    numberOfFrames: 1,
    tiling: 'full',
    framePositions: new Int32Array([0, 0]),
    pixelSpacingMm: null,
    imagedVolumeMm: null,
    properties: {},
    ...o,
  };
}

const decode = (data: Uint8Array, syntax: string, photometric: string, o: Partial<WsiInstance> = {}) =>
  decodeFrame({ data, transferSyntaxUid: syntax }, instance(photometric, o));

/** Mean absolute difference per channel of two interleaved RGB rasters. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number[] {
  assert.equal(a.length, b.length, 'raster sizes');
  const sums = [0, 0, 0];
  for (let i = 0; i < a.length; i++) sums[i % 3]! += Math.abs(a[i]! - b[i]!);
  return sums.map((s) => s / (a.length / 3));
}

/** Asserts every channel's mean absolute difference is at most `bound`, and reports what it measured. */
function assertClose(t: TestContext, what: string, actual: Uint8Array, expected: Uint8Array, bound: number): void {
  const diff = meanAbsDiff(actual, expected);
  t.diagnostic(`${what}: mean abs diff per channel ${diff.map((d) => d.toFixed(3)).join(' / ')} (bound ${bound})`);
  assert.ok(
    diff.every((d) => d <= bound),
    `${what}: ${diff.map((d) => d.toFixed(3))} > ${bound}`,
  );
}

/** Asserts decoding is refused as `kind`, with a message matching each of `patterns`. */
async function assertRefused(promise: Promise<unknown>, kind: 'unsupported' | 'corrupt', ...patterns: RegExp[]) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof FrameDecodeError, `a FrameDecodeError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** The grey card (luma), and that grey repeated into R, G and B. */
const GREY = Uint8Array.from({ length: W * H }, (_, i) => rgbToYbr(CARD.subarray(3 * i, 3 * i + 3))[0]!);
const GREY_RGB = Uint8Array.from({ length: W * H * 3 }, (_, i) => GREY[Math.floor(i / 3)]!);

describe('DICOM frame codecs: each transfer syntax and photometric interpretation', { timeout: TIMEOUT }, () => {
  test('JPEG baseline YBR_FULL_422 (JFIF, 4:2:0) and RGB (Adobe, no transform), JPEG extended', async (t) => {
    const ybr = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'jfif' });
    assertClose(t, 'JPEG YBR_FULL_422 q90', await decode(ybr, TransferSyntax.jpegBaseline, 'YBR_FULL_422'), CARD, 2);
    assertClose(t, 'JPEG YBR_FULL q90', await decode(ybr, TransferSyntax.jpegBaseline, 'YBR_FULL'), CARD, 2);
    assertClose(t, 'JPEG extended (8-bit)', await decode(ybr, TransferSyntax.jpegExtended, 'YBR_FULL_422'), CARD, 2);
    const rgb = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'adobe' });
    assertClose(t, 'JPEG RGB q90', await decode(rgb, TransferSyntax.jpegBaseline, 'RGB'), CARD, 1);
    const grey = new Uint8Array(
      await sharp(GREY, { raw: { width: W, height: H, channels: 1 } })
        .toColourspace('b-w')
        .jpeg()
        .toBuffer(),
    );
    assertClose(t, 'JPEG MONOCHROME2', await decode(grey, TransferSyntax.jpegBaseline, 'MONOCHROME2'), GREY_RGB, 1);
  });

  test('TurboJPEG (libturbojpeg0) and sharp decode the same streams to the same samples', async (t) => {
    const streams: [string, Uint8Array, 1 | 3][] = [
      ['YCbCr JFIF 4:2:0', await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'jfif' }), 3],
      [
        'YCbCr unmarked 4:4:4',
        await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'none', subsampling: '4:4:4' }),
        3,
      ],
      ['RGB Adobe', await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'adobe' }), 3],
      [
        'grey',
        new Uint8Array(
          await sharp(GREY, { raw: { width: W, height: H, channels: 1 } })
            .toColourspace('b-w')
            .jpeg()
            .toBuffer(),
        ),
        1,
      ],
    ];
    if (jpegDecoder() === 'sharp') {
      t.diagnostic('libturbojpeg0 is not installed: only sharp decodes here (apt-get install libturbojpeg0)');
      for (const [what, stream, channels] of streams)
        assert.equal((await decodeJpeg(stream, W, H, channels, 'sharp')).length, W * H * channels, what);
      return;
    }
    for (const [what, stream, channels] of streams)
      assert.deepEqual(
        await decodeJpeg(stream, W, H, channels, 'turbojpeg'),
        await decodeJpeg(stream, W, H, channels, 'sharp'),
        what,
      );
    await assert.rejects(
      decodeJpeg(streams[0]![1].subarray(0, 300), W, H, 3, 'turbojpeg'),
      /TurboJPEG|JPEG|premature|corrupt/i,
    );
  });

  test('JPEG 2000: lossless with RCT exactly, lossy with ICT within a bound, grey exactly', async (t) => {
    const lossless = await encodeJpeg2000Frame(CARD, W, H, { lossless: true });
    for (const photometric of ['YBR_RCT', 'RGB']) {
      assert.deepEqual(await decode(lossless, TransferSyntax.jpeg2000Lossless, photometric), CARD, photometric);
    }
    const lossy = await encodeJpeg2000Frame(CARD, W, H, { lossless: false, compressionRatio: 10 });
    assertClose(t, 'JPEG 2000 YBR_ICT 1:10', await decode(lossy, TransferSyntax.jpeg2000, 'YBR_ICT'), CARD, 1);
    const grey = await encodeJpeg2000Frame(GREY, W, H, { lossless: true, components: 1 });
    assert.deepEqual(await decode(grey, TransferSyntax.jpeg2000Lossless, 'MONOCHROME2'), GREY_RGB);
  });

  test('JPEG-LS: lossless in each interleave mode exactly, near-lossless within NEAR, YBR_FULL, grey', async (t) => {
    for (const interleave of [0, 1, 2] as const) {
      const stream = await encodeJpegLsFrame(CARD, W, H, { interleave });
      assert.deepEqual(await decode(stream, TransferSyntax.jpegLsLossless, 'RGB'), CARD, `interleave ${interleave}`);
    }
    const near = await decode(
      await encodeJpegLsFrame(CARD, W, H, { near: 2 }),
      TransferSyntax.jpegLsNearLossless,
      'RGB',
    );
    const worst = near.reduce((m, v, i) => Math.max(m, Math.abs(v - CARD[i]!)), 0);
    t.diagnostic(`JPEG-LS NEAR=2: largest error ${worst}`);
    assert.ok(worst <= 2, `JPEG-LS NEAR=2 error ${worst}`);
    const ybr = await encodeJpegLsFrame(rgbToYbr(CARD), W, H);
    assertClose(t, 'JPEG-LS YBR_FULL', await decode(ybr, TransferSyntax.jpegLsLossless, 'YBR_FULL'), CARD, 1);
    const grey = await encodeJpegLsFrame(GREY, W, H, { components: 1 });
    assert.deepEqual(await decode(grey, TransferSyntax.jpegLsLossless, 'MONOCHROME2'), GREY_RGB);
  });

  test('native: RGB in both planar configurations, YBR_FULL, YBR_FULL_422, MONOCHROME2; implicit and deflated route here', async (t) => {
    for (const syntax of [
      TransferSyntax.explicitLittle,
      TransferSyntax.implicitLittle,
      TransferSyntax.deflatedExplicitLittle,
    ]) {
      assert.deepEqual(await decode(CARD, syntax, 'RGB'), CARD, syntax);
    }
    assert.deepEqual(
      await decode(toPlanar(CARD), TransferSyntax.explicitLittle, 'RGB', { planarConfiguration: 1 }),
      CARD,
    );
    assertClose(t, 'native YBR_FULL', await decode(rgbToYbr(CARD), TransferSyntax.explicitLittle, 'YBR_FULL'), CARD, 1);
    const planarYbr = toPlanar(rgbToYbr(CARD));
    assertClose(
      t,
      'native YBR_FULL planar',
      await decode(planarYbr, TransferSyntax.explicitLittle, 'YBR_FULL', { planarConfiguration: 1 }),
      CARD,
      1,
    );
    assertClose(
      t,
      'native YBR_FULL_422',
      await decode(toYbr422(CARD, W, H), TransferSyntax.explicitLittle, 'YBR_FULL_422'),
      CARD,
      1.5,
    );
    assert.deepEqual(await decode(GREY, TransferSyntax.explicitLittle, 'MONOCHROME2'), GREY_RGB);
  });
});

describe(
  'JPEG colours: the stream says what it holds, the DICOM header decides when it does not',
  { timeout: TIMEOUT },
  () => {
    const jpeg = TransferSyntax.jpegBaseline;

    test('Y Cb Cr streams: with a JFIF or Adobe marker or subsampled chroma, right whatever the label', async (t) => {
      const jfif = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'jfif', subsampling: '4:4:4' });
      assertClose(t, 'JFIF Y Cb Cr 4:4:4 labelled RGB', await decode(jfif, jpeg, 'RGB'), CARD, 1);
      const adobe = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'adobe', subsampling: '4:4:4' });
      assertClose(t, 'Adobe(1) Y Cb Cr 4:4:4 labelled RGB', await decode(adobe, jpeg, 'RGB'), CARD, 1);
      const bare420 = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'none' });
      assertClose(t, 'bare Y Cb Cr 4:2:0 labelled RGB', await decode(bare420, jpeg, 'RGB'), CARD, 2);
      const bare444 = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'none', subsampling: '4:4:4' });
      assertClose(t, 'bare Y Cb Cr 4:4:4 labelled YBR_FULL_422', await decode(bare444, jpeg, 'YBR_FULL_422'), CARD, 1);
    });

    test('a stream that says nothing, numbered 1, 2, 3 as YCbCr streams are, labelled RGB: refused, whatever it holds', async (t) => {
      const bare444 = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'none', subsampling: '4:4:4' });
      const rgb123 = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'none', componentIds: [1, 2, 3] });
      for (const stream of [bare444, rgb123]) {
        await assertRefused(
          decode(stream, jpeg, 'RGB'),
          'unsupported',
          /JPEG frame: its colours cannot be known: Photometric Interpretation RGB, but its JPEG stream numbers its components 1, 2, 3 as YCbCr streams do, with no marker saying which it is/,
        );
      }
      // With a marker saying what it holds, the same R G B stream is read right.
      const marked = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'adobe', componentIds: [1, 2, 3] });
      assertClose(t, 'Adobe(0) R G B, ids 1 2 3, labelled RGB', await decode(marked, jpeg, 'RGB'), CARD, 1);
    });

    test('R G B streams: with an Adobe marker or ids R G B, right whatever the label; bare (as Aperio tiles), right as labelled', async (t) => {
      const adobe = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'adobe' });
      assertClose(t, 'Adobe(0) R G B labelled YBR_FULL_422', await decode(adobe, jpeg, 'YBR_FULL_422'), CARD, 1);
      const ids = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'none' });
      assertClose(t, "ids 'R','G','B' labelled YBR_FULL_422", await decode(ids, jpeg, 'YBR_FULL_422'), CARD, 1);
      const aperio = await encodeJpeg(CARD, W, H, { colour: 'rgb', marker: 'none', componentIds: [0, 1, 2] });
      assertClose(t, 'bare R G B, ids 0 1 2, labelled RGB', await decode(aperio, jpeg, 'RGB'), CARD, 1);
      // What libjpeg makes of that stream on its own (taking it for Y Cb Cr): the case the Adobe marker put in front fixes.
      const libjpegAlone = new Uint8Array(await sharp(aperio).raw().toBuffer());
      const wrong = meanAbsDiff(libjpegAlone, CARD);
      t.diagnostic(
        `the same stream decoded by libjpeg without the marker: ${wrong.map((d) => d.toFixed(1)).join(' / ')}`,
      );
      assert.ok(Math.max(...wrong) > 20);
    });

    test('refused: contradicting markers, an unknown Adobe transform, other colour spaces, 12-bit and lossless JPEG', async () => {
      const jfif = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'jfif' });
      const adobe = (transform: number) => [
        0xff,
        0xee,
        0,
        14,
        0x41,
        0x64,
        0x6f,
        0x62,
        0x65,
        0,
        100,
        0,
        0,
        0,
        0,
        transform,
      ];
      const withMarker = (stream: Uint8Array, marker: number[]) =>
        Uint8Array.from([...stream.subarray(0, 2), ...marker, ...stream.subarray(2)]);
      await assertRefused(
        decode(withMarker(jfif, adobe(0)), jpeg, 'RGB'),
        'unsupported',
        /its colours cannot be known: the JPEG stream contradicts itself: a JFIF marker and an Adobe marker with transform 0/,
      );
      const bare = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'none' });
      await assertRefused(
        decode(withMarker(bare, adobe(2)), jpeg, 'RGB'),
        'unsupported',
        /an Adobe marker with transform 2 \(YCCK\) on 3 components/,
      );
      await assertRefused(decode(jfif, jpeg, 'YBR_PARTIAL_420'), 'unsupported', /YBR_PARTIAL_420 is not supported/);
      const sof = jfif.findIndex((b, i) => b === 0xff && jfif[i + 1] === 0xc0);
      const twelveBit = jfif.slice();
      twelveBit[sof + 4] = 12;
      await assertRefused(
        decode(twelveBit, TransferSyntax.jpegExtended, 'YBR_FULL_422'),
        'unsupported',
        /12-bit samples are not supported/,
      );
      const lossless = jfif.slice();
      lossless[sof + 1] = 0xc3;
      await assertRefused(
        decode(lossless, jpeg, 'YBR_FULL_422'),
        'unsupported',
        /SOF marker 0xc3 \(lossless or hierarchical JPEG\) is not supported/,
      );
      await assertRefused(
        decode(jfif, jpeg, 'MONOCHROME2'),
        'corrupt',
        /3 components, the header says Samples per Pixel 1/,
      );
    });
  },
);

describe('JPEG 2000 colours: the codestream says whether the codec transformed them', { timeout: TIMEOUT }, () => {
  const lossless = TransferSyntax.jpeg2000Lossless;

  test('with the transform: R G B for YBR_RCT, RGB and the YBR_FULL_422 of a JPEG-minded writer; refused for YBR_FULL', async () => {
    const withMct = await encodeJpeg2000Frame(CARD, W, H, { lossless: true });
    for (const photometric of ['YBR_RCT', 'RGB', 'YBR_FULL_422']) {
      assert.deepEqual(await decode(withMct, lossless, photometric), CARD, photometric);
    }
    await assertRefused(
      decode(withMct, lossless, 'YBR_FULL'),
      'unsupported',
      /YBR_FULL with a multiple-component transform are not supported/,
    );
  });

  test('without it: R G B as RGB or YBR_FULL_422 (OrthancWSIDicomizer 1.1), Y Cb Cr as YBR_FULL; refused as YBR_ICT/YBR_RCT', async (t) => {
    const rgbComponents = await encodeJpeg2000WithoutMct(CARD, W, H);
    assert.deepEqual(await decode(rgbComponents, lossless, 'RGB'), CARD);
    assert.deepEqual(await decode(rgbComponents, lossless, 'YBR_FULL_422'), CARD);
    const ybrComponents = await encodeJpeg2000WithoutMct(rgbToYbr(CARD), W, H);
    assertClose(t, 'JPEG 2000 without MCT, YBR_FULL', await decode(ybrComponents, lossless, 'YBR_FULL'), CARD, 1);
    for (const photometric of ['YBR_RCT', 'YBR_ICT']) {
      await assertRefused(
        decode(rgbComponents, lossless, photometric),
        'unsupported',
        new RegExp(`${photometric} on a codestream without a multiple-component transform`),
      );
    }
  });

  test('refused: more than 8 bits', async () => {
    const twelveBit = new Uint8Array(new Uint16Array(W * H).map((_, i) => (i * 37) % 4096).buffer);
    const encoded = await encodeJpeg2000Frame(twelveBit, W, H, { lossless: true, components: 1, bitsPerSample: 12 });
    await assertRefused(decode(encoded, lossless, 'MONOCHROME2'), 'unsupported', /12-bit samples are not supported/);
  });
});

describe('DICOM frame codecs: refusals and damaged frames', { timeout: TIMEOUT }, () => {
  test('transfer syntaxes that are not read are named', async () => {
    for (const [uid, name] of [
      ['1.2.840.10008.1.2.4.57', 'JPEG Lossless'],
      ['1.2.840.10008.1.2.4.70', 'JPEG Lossless SV1'],
      ['1.2.840.10008.1.2.5', 'RLE Lossless'],
      ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian'],
      ['1.2.840.10008.1.2.4.201', 'HTJ2K Lossless'],
    ]) {
      await assertRefused(
        decode(CARD, uid!, 'RGB'),
        'unsupported',
        new RegExp(`transfer syntax ${uid!.replaceAll('.', '\\.')} \\(${name}\\) is not supported`),
      );
    }
    await assertRefused(decode(CARD, '1.2.3.4', 'RGB'), 'unsupported', /transfer syntax 1\.2\.3\.4 is not supported/);
  });

  test('native frames beyond 8 bits or in other colour spaces are refused', async () => {
    const native = TransferSyntax.explicitLittle;
    await assertRefused(
      decode(CARD, native, 'RGB', { bitsAllocated: 16 }),
      'unsupported',
      /Bits Allocated 16 is not supported/,
    );
    await assertRefused(decode(CARD, native, 'PALETTE COLOR', { samplesPerPixel: 1 }), 'unsupported', /PALETTE COLOR/);
    await assertRefused(decode(GREY, native, 'MONOCHROME1', { samplesPerPixel: 1 }), 'unsupported', /MONOCHROME1/);
    await assertRefused(decode(CARD.subarray(0, 100), native, 'RGB'), 'corrupt', /frame holds 100 bytes/);
  });

  test('damaged or mis-sized frames are corrupt, with what the codec said', async () => {
    const jpeg = await encodeJpeg(CARD, W, H, { colour: 'ycbcr', marker: 'jfif' });
    await assertRefused(
      decode(jpeg.subarray(0, jpeg.length / 2), TransferSyntax.jpegBaseline, 'YBR_FULL_422'),
      'corrupt',
      /JPEG frame does not decode/,
    );
    await assertRefused(
      decode(jpeg, TransferSyntax.jpegBaseline, 'YBR_FULL_422', { tileWidth: 256 }),
      'corrupt',
      /not 256×96/,
    );
    const j2k = await encodeJpeg2000Frame(CARD, W, H, { lossless: true });
    await assertRefused(
      decode(j2k.subarray(0, 300), TransferSyntax.jpeg2000Lossless, 'RGB'),
      'corrupt',
      /JPEG 2000 frame: does not decode \(.*ERROR/,
    );
    await assertRefused(
      decode(j2k, TransferSyntax.jpeg2000Lossless, 'RGB', { tileHeight: 64 }),
      'corrupt',
      /codestream is 128×96, the frame 128×64/,
    );
    await assertRefused(
      decode(new Uint8Array(64).fill(7), TransferSyntax.jpegLsLossless, 'RGB'),
      'corrupt',
      /JPEG-LS frame does not decode/,
    );
  });
});

/** The part of dcmjs this test uses: its reader, to check writeDicomWsi's files independently of histoseek's. */
interface Dcmjs {
  data: {
    DicomMessage: { readFile(buffer: ArrayBuffer): { meta: Record<string, { Value: unknown[] }>; dict: object } };
    DicomMetaDictionary: { naturalizeDataset(dict: object): Record<string, unknown> };
  };
  log: { getLogger(name: string): { setLevel(level: string): void } };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;
// Its complaints about VRs it has no class for (the Extended Offset Table's OV) would fill the output.
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

describe('writeDicomWsi: the files dcmjs reads back decode to the image written', { timeout: TIMEOUT }, () => {
  const cases: Array<[string, DicomWsiOptions, number]> = [
    ['JPEG YBR_FULL_422', { transferSyntax: 'jpeg' }, 2],
    [
      'JPEG RGB, sparse, extended offsets',
      { transferSyntax: 'jpeg', photometric: 'RGB', tiling: 'sparse', offsetTable: 'extended' },
      1,
    ],
    ['JPEG 2000 YBR_ICT, no offset table', { transferSyntax: 'jpeg2000', offsetTable: 'none' }, 1],
    ['JPEG 2000 YBR_RCT', { transferSyntax: 'jpeg2000', photometric: 'YBR_RCT' }, 0],
    ['JPEG-LS', { transferSyntax: 'jpegls' }, 0],
    ['native', { transferSyntax: 'native' }, 0],
    ['native YBR_FULL_422', { transferSyntax: 'native', photometric: 'YBR_FULL_422' }, 1.5],
    ['implicit VR', { transferSyntax: 'implicit' }, 0],
    ['deflated', { transferSyntax: 'deflate' }, 0],
  ];
  for (const [name, options, bound] of cases) {
    test(name, async (t) => {
      {
        const dir = await temporaryFolder('histoseek-dicom-codecs-', t);
        const fixture = await writeDicomWsi(
          join(dir, 'series'),
          { rgb: CARD, width: W, height: H },
          { ...options, tileSize: 64 },
        );
        const bytes = await readFile(fixture.files[0]!);
        const file = dcmjs.data.DicomMessage.readFile(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
        );
        const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict);
        const syntax = file.meta['00020010']!.Value[0] as string;
        assert.equal(syntax, fixture.transferSyntaxUid);
        assert.equal(ds.TotalPixelMatrixColumns, W);
        assert.equal(ds.NumberOfFrames, 4);
        const photometric = ds.PhotometricInterpretation as string;
        const pixelData = (ds.PixelData as ArrayBuffer[]).map((b) => new Uint8Array(b));
        // Native frames lie end to end in one value; encapsulated ones come one fragment each.
        const frameBytes = photometric === 'YBR_FULL_422' ? 64 * 64 * 2 : 64 * 64 * 3;
        const frame = (n: number) =>
          pixelData.length === 1 ? pixelData[0]!.subarray(n * frameBytes, (n + 1) * frameBytes) : pixelData[n]!;
        const tile = (n: number) => {
          const out = new Uint8Array(64 * 64 * 3).fill(255);
          const [x0, y0] = [(n % 2) * 64, Math.floor(n / 2) * 64];
          for (let y = 0; y < 64 && y0 + y < H; y++)
            out.set(CARD.subarray(((y0 + y) * W + x0) * 3, ((y0 + y) * W + x0 + 64) * 3), y * 64 * 3);
          return out;
        };
        const tileInstance = { tileWidth: 64, tileHeight: 64 };
        for (let n = 0; n < 4; n++) {
          const rgb = await decode(frame(n), syntax, photometric, tileInstance);
          if (bound === 0) assert.deepEqual(rgb, tile(n), `frame ${n + 1}`);
          else assertClose(t, `${name}, frame ${n + 1}`, rgb, tile(n), bound);
        }
      }
    });
  }
});
