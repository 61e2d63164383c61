import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  GLASS,
  renderSlide,
  writeKimiaCollection,
  writePyramidalTiff,
  type SlideRecord,
} from '../../src/data/synthetic/index.js';
import { OpenSlideError, argbToRgb, detectVendor } from '../../src/wsi/openslide.js';
import { SlideOpenError, openSlide, readThumbnail } from '../../src/wsi/slide.js';
import type { Slide } from '../../src/wsi/types.js';
import { countTiles, planTiles, tiles, type Tile, type TileOptions } from '../../src/wsi/tiler.js';
import {
  fractionInBox,
  otsu,
  renderMaskPreview,
  tissueMask,
  writeMaskPng,
  type TissueMask,
} from '../../src/wsi/tissue-mask.js';
import { ROOT, startScript, temporaryFolder } from '../helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 600_000;

const CMU1 = join(ROOT, '../shared/data/slides/CMU-1-Small-Region.svs');
const SKIP_CMU1 = existsSync(CMU1) ? false : `${CMU1} is absent (shared test data)`;

function meanRgb(rgb: Uint8Array): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < rgb.length; i++) sum[i % 3]! += rgb[i]!;
  const n = rgb.length / 3;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

async function collect(slide: Slide, options: TileOptions): Promise<Tile[]> {
  const out: Tile[] = [];
  for await (const tile of tiles(slide, options)) out.push(tile);
  return out;
}

const rawImage = (rgb: Uint8Array, width: number, height: number) =>
  sharp(rgb, { raw: { width, height, channels: 3 } });

describe('argbToRgb', { timeout: TIMEOUT }, () => {
  test('opaque pixels are copied, transparent ones white, partly transparent ones un-premultiplied', () => {
    const argb = new Uint32Array([0xff102030, 0x00000000, 0x80402010, 0xff000000, 0xffffffff]);
    assert.deepEqual([...argbToRgb(argb)], [0x10, 0x20, 0x30, 255, 255, 255, 128, 64, 32, 0, 0, 0, 255, 255, 255]);
    // The packed fast path (four pixels at a time) and the per-pixel path agree, tail included.
    const many = new Uint32Array(103).map((_, i) => (0xff000000 | (i * 0x010203)) >>> 0);
    const rgb = argbToRgb(many);
    for (let i = 0; i < many.length; i++) {
      assert.deepEqual(
        [...rgb.subarray(3 * i, 3 * i + 3)],
        [(many[i]! >>> 16) & 255, (many[i]! >>> 8) & 255, many[i]! & 255],
      );
    }
  });
});

describe('mask geometry', { timeout: TIMEOUT }, () => {
  // 4 × 4 mask pixels of 10 level-0 pixels each; the left half is tissue.
  const mask: TissueMask = {
    width: 4,
    height: 4,
    downsample: 10,
    mask: new Uint8Array(16).map((_, i) => (i % 4 < 2 ? 1 : 0)),
    tissueFraction: 0.5,
  };

  test('fractionInBox weighs mask pixels by the part of them the box covers', () => {
    assert.equal(fractionInBox(mask, 0, 0, 20, 40), 1);
    assert.equal(fractionInBox(mask, 20, 0, 20, 40), 0);
    assert.ok(Math.abs(fractionInBox(mask, 10, 0, 20, 20) - 0.5) < 1e-12);
    assert.ok(Math.abs(fractionInBox(mask, 15, 5, 10, 10) - 0.5) < 1e-12, 'a box inside two mask pixels');
    // Half the box lies left of the slide: that half counts as background.
    assert.ok(Math.abs(fractionInBox(mask, -20, 0, 40, 40) - 0.5) < 1e-12);
  });

  test("Otsu's threshold separates two modes", () => {
    const histogram = new Float64Array(256);
    histogram[10] = 500;
    histogram[12] = 300;
    histogram[120] = 200;
    histogram[130] = 400;
    const t = otsu(histogram);
    assert.ok(t >= 12 && t < 120, `threshold ${t}`);
  });
});

