/**
 * JPEG-in-TIFF colours without OpenSlide: which files libtiff (here through sharp) reads in the wrong
 * colour space, that histoseek decodes them as their JPEG streams declare, and refuses with the reason
 * those it cannot decode faithfully. OpenSlide's readings and indexing are in test/slow/tiff-colour.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { openSlide, SlideOpenError } from '../src/wsi/slide.js';
import { checkTiffColour } from '../src/wsi/tiff-colour.js';
import { parseJpeg, readJpegHeader, standaloneJpeg, streamColour } from '../src/wsi/jpeg-stream.js';
import {
  HEIGHT,
  LIBTIFF_READS,
  STAIN,
  TOLERANCE,
  TRUE_COLOURS,
  WIDTH,
  colourError,
  stainAndGlass,
  writeAllCases,
} from './tiff-colour-fixtures.js';
import { encodeTile, WRITER_MPP } from './tiff-writer.js';

const TIMEOUT = 120_000;

const { consistent, mismatched, refused } = await writeAllCases('histoseek-tiff-colour-');

describe('JPEG-in-TIFF colours', { timeout: TIMEOUT }, () => {
  test('files whose tag and streams agree are left to the usual readers, which read them right', async () => {
    for (const c of consistent) {
      assert.deepEqual(await checkTiffColour(c.file), { verdict: 'as-tagged' }, c.name);
      const slide = await openSlide(c.file, { backend: 'sharp' });
      try {
        assert.ok(colourError(await stainAndGlass(slide, 0), TRUE_COLOURS) <= TOLERANCE, c.name);
      } finally {
        slide.close();
      }
    }
  });

  test('a stream tagged with the other colour space: sharp reads it by the tag, histoseek as the stream declares, at every level', async () => {
    for (const c of mismatched) {
      const raw = await openSlide(c.file, { backend: 'sharp' });
      const before = await stainAndGlass(raw, 0);
      raw.close();
      const want = LIBTIFF_READS[c.options.photometric === 'rgb' ? 'rgb' : 'ycbcr'];
      assert.ok(colourError(before, want) <= TOLERANCE, `${c.name} through libtiff: ${before.join(', ')}`);

      const slide = await openSlide(c.file);
      try {
        assert.equal(slide.backend, 'jpeg-tiff', c.name);
        assert.equal(slide.vendor, 'ome-tiff');
        assert.deepEqual(slide.mpp, { x: WRITER_MPP, y: WRITER_MPP });
        // The pyramid in SubIFDs, which neither libtiff reader takes.
        assert.deepEqual(
          slide.levels.map((l) => [l.width, l.height, l.downsample]),
          [
            [WIDTH, HEIGHT, 1],
            [WIDTH / 2, HEIGHT / 2, 2],
            [WIDTH / 4, HEIGHT / 4, 4],
          ],
        );
        assert.match(
          slide.properties['histoseek.jpeg-colour']!,
          /IFD 0 is tagged Photometric (RGB|YCbCr) but its JPEG stream is/,
        );
        for (const level of [0, 1, 2]) {
          const read = await stainAndGlass(slide, level);
          assert.ok(colourError(read, TRUE_COLOURS) <= TOLERANCE, `${c.name} level ${level}: ${read.join(', ')}`);
        }
      } finally {
        slide.close();
      }
    }
  });

  test('regions are composed from tiles across tile edges and padded with white outside the slide', async () => {
    const slide = await openSlide(mismatched[0]!.file);
    const viaSharp = await openSlide(consistent[0]!.file, { backend: 'sharp' });
    try {
      // Across four 256-px tiles and past the right and bottom edges.
      const region = [900, 700, 0, 300, 200] as const;
      const got = await slide.readRegion(...region);
      const want = await viaSharp.readRegion(...region);
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff += Math.abs(got[i]! - want[i]!);
      assert.ok(diff / got.length <= TOLERANCE, `mean difference ${diff / got.length}`);
      const corner = got.subarray(((200 - 1) * 300 + 299) * 3, ((200 - 1) * 300 + 300) * 3);
      assert.deepEqual([...corner], [255, 255, 255]);
      assert.deepEqual([...(await slide.readRegion(-500, -500, 1, 4, 4))], Array(48).fill(255));
    } finally {
      slide.close();
      viaSharp.close();
    }
    await assert.rejects(slide.readRegion(0, 0, 0, 8, 8), /slide is closed/);
  });

  test('files whose colours cannot be decoded faithfully are refused with the reason', async () => {
    for (const c of refused) {
      await assert.rejects(openSlide(c.file), (e: Error) => {
        assert.ok(e instanceof SlideOpenError, c.name);
        assert.match(e.message, c.reason);
        assert.ok(e.message.startsWith(`cannot open slide ${c.file}: `));
        return true;
      });
    }
  });
});

describe('JPEG stream colour signalling', { timeout: TIMEOUT }, () => {
  const tile = { width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3).fill(200) };

  test("each stream's own word, and silence, as libjpeg reads them", async () => {
    const said = async (stream: Parameters<typeof encodeTile>[1]) => {
      const header = readJpegHeader(await encodeTile(tile, stream, 90));
      return streamColour([header], header.frame!);
    };
    assert.deepEqual(await said({ colour: 'ycbcr', chroma: '4:4:4', signal: 'jfif' }), {
      colour: 'ycbcr',
      evidence: 'a JFIF marker',
    });
    assert.deepEqual(await said({ colour: 'ycbcr', chroma: '4:2:0', signal: 'none' }), {
      colour: 'ycbcr',
      evidence: 'chroma subsampling (2×2, 1×1, 1×1)',
    });
    assert.deepEqual(await said({ colour: 'ycbcr', chroma: '4:4:4', signal: 'none' }), { colour: null, jfifIds: true });
    assert.deepEqual(await said({ colour: 'rgb', signal: 'ids' }), {
      colour: 'rgb',
      evidence: "component ids 'R', 'G', 'B'",
    });
    assert.deepEqual(await said({ colour: 'rgb', signal: 'adobe' }), {
      colour: 'rgb',
      evidence: 'an Adobe marker with transform 0',
    });
    // A JFIF marker on R, G, B ids: the stream contradicts itself.
    const rgb = readJpegHeader(await encodeTile(tile, { colour: 'rgb', signal: 'ids' }, 90));
    assert.match(
      (streamColour([{ ...rgb, jfif: true }], rgb.frame!) as { conflict: string }).conflict,
      /contradicts itself: a JFIF marker and component ids 'R', 'G', 'B'/,
    );
  });

  test('a rebuilt stream states the colour space it is given, whatever the tile said', async () => {
    const rgbTile = { width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3) };
    for (let i = 0; i < 256; i++) rgbTile.rgb.set(STAIN, i * 3);
    const ycbcr = parseJpeg(await encodeTile(rgbTile, { colour: 'ycbcr', chroma: '4:4:4', signal: 'jfif' }, 95));
    const decode = async (jpeg: Uint8Array) => [...(await sharp(jpeg).raw().toBuffer()).subarray(0, 3)];
    assert.ok(colourError(await decode(standaloneJpeg(ycbcr, null, 'ycbcr')), STAIN) <= 1);
    // Told RGB, the same stream's Y, Cb, Cr (JFIF's transform of 170, 50, 110: 92.7, 137.8, 183.1) come
    // out as they are: what libtiff does under Photometric RGB.
    assert.ok(colourError(await decode(standaloneJpeg(ycbcr, null, 'rgb')), [92.7, 137.8, 183.1]) <= 1);
    const rebuilt = readJpegHeader(standaloneJpeg(ycbcr, null, 'rgb'));
    assert.equal(rebuilt.jfif, false);
    assert.equal(rebuilt.adobeTransform, 0);
  });
});
