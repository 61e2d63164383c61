/**
 * DICOM WSI Part 10 files read as slides: series written by the project's own writer
 * (test/dicom-fixtures.ts), read back through openSlide, and compared pixel for pixel with the image
 * they were written from.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { slideCommand } from '../src/cli/slide-cmd.js';
import { readCollection } from '../src/collections/read.js';
import { DicomSlide } from '../src/wsi/dicom/dicom-slide.js';
import { instanceFromJsonModel } from '../src/wsi/dicom/json-model.js';
import { readPart10Header } from '../src/wsi/dicom/part10.js';
import { findDicomSeries, disposeSeries, formatDicomSlideRef, parseDicomSlideRef } from '../src/wsi/dicom/series.js';
import { formatItemKey, parseItemKey } from '../src/collections/item-key.js';
import { slideId } from '../src/wsi/slide-sources.js';
import { openSlide } from '../src/wsi/slide.js';
import type { Slide } from '../src/wsi/types.js';
import { writeDicomWsi, type DicomWsiOptions, type RgbImage } from './dicom-fixtures.js';
import { temporaryFolder } from './helpers.js';

const TIMEOUT = 120_000;

/** A deterministic H&E-like image: pink and purple blobs with texture on white glass. */
function tissueImage(width: number, height: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const blobs = [
    { cx: 0.3, cy: 0.35, r: 0.25, colour: [220, 120, 170] },
    { cx: 0.7, cy: 0.6, r: 0.28, colour: [150, 80, 170] },
    { cx: 0.45, cy: 0.8, r: 0.15, colour: [200, 100, 150] },
  ];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let colour = [245, 245, 245];
      for (const b of blobs) {
        const dx = x / width - b.cx;
        const dy = y / height - b.cy;
        if (dx * dx + dy * dy < b.r * b.r) colour = b.colour;
      }
      // Nuclei-like stripes and noise, so the frames are not flat.
      const texture = 18 * Math.sin(x / 5) * Math.cos(y / 7) + 6 * random();
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[i + c] = Math.max(0, Math.min(255, Math.round(colour[c]! + texture)));
    }
  }
  return { rgb, width, height };
}

const IMAGE = tissueImage(700, 520);

/** Mean absolute difference per channel between a region read and the same region of `image`, white outside it. */
function meanAbsDiff(read: Uint8Array, image: RgbImage, x: number, y: number, w: number, h: number): number[] {
  const sums = [0, 0, 0];
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) {
      const inside = x + col < image.width && y + row < image.height;
      const at = ((y + row) * image.width + x + col) * 3;
      for (let c = 0; c < 3; c++) {
        const expected = inside ? image.rgb[at + c]! : 255;
        sums[c]! += Math.abs(read[(row * w + col) * 3 + c]! - expected);
      }
    }
  }
  return sums.map((s) => s / (w * h));
}

/** Regions across frame boundaries and the image's right and bottom edges (level pixels). */
const REGIONS: readonly [number, number, number, number][] = [
  [0, 0, 224, 224],
  [200, 150, 300, 260],
  [500, 400, 200, 120],
  [650, 480, 100, 100],
];

async function written(t: TestContext, options: DicomWsiOptions) {
  const dir = await temporaryFolder('histoseek-dicom-slide-', t);
  return writeDicomWsi(join(dir, 'series'), IMAGE, options);
}

async function withSlide<T>(ref: string, fn: (slide: Slide) => Promise<T>): Promise<T> {
  const slide = await openSlide(ref);
  try {
    return await fn(slide);
  } finally {
    slide.close();
  }
}

/** The worst channel's mean absolute difference over REGIONS of level 0. */
async function worstDiff(slide: Slide, image: RgbImage = IMAGE): Promise<number> {
  let worst = 0;
  for (const [x, y, w, h] of REGIONS) {
    const read = await slide.readRegion(x, y, 0, w, h);
    worst = Math.max(worst, ...meanAbsDiff(read, image, x, y, w, h));
  }
  return worst;
}