describe('CMU-1-Small-Region.svs (Aperio, via OpenSlide)', { timeout: TIMEOUT, skip: SKIP_CMU1 }, () => {
  let slide: Slide;
  let mask: TissueMask;
  before(async () => {
    slide = await openSlide(CMU1);
    mask = await tissueMask(slide);
  });
  after(() => slide?.close());

  test('vendor, levels, resolution and properties', () => {
    assert.equal(detectVendor(CMU1), 'aperio');
    assert.equal(slide.backend, 'openslide');
    assert.equal(slide.vendor, 'aperio');
    assert.deepEqual(slide.levels[0], { width: 2220, height: 2967, downsample: 1 });
    assert.ok(
      slide.mpp && Math.abs(slide.mpp.x - 0.499) < 1e-3 && Math.abs(slide.mpp.y - 0.499) < 1e-3,
      JSON.stringify(slide.mpp),
    );
    assert.equal(slide.objectivePower, 20);
    assert.equal(slide.properties['aperio.AppMag'], '20');
  });

  test('associated images: thumbnail, label and macro', async () => {
    const names = slide.associatedImages();
    for (const name of ['thumbnail', 'label', 'macro'])
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    const thumbnail = await slide.readAssociated('thumbnail');
    assert.ok(thumbnail.width > 100 && thumbnail.height > 100);
    assert.equal(thumbnail.rgb.length, thumbnail.width * thumbnail.height * 3);
    // The thumbnail shows the same slide: about the same aspect ratio as level 0.
    assert.ok(Math.abs(thumbnail.width / thumbnail.height - 2220 / 2967) < 0.02);
    await assert.rejects(slide.readAssociated('nonexistent'), /nonexistent/);
  });

  test('a region of tissue is H&E-coloured; outside the slide is white', async () => {
    // Mid-slide, on the tissue (see the mask): eosin and haematoxylin both absorb green most.
    const [r, g, b] = meanRgb(await slide.readRegion(900, 1800, 0, 300, 300));
    assert.ok(r > g + 20 && b > g, `mean RGB ${r.toFixed(1)}, ${g.toFixed(1)}, ${b.toFixed(1)}`);
    const edge = await slide.readRegion(-50, -50, 0, 100, 100);
    assert.ok(
      edge.subarray(0, 100 * 50 * 3).every((v) => v === 255),
      'the part above the slide is white',
    );
  });

  test('tissue mask: a plausible share, pink–purple inside and bright glass outside', async () => {
    assert.deepEqual([mask.width, mask.height], [1532, 2048]);
    assert.ok(Math.abs(mask.downsample - 2967 / 2048) < 1e-9);
    assert.ok(mask.tissueFraction > 0.2 && mask.tissueFraction < 0.95, `tissue fraction ${mask.tissueFraction}`);
    const thumb = await readThumbnail(slide, 2048);
    const sums = { tissue: [0, 0, 0, 0], glass: [0, 0, 0, 0] };
    for (let i = 0; i < mask.mask.length; i++) {
      const s = mask.mask[i] ? sums.tissue : sums.glass;
      for (let c = 0; c < 3; c++) s[c]! += thumb.rgb[3 * i + c]!;
      s[3]!++;
    }
    const [tr, tg, tb] = sums.tissue.slice(0, 3).map((v) => v / sums.tissue[3]!);
    const glassBrightness = (sums.glass[0]! + sums.glass[1]! + sums.glass[2]!) / (3 * sums.glass[3]!);
    assert.ok(tr! > tg! + 30 && tb! > tg!, `tissue mean RGB ${tr}, ${tg}, ${tb}`);
    assert.ok(glassBrightness > 225, `glass brightness ${glassBrightness}`);
  });

  test('mask PNG and preview PNG', async (t) => {
    const file = join(await temporaryFolder('histoseek-wsi-', t), 'mask.png');
    await writeMaskPng(mask, file);
    const written = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([written.info.width, written.info.height], [mask.width, mask.height]);
    assert.equal(written.data[0], 0, 'the top-left corner is glass');
    const preview = await sharp(await renderMaskPreview(slide, mask)).metadata();
    assert.deepEqual([preview.format, preview.width, preview.height], ['png', mask.width, mask.height]);
  });

  test('224-px tiles at 0.5 µm/px lie inside the slide, on tissue, and are H&E-coloured', async () => {
    const options = { mask, patchSize: 224, targetMpp: 0.5 };
    const got = await collect(slide, options);
    assert.ok(got.length >= 20, `${got.length} tiles`);
    assert.equal(await countTiles(slide, options), got.length);
    for (const t of got) {
      assert.equal(t.level, 0);
      assert.deepEqual([t.width, t.height], [224, 224], 'round(224 × 0.5 / 0.499) level-0 pixels');
      assert.ok(t.x >= 0 && t.y >= 0 && t.x + t.width <= 2220 && t.y + t.height <= 2967, `tile at ${t.x}, ${t.y}`);
      assert.ok(fractionInBox(mask, t.x, t.y, t.width, t.height) >= 0.5);
      assert.equal(t.pixels.length, 224 * 224 * 3);
    }
    const [r, g] = meanRgb(got[Math.floor(got.length / 2)]!.pixels);
    assert.ok(r > g, `mean R ${r} > mean G ${g}`);
  });

  test('tiles at 1 µm/px are read at level 0 over 449 px and resized to 224', async () => {
    const got = await collect(slide, { mask, targetMpp: 1 });
    assert.ok(got.length > 0);
    for (const t of got) {
      assert.deepEqual([t.level, t.width, t.height, t.pixels.length], [0, 449, 449, 224 * 224 * 3]);
    }
  });
});

describe('synthetic slides', { timeout: TIMEOUT }, () => {
  let dir: string;
  let tiff: string;
  let record: SlideRecord;
  before(async () => {
    dir = await temporaryFolder('histoseek-wsi-');
    const summary = await writeKimiaCollection(dir, {
      seed: 5,
      slides: 1,
      slideSize: 1536,
      patchSize: 224,
      trainPerSlide: 0,
      testPerSlide: 0,
    });
    tiff = join(dir, summary.slides[0]!.tiff);
    record = (JSON.parse(await readFile(summary.manifest, 'utf8')) as { slides: SlideRecord[] }).slides[0]!;
  });

  test('a generated pyramidal TIFF opens with OpenSlide (generic-tiff) at 0.5 µm/px', async () => {
    const slide = await openSlide(tiff);
    try {
      assert.equal(slide.backend, 'openslide');
      assert.equal(slide.vendor, 'generic-tiff');
      assert.deepEqual(slide.mpp, { x: 0.5, y: 0.5 });
      assert.deepEqual(slide.levels.slice(0, 3), [
        { width: 1536, height: 1536, downsample: 1 },
        { width: 768, height: 768, downsample: 2 },
        { width: 384, height: 384, downsample: 4 },
      ]);
      assert.equal(slide.bestLevelForDownsample(2.5), 1);
      // The same area read from level 0 and level 1 has the same colour.
      const fine = meanRgb(await slide.readRegion(500, 500, 0, 400, 400));
      const coarse = meanRgb(await slide.readRegion(500, 500, 1, 200, 200));
      for (let c = 0; c < 3; c++)
        assert.ok(Math.abs(fine[c]! - coarse[c]!) < 3, `channel ${c}: ${fine[c]} vs ${coarse[c]}`);
    } finally {
      slide.close();
    }
  });

  test('the tissue mask matches the generator’s labels; tiles skip the glass at the edges', async () => {
    const truth = renderSlide({ cls: record.class, seed: record.seed, width: record.width, height: record.height });
    const slide = await openSlide(tiff);
    try {
      const mask = await tissueMask(slide);
      assert.equal(mask.downsample, 1, 'a 1536² slide is masked at full resolution');
      // The generator labels only the margin as glass; lumens and fat inside count as tissue there but
      // are (rightly) background in the mask, hence the looser bound on tissue found.
      const counts = { glass: 0, glassMasked: 0, tissue: 0, tissueMasked: 0 };
      for (let i = 0; i < mask.mask.length; i++) {
        if (truth.labels[i] === GLASS) {
          counts.glass++;
          counts.glassMasked += mask.mask[i]!;
        } else {
          counts.tissue++;
          counts.tissueMasked += mask.mask[i]!;
        }
      }
      assert.ok(counts.glass > 0.05 * mask.mask.length);
      assert.ok(
        counts.glassMasked / counts.glass < 0.02,
        `glass taken for tissue: ${counts.glassMasked / counts.glass}`,
      );
      assert.ok(counts.tissueMasked / counts.tissue > 0.7, `tissue found: ${counts.tissueMasked / counts.tissue}`);

      const got = await collect(slide, { mask });
      assert.ok(got.length > 10, `${got.length} tiles`);
      for (const t of got) {
        let glass = 0;
        for (let y = t.y; y < t.y + t.height; y++)
          for (let x = t.x; x < t.x + t.width; x++) glass += Number(truth.labels[y * record.width + x] === GLASS);
        assert.ok(
          glass / (t.width * t.height) < 0.6,
          `tile at ${t.x}, ${t.y} is ${glass / (t.width * t.height)} glass`,
        );
      }
      // The generator puts glass along every edge: the corner tiles are skipped.
      const all = await countTiles(slide, { minTissue: 0 });
      assert.equal(all, Math.floor(1536 / 224) ** 2);
      assert.ok(got.length < all);
      assert.ok(!got.some((t) => t.x === 0 && t.y === 0));

      // A region of interest and a half stride.
      const roi = { x: 300, y: 300, width: 800, height: 700 };
      const inRoi = await collect(slide, { mask, roi, minTissue: 0 });
      assert.equal(inRoi.length, Math.floor(800 / 224) * Math.floor(700 / 224));
      assert.ok(inRoi.every((t) => t.x >= 300 && t.y >= 300 && t.x + 224 <= 1100 && t.y + 224 <= 1000));
      assert.equal(await countTiles(slide, { stride: 112, minTissue: 0 }), Math.floor((1536 - 224) / 112 + 1) ** 2);
    } finally {
      slide.close();
    }
  });

  test('sharp reads the same pyramid, and plain PNG/JPEG images as one-level slides', async () => {
    const viaOpenSlide = await openSlide(tiff);
    const viaSharp = await openSlide(tiff, { backend: 'sharp' });
    try {
      assert.equal(viaSharp.backend, 'sharp');
      assert.deepEqual(viaSharp.levels.slice(0, 3), viaOpenSlide.levels.slice(0, 3));
      assert.deepEqual(viaSharp.mpp, { x: 0.5, y: 0.5 });
      // Both decode the same JPEG tiles; a region overlapping the right edge is padded with white.
      for (const [x, y, level] of [
        [256, 512, 0],
        [700, 300, 1],
        [1400, 1000, 0],
      ] as const) {
        const a = await viaOpenSlide.readRegion(x, y, level, 300, 200);
        const b = await viaSharp.readRegion(x, y, level, 300, 200);
        let diff = 0;
        for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
        assert.ok(diff / a.length < 1, `level ${level} at ${x}, ${y}: mean |difference| ${diff / a.length}`);
      }

      const level0 = await viaOpenSlide.readRegion(0, 0, 0, 1536, 1536);
      const png = join(dir, 'plain.png');
      await rawImage(level0, 1536, 1536).withMetadata({ density: 50_800 }).png().toFile(png);
      const jpeg = join(dir, 'plain.jpg');
      await rawImage(level0, 1536, 1536).jpeg({ quality: 95 }).toFile(jpeg);
      // A striped (untiled) TIFF, which OpenSlide 3.4 refuses.
      const striped = join(dir, 'striped.tiff');
      await rawImage(level0, 1536, 1536)
        .tiff({ compression: 'lzw', xres: 2000, yres: 2000, resolutionUnit: 'cm' })
        .toFile(striped);
      const plain = await openSlide(png);
      const photo = await openSlide(jpeg);
      const strips = await openSlide(striped);
      try {
        assert.deepEqual(
          [strips.backend, strips.vendor, strips.levels.length, strips.mpp],
          ['sharp', 'tiff', 1, { x: 0.5, y: 0.5 }],
        );
        assert.deepEqual(
          [...(await strips.readRegion(1500, 20, 0, 50, 10))],
          [...(await viaOpenSlide.readRegion(1500, 20, 0, 50, 10))],
        );
        assert.deepEqual([plain.backend, plain.vendor, plain.levels.length], ['sharp', 'png', 1]);
        assert.deepEqual(plain.mpp, { x: 0.5, y: 0.5 }, 'from the PNG’s pHYs resolution');
        assert.deepEqual(
          [...(await plain.readRegion(600, 700, 0, 50, 40))],
          [...(await viaOpenSlide.readRegion(600, 700, 0, 50, 40))],
        );
        const mask = await tissueMask(viaOpenSlide);
        assert.equal(await countTiles(plain, { mask }), await countTiles(viaOpenSlide, { mask }));
        // A JPEG states no resolution: tiles are cut at level-0 scale.
        assert.equal(photo.mpp, null);
        const first = (await tiles(photo, { mask, targetMpp: 2 }).next()).value as Tile;
        assert.deepEqual([first.width, first.height, first.pixels.length], [224, 224, 224 * 224 * 3]);
      } finally {
        plain.close();
        photo.close();
        strips.close();
      }
    } finally {
      viaOpenSlide.close();
      viaSharp.close();
    }
  });

  test('pen marks — green, blue and black ink — are not tissue', async () => {
    const size = 1024;
    const slide = renderSlide({ cls: 'stroma', seed: 9, width: size, height: size });
    const inks: Array<[number, number, number]> = [
      [40, 150, 70],
      [35, 60, 210],
      [25, 25, 30],
    ];
    inks.forEach(([r, g, b], k) => {
      for (let y = 300 + k * 150; y < 340 + k * 150; y++) {
        for (let x = 150; x < 870; x++) slide.rgb.set([r, g, b], 3 * (y * size + x));
      }
    });
    const file = join(dir, 'pen.tiff');
    await writePyramidalTiff(rawImage(slide.rgb, size, size), file);
    const opened = await openSlide(file);
    try {
      const mask = await tissueMask(opened);
      inks.forEach((_, k) => {
        let tissue = 0;
        // The inner rows of each stroke, away from the anti-aliased JPEG edges.
        for (let y = 305 + k * 150; y < 335 + k * 150; y++)
          for (let x = 160; x < 860; x++) tissue += mask.mask[y * size + x]!;
        assert.ok(tissue / (30 * 700) < 0.02, `ink ${k}: ${tissue / (30 * 700)} counted as tissue`);
      });
      // The tissue between the strokes is still found.
      assert.ok(fractionInBox(mask, 300, 360, 400, 70) > 0.8, `${fractionInBox(mask, 300, 360, 400, 70)}`);
    } finally {
      opened.close();
    }
  });

  test('a slide of empty glass gives no tiles, not an error', async () => {
    const file = join(dir, 'glass.tiff');
    await writePyramidalTiff(
      sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 244, g: 243, b: 246 } } }),
      file,
    );
    const slide = await openSlide(file);
    try {
      const mask = await tissueMask(slide);
      assert.equal(mask.tissueFraction, 0);
      assert.equal(await countTiles(slide, { mask }), 0);
      assert.deepEqual(await collect(slide, {}), []);
    } finally {
      slide.close();
    }
  });

  test('unreadable files fail with errors that name them', async () => {
    const truncated = join(dir, 'truncated.tiff');
    const bytes = await readFile(tiff);
    await writeFile(truncated, bytes.subarray(0, bytes.length >> 1));
    const text = join(dir, 'notes.svs');
    await writeFile(text, 'this is a text file, not a slide\n');
    for (const file of [truncated, text, join(dir, 'missing.svs')]) {
      await assert.rejects(openSlide(file), (e: Error) => {
        assert.ok(e instanceof SlideOpenError, String(e));
        assert.ok(e.message.includes(file), e.message);
        return true;
      });
    }
    assert.equal(detectVendor(text), null);
    await assert.rejects(openSlide(text), /OpenSlide does not recognise the format/);
    await assert.rejects(openSlide(text, { backend: 'openslide' }), SlideOpenError);

    // Intact directories but garbage where the JPEG tiles were: OpenSlide opens it and fails on reading.
    const corrupt = join(dir, 'corrupt.tiff');
    await copyFile(tiff, corrupt);
    const handle = await open(corrupt, 'r+');
    await handle.write(Buffer.alloc(200_000, 0xd9), 0, 200_000, 50_000);
    await handle.close();
    const slide = await openSlide(corrupt);
    try {
      await assert.rejects(collect(slide, { minTissue: 0 }), (e: Error) => {
        assert.ok(e instanceof OpenSlideError, String(e));
        assert.ok(e.message.startsWith(`${corrupt}: reading level 0`), e.message);
        return true;
      });
    } finally {
      slide.close();
    }
  });

  test('close: idempotent, later reads fail, and a loop left early leaves no read behind', async () => {
    const slide = await openSlide(tiff);
    for await (const _ of tiles(slide, { minTissue: 0, concurrency: 8 })) break;
    slide.close();
    slide.close();
    await assert.rejects(slide.readRegion(0, 0, 0, 10, 10), /closed/);
  });
});