describe('DICOM WSI files as slides', { timeout: 10 * TIMEOUT }, () => {
  test(
    'TILED_FULL JPEG pyramid: levels, mpp, patient, and pixels within JPEG error of the source',
    { timeout: TIMEOUT },
    async (t) => {
      const fixture = await written(t, {
        tiling: 'full',
        levels: 3,
        tileSize: 128,
        patientId: 'PAT-42',
        pixelSpacingMm: 0.00025,
      });
      await withSlide(fixture.dir, async (slide) => {
        assert.ok(slide instanceof DicomSlide);
        assert.equal(slide.backend, 'dicom');
        assert.deepEqual(
          slide.levels.map((l) => [l.width, l.height]),
          [
            [700, 520],
            [350, 260],
            [175, 130],
          ],
        );
        assert.deepEqual(
          slide.levels.map((l) => +l.downsample.toFixed(3)),
          [1, 2, 4],
        );
        assert.deepEqual(slide.mpp, { x: 0.25, y: 0.25 });
        assert.equal(slide.dicom.patientId, 'PAT-42');
        assert.equal(slide.dicom.seriesInstanceUid, fixture.seriesInstanceUid);
        assert.equal(slide.dicom.studyInstanceUid, fixture.studyInstanceUid);
        assert.deepEqual(slide.dicom.tiling, ['full']);
        const worst = await worstDiff(slide);
        // JPEG at quality 90 with 4:2:0 chroma on a textured image: measured 2.1–2.5 per channel.
        assert.ok(worst > 0 && worst <= 3, `worst mean abs diff ${worst.toFixed(2)}`);
        // A coarser level against the writer's own downsampled image.
        const level2 = fixture.levels[2]!;
        const read = await slide.readRegion(0, 0, 2, level2.width, level2.height);
        const diff = Math.max(...meanAbsDiff(read, level2, 0, 0, level2.width, level2.height));
        assert.ok(diff <= 3, `level 2 mean abs diff ${diff.toFixed(2)}`);
        // Without Pixel Spacing, the imaged volume gives the resolution, turned a quarter or not (700×520 px at 0.25 µm).
        const base = await readPart10Header(fixture.files[0]!);
        const instance = instanceFromJsonModel(base.dataset, base.transferSyntaxUid, fixture.files[0]!);
        await base.dispose();
        const source = { where: 'none', readFrame: () => Promise.reject(new Error('no frames')), close: () => {} };
        const decode = () => Promise.reject(new Error('no frames'));
        for (const volume of [
          { width: 0.175, height: 0.13 },
          { width: 0.13, height: 0.175 },
        ]) {
          const bare = { ...instance, pixelSpacingMm: null, imagedVolumeMm: volume };
          const fromVolume = new DicomSlide('x', [bare], source, { backend: 'dicom', decode });
          assert.deepEqual(fromVolume.mpp, { x: 0.25, y: 0.25 }, JSON.stringify(volume));
        }
        // Outside the slide is white.
        const outside = await slide.readRegion(800, 600, 0, 16, 16);
        assert.ok(outside.every((v) => v === 255));
      });
    },
  );

  test(
    'lossless transfer syntaxes give the source exactly: native, implicit, deflate, JPEG-LS',
    { timeout: TIMEOUT },
    async (t) => {
      for (const transferSyntax of ['native', 'implicit', 'deflate', 'jpegls'] as const) {
        const fixture = await written(t, { tiling: 'full', tileSize: 200, transferSyntax });
        const worst = await withSlide(fixture.dir, (slide) => worstDiff(slide));
        assert.equal(worst, 0, `${transferSyntax}: worst mean abs diff ${worst}`);
      }
    },
  );

  test('JPEG 2000 (YBR_ICT, lossy) within its error of the source', { timeout: TIMEOUT }, async (t) => {
    const fixture = await written(t, { tiling: 'full', tileSize: 128, transferSyntax: 'jpeg2000' });
    const worst = await withSlide(fixture.dir, (slide) => worstDiff(slide));
    // Measured 1.0–1.4 per channel.
    assert.ok(worst > 0 && worst <= 2, `worst mean abs diff ${worst.toFixed(2)}`);
  });

  test(
    'TILED_SPARSE: frames where the per-frame positions put them, white where frames are missing',
    { timeout: TIMEOUT },
    async (t) => {
      const skipped = (x: number, y: number) => (x + y) % 3 === 1;
      const fixture = await written(t, {
        tiling: 'sparse',
        tileSize: 128,
        skipFrames: skipped,
        transferSyntax: 'native',
      });
      await withSlide(fixture.dir, async (slide) => {
        assert.ok(slide instanceof DicomSlide);
        assert.deepEqual(slide.dicom.tiling, ['sparse']);
        const read = await slide.readRegion(0, 0, 0, 700, 520);
        let present = 0;
        let missing = 0;
        for (let ty = 0; ty * 128 < 520; ty++) {
          for (let tx = 0; tx * 128 < 700; tx++) {
            const [w, h] = [Math.min(128, 700 - tx * 128), Math.min(128, 520 - ty * 128)];
            const tile = new Uint8Array(w * h * 3);
            for (let row = 0; row < h; row++) {
              const from = ((ty * 128 + row) * 700 + tx * 128) * 3;
              tile.set(read.subarray(from, from + w * 3), row * w * 3);
            }
            if (skipped(tx, ty)) {
              assert.ok(
                tile.every((v) => v === 255),
                `missing frame (${tx}, ${ty}) is white`,
              );
              missing++;
            } else {
              assert.deepEqual(meanAbsDiff(tile, IMAGE, tx * 128, ty * 128, w, h), [0, 0, 0], `frame (${tx}, ${ty})`);
              present++;
            }
          }
        }
        assert.ok(present > 10 && missing > 5, `${present} frames present, ${missing} missing`);
      });
    },
  );

  test(
    'frames found through a Basic, an Extended, or no offset table read the same',
    { timeout: TIMEOUT },
    async (t) => {
      const reads: Uint8Array[] = [];
      for (const offsetTable of ['basic', 'extended', 'none'] as const) {
        const fixture = await written(t, { tiling: 'full', tileSize: 128, offsetTable });
        await withSlide(fixture.dir, async (slide) => {
          const worst = await worstDiff(slide);
          assert.ok(worst <= 3, `${offsetTable}: worst mean abs diff ${worst.toFixed(2)}`);
          reads.push(await slide.readRegion(100, 100, 0, 500, 400));
        });
      }
      assert.deepEqual(reads[1], reads[0], 'extended = basic');
      assert.deepEqual(reads[2], reads[0], 'none = basic');
    },
  );

  test('label, overview and thumbnail are associated images, out of the levels', { timeout: TIMEOUT }, async (t) => {
    const fixture = await written(t, {
      levels: 2,
      associated: ['LABEL', 'OVERVIEW', 'THUMBNAIL'],
      transferSyntax: 'native',
    });
    await withSlide(fixture.dir, async (slide) => {
      assert.equal(slide.levels.length, 2);
      assert.deepEqual(slide.associatedImages().sort(), ['label', 'overview', 'thumbnail']);
      const label = await slide.readAssociated('label');
      assert.deepEqual([label.width, label.height], [120, 60]);
      // The writer's label: blue with white bands.
      assert.deepEqual([...label.rgb.subarray(6 * 120 * 3, 6 * 120 * 3 + 3)], [30, 60, 200]);
      const thumbnail = await slide.readAssociated('thumbnail');
      assert.equal(Math.max(thumbnail.width, thumbnail.height), 96);
      await assert.rejects(slide.readAssociated('macro'), /no associated image 'macro'/);
    });
  });

  test(
    'series grouped by Series Instance UID whatever the file names; references and slide ids',
    { timeout: TIMEOUT },
    async (t) => {
      const dir = await temporaryFolder('histoseek-dicom-series-', t);
      const names = ['IMG0001', 'scan.bin', 'x.jpg'];
      const a = await writeDicomWsi(dir, IMAGE, {
        levels: 2,
        transferSyntax: 'native',
        fileName: (i) => `a-${names[i]}`,
      });
      const small = tissueImage(300, 200);
      const b = await writeDicomWsi(dir, small, { transferSyntax: 'native', tiling: 'sparse', fileName: () => 'zz' });
      await writeFile(join(dir, 'notes.txt'), 'not DICOM');
      const found = await findDicomSeries(dir);
      await disposeSeries(found.series);
      assert.deepEqual(found.unreadable, []);
      assert.deepEqual(
        found.series.map((s) => [s.seriesInstanceUid, s.instances.length]).sort(),
        [
          [a.seriesInstanceUid, 2],
          [b.seriesInstanceUid, 1],
        ].sort(),
      );
      await assert.rejects(openSlide(dir), (e: Error) => {
        assert.match(e.message, /holds 2 series/);
        assert.ok(e.message.includes(a.seriesInstanceUid) && e.message.includes(b.seriesInstanceUid), e.message);
        return true;
      });
      const ref = formatDicomSlideRef(dir, b.seriesInstanceUid);
      assert.deepEqual(parseDicomSlideRef(ref), { folder: dir, seriesInstanceUid: b.seriesInstanceUid });
      assert.equal(slideId(ref), b.seriesInstanceUid);
      const key = { kind: 'region', path: ref, box: { x: 10, y: 20, width: 30, height: 40 } } as const;
      assert.deepEqual(parseItemKey(formatItemKey(key)), key);
      await withSlide(ref, async (slide) => {
        assert.deepEqual([slide.levels[0]!.width, slide.levels[0]!.height], [300, 200]);
        assert.equal(await worstDiff(slide, small), 0);
      });
      // slide info names the series, its study and patient, encoding and tiling.
      const printed: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (chunk: string | Uint8Array) => printed.push(String(chunk)) > 0;
      try {
        assert.equal(await slideCommand.run(['info', ref]), 0);
      } finally {
        process.stdout.write = write;
      }
      const info = printed.join('');
      for (const expected of [
        `series ${b.seriesInstanceUid}, patient PATIENT-1`,
        `study ${b.studyInstanceUid}`,
        'transfer syntax 1.2.840.10008.1.2.1 (Explicit VR Little Endian); TILED_SPARSE',
        'level 0: 300×200 (downsample 1)',
      ])
        assert.ok(info.includes(expected), `'${expected}' in:\n${info}`);
      // One of the series' files opens its series.
      await withSlide(join(dir, 'a-scan.bin'), async (slide) => {
        assert.ok(slide instanceof DicomSlide);
        assert.equal(slide.dicom.seriesInstanceUid, a.seriesInstanceUid);
        assert.equal(slide.levels.length, 2);
      });
    },
  );

  test(
    '--layout slides: one slide per series in DIR and its sub-folders, patient from DICOM',
    { timeout: TIMEOUT },
    async (t) => {
      const dir = await temporaryFolder('histoseek-dicom-layout-', t);
      await writeDicomWsi(join(dir, 'case-7'), IMAGE, {
        patientId: 'P-7',
        transferSyntax: 'native',
        pixelSpacingMm: 0.001,
      });
      const two = join(dir, 'two');
      const s1 = await writeDicomWsi(two, IMAGE, {
        patientId: 'P-8',
        fileName: (i) => `s1-${i}`,
        pixelSpacingMm: 0.001,
      });
      const s2 = await writeDicomWsi(two, IMAGE, {
        patientId: 'P-9',
        fileName: (i) => `s2-${i}`,
        pixelSpacingMm: 0.001,
      });
      const collection = await readCollection(dir, 'slides');
      assert.deepEqual(collection.skipped, []);
      const bySlide = new Map<string, Set<string | undefined>>();
      for (const item of collection.items) {
        const slide = item.slide!;
        bySlide.set(slide, (bySlide.get(slide) ?? new Set()).add(item.patient));
        assert.equal(parseItemKey(item.source).kind, 'region', item.source);
      }
      assert.equal(bySlide.size, 3, [...bySlide.keys()].join(', '));
      assert.deepEqual([...bySlide.get('case-7')!], ['P-7']);
      // A series' folder linked in (slides on shared storage) is found as a linked file would be.
      const linking = await temporaryFolder('histoseek-dicom-linked-', t);
      await symlink(join(dir, 'case-7'), join(linking, 'case-7'));
      const linked = await readCollection(linking, 'slides');
      assert.deepEqual([...new Set(linked.items.map((i) => i.slide))], ['case-7']);
      assert.equal(linked.items.length, collection.items.filter((i) => i.slide === 'case-7').length);
      assert.deepEqual([...bySlide.get(s1.seriesInstanceUid)!], ['P-8']);
      // The labels CSV's patient wins over DICOM's; without one, DICOM's stays.
      const csv = join(dir, 'labels.csv');
      await writeFile(
        csv,
        `slide,label,patient\ncase-7,tumour,CSV-PATIENT\n${s1.seriesInstanceUid},normal,\n${s2.seriesInstanceUid},normal,\n`,
      );
      const labelled = await readCollection(dir, 'slides', 'index', { labels: csv });
      assert.deepEqual(
        [...new Set(labelled.items.map((i) => `${i.slide}:${i.label}:${i.patient}`))].sort(),
        [
          'case-7:tumour:CSV-PATIENT',
          `${s1.seriesInstanceUid}:normal:P-8`,
          `${s2.seriesInstanceUid}:normal:P-9`,
        ].sort(),
      );
    },
  );

  test(
    'clear errors: truncated header, truncated pixels, not WSI, a missing attribute',
    { timeout: TIMEOUT },
    async (t) => {
      const fixture = await written(t, { tiling: 'full', tileSize: 128, transferSyntax: 'native' });
      const file = fixture.files[0]!;
      const header = await readPart10Header(file);
      await header.dispose();
      // Pixels cut short: opening works (the header is whole); reading the frames says the file is truncated.
      const cut = join(fixture.dir, '..', 'cut');
      await mkdir(cut);
      await copyFile(file, join(cut, 'level0.dcm'));
      await truncate(join(cut, 'level0.dcm'), header.pixelDataOffset + 1000);
      await withSlide(cut, async (slide) => {
        await assert.rejects(slide.readRegion(0, 0, 0, 64, 64), /level0\.dcm: truncated/);
      });
      // A frame that does not decode: the codec's words, after the slide, the instance and the frame.
      const damaged = await written(t, { tiling: 'full', tileSize: 128, transferSyntax: 'jpeg2000' });
      const j2kFile = damaged.files[0]!;
      const j2k = Buffer.from(await readFile(j2kFile));
      const soc = j2k.indexOf(Buffer.of(0xff, 0x4f, 0xff, 0x51)); // the first frame's codestream
      j2k.fill(0, soc, soc + 4);
      await writeFile(j2kFile, j2k);
      const j2kHeader = await readPart10Header(j2kFile);
      await j2kHeader.dispose();
      const { sopInstanceUid } = instanceFromJsonModel(j2kHeader.dataset, j2kHeader.transferSyntaxUid, j2kFile);
      await withSlide(damaged.dir, async (slide) => {
        await assert.rejects(slide.readRegion(0, 0, 0, 64, 64), (e: Error) => {
          assert.equal(e.name, 'FrameDecodeError');
          const where = `${damaged.dir}: instance ${sopInstanceUid}, frame 1: `;
          assert.ok(e.message.startsWith(`${where}JPEG 2000 frame: `), e.message);
          t.diagnostic(e.message);
          return true;
        });
      });
      // Header cut short: the folder is refused, naming the file.
      const short = join(fixture.dir, '..', 'short');
      await mkdir(short);
      await writeFile(join(short, 'level0.dcm'), (await readFile(file)).subarray(0, 1000));
      // Cut inside an element, or (by chance) between two: both say truncated.
      await assert.rejects(openSlide(short), /level0\.dcm: (truncated or malformed header|no Pixel Data .*truncated)/);
      // Not a whole-slide image: a DICOM file of another SOP class (VL Photographic, a UID as long) is passed over.
      const other = join(fixture.dir, '..', 'other');
      await mkdir(other);
      const bytes = Buffer.from(await readFile(file));
      const [wsi, photographic] = ['1.2.840.10008.5.1.4.1.1.77.1.6', '1.2.840.10008.5.1.4.1.1.77.1.4'];
      for (let at = bytes.indexOf(wsi); at >= 0; at = bytes.indexOf(wsi, at + 1))
        bytes.write(photographic, at, 'latin1');
      await writeFile(join(other, 'photo.dcm'), bytes);
      await writeFile(join(other, 'notes.txt'), 'hello');
      await assert.rejects(openSlide(other), /no DICOM whole-slide \(VL Whole Slide Microscopy\) series/);
      await assert.rejects(openSlide(join(other, 'photo.dcm')), /no DICOM whole-slide/);
      // A missing attribute is named with its tag and the file.
      const rest = { ...header.dataset };
      delete rest['00280010'];
      assert.throws(
        () => instanceFromJsonModel(rest, header.transferSyntaxUid, 'where.dcm'),
        /where\.dcm: Rows \(0028,0010\) is missing/,
      );
      const planes = { ...header.dataset, '00480303': { vr: 'UL', Value: [3] } };
      assert.throws(
        () => instanceFromJsonModel(planes, header.transferSyntaxUid, 'where.dcm'),
        /Total Pixel Matrix Focal Planes \(0048,0303\) is 3: only one focal plane is read/,
      );
      // An instance of a concatenation continues the row-major order where the previous one stopped.
      const second = { ...header.dataset, '00209228': { vr: 'UL', Value: [3] }, '00280008': { vr: 'IS', Value: [2] } };
      const continued = instanceFromJsonModel(second, header.transferSyntaxUid, 'where.dcm');
      // 700×520 in 128-px tiles: 6 a row, so frames 4 and 5 of the level are (384, 0) and (512, 0).
      assert.deepEqual([...continued.framePositions], [384, 0, 512, 0]);
      const badOrganization = { ...header.dataset, '00209311': { vr: 'CS', Value: ['3D'] } };
      assert.throws(
        () => instanceFromJsonModel(badOrganization, header.transferSyntaxUid, 'where.dcm'),
        /Dimension Organization Type \(0020,9311\) '3D' is neither TILED_FULL nor TILED_SPARSE/,
      );
    },
  );
});