describe('memory', { timeout: TIMEOUT }, () => {
  let dir: string;
  before(async () => {
    dir = await temporaryFolder('histoseek-wsi-big-');
  });

  test('tiling a 20 000² slide (1.2 GB of RGB) stays under 500 MB peak RSS', async (t) => {
    const side = 20_000;
    const file = join(dir, 'big.tiff');
    // One rendering repeated: libvips streams the repetition into the pyramid, nothing slide-sized in memory.
    const tile = renderSlide({ cls: 'tumour', seed: 3, width: 2000, height: 2000 });
    await writePyramidalTiff(
      rawImage(tile.rgb, 2000, 2000).extend({ right: side - 2000, bottom: side - 2000, extendWith: 'repeat' }),
      file,
    );
    assert.ok((await stat(file)).size > 10e6);

    // The child reports VmHWM, its own peak: getrusage's maxRSS would include this process's, as
    // Linux carries it over from the parent across fork and exec.
    const child = `
      import { readFileSync } from 'node:fs';
      import { openSlide } from ${JSON.stringify(join(ROOT, 'src/wsi/slide.ts'))};
      import { tiles } from ${JSON.stringify(join(ROOT, 'src/wsi/tiler.ts'))};
      const slide = await openSlide(${JSON.stringify(file)});
      let count = 0, level = -1;
      for await (const t of tiles(slide, {})) { count++; level = t.level; }
      slide.close();
      const peak = Number(/^VmHWM:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
      console.log(JSON.stringify({ count, level, peak }));`;
    const answer = await startScript(child).done;
    assert.equal(answer.status, 0, `child exited with ${answer.status}: ${answer.stderr}`);
    const { count, level, peak } = JSON.parse(answer.stdout.trim().split('\n').at(-1)!) as {
      count: number;
      level: number;
      peak: number;
    };
    const grid = Math.floor(side / 224) ** 2;
    t.diagnostic(`${count} tiles, peak RSS ${peak.toFixed(0)} MiB`);
    assert.ok(count > 0.5 * grid && count < grid, `${count} tissue tiles of ${grid}`);
    assert.equal(level, 0);
    assert.ok(peak < 500, `peak RSS ${peak.toFixed(0)} MiB`);
  });
});

describe('tile plans', { timeout: TIMEOUT }, () => {
  test('planTiles picks the coarsest level that is fine enough, within rounding slack', async (t) => {
    const file = join(await temporaryFolder('histoseek-wsi-', t), 'plain.tiff');
    const slide = renderSlide({ cls: 'tumour', seed: 1, width: 1000, height: 1000 });
    await writePyramidalTiff(rawImage(slide.rgb, 1000, 1000), file);
    const opened = await openSlide(file);
    try {
      // Level 1 is 500² (downsample exactly 2); level 2 is 250².
      const at1 = await planTiles(opened, { targetMpp: 1, minTissue: 0 });
      assert.deepEqual([at1.level, at1.width, at1.readWidth], [1, 448, 224]);
      const at15 = await planTiles(opened, { targetMpp: 1.5, minTissue: 0 });
      assert.deepEqual(
        [at15.level, at15.width, at15.readWidth],
        [1, 672, 336],
        'read 336 px at level 1, resized to 224',
      );
      const tile = (await tiles(opened, { targetMpp: 1.5, minTissue: 0 }).next()).value as Tile;
      assert.equal(tile.pixels.length, 224 * 224 * 3);
      await assert.rejects(planTiles(opened, { patchSize: 0 }), RangeError);
      await assert.rejects(planTiles(opened, { minTissue: 2 }), RangeError);
    } finally {
      opened.close();
    }
  });
});
