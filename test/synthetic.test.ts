import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Random } from '../src/util/random.js';
import { readCollection } from '../src/collections/read.js';
import {
  DEFAULT_STAIN,
  TISSUE_CLASSES,
  composePatch,
  randomStain,
  renderPatch,
  renderSlide,
  renderTissue,
  writeKimiaCollection,
  writePatchCollection,
  type CollectionSummary,
  type RenderedPatchRecord,
  type SlideRecord,
  type TissueClass,
} from '../src/data/synthetic/index.js';
import { histoseek, temporaryFolder } from './helpers.js';

/** Limit of each top-level test or suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const SIZE = 128;

function meanRgb(rgb: Uint8Array): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < rgb.length; i++) sum[i % 3]! += rgb[i]!;
  const n = rgb.length / 3;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

const brightness = (rgb: Uint8Array) => meanRgb(rgb).reduce((a, b) => a + b) / 3;

function mean(values: Float32Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Mean over the pixels of one rectangle of an RGB image. */
function rectBrightness(rgb: Uint8Array, size: number, x0: number, y0: number, w: number, h: number): number {
  let s = 0;
  for (let y = y0; y < y0 + h; y++)
    for (let x = x0; x < x0 + w; x++) for (let c = 0; c < 3; c++) s += rgb[3 * (y * size + x) + c]!;
  return s / (3 * w * h);
}

describe('synthetic tissue', { timeout: TIMEOUT }, () => {
  test('the same seed gives identical bytes, another seed different ones', () => {
    for (const cls of TISSUE_CLASSES) {
      const a = renderPatch(cls, SIZE, 42);
      assert.equal(a.length, SIZE * SIZE * 3);
      assert.deepEqual(renderPatch(cls, SIZE, 42), a, `${cls}: not deterministic`);
      const b = renderPatch(cls, SIZE, 43);
      let differing = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
      assert.ok(differing > a.length / 2, `${cls}: seeds 42 and 43 differ in only ${differing} bytes`);
    }
  });

  test('adipose is mostly bright glass-like fat, lymphocytes dense dark nuclei', () => {
    const rng = new Random(5);
    const adipose = renderTissue('adipose', 256, 256, rng);
    const lymph = renderTissue('lymphocytes', 256, 256, new Random(5));
    const hA = mean(adipose.h);
    const hL = mean(lymph.h);
    assert.ok(hL > 0.5, `lymphocytes mean haematoxylin OD ${hL.toFixed(3)}`);
    assert.ok(hA < 0.05, `adipose mean haematoxylin OD ${hA.toFixed(3)}`);
    const bA = brightness(renderPatch('adipose', 256, 5, DEFAULT_STAIN));
    const bL = brightness(renderPatch('lymphocytes', 256, 5, DEFAULT_STAIN));
    assert.ok(bA > 225, `adipose brightness ${bA.toFixed(1)}`);
    assert.ok(bL < 170, `lymphocytes brightness ${bL.toFixed(1)}`);
  });

  test('every class has its own stain-density signature', () => {
    // Mean H and E optical density per class, averaged over two seeds, all under one stain.
    const signature = (cls: TissueClass): [number, number] => {
      let h = 0;
      let e = 0;
      for (const seed of [1, 2]) {
        const d = renderTissue(cls, 256, 256, new Random(seed));
        h += mean(d.h) / 2;
        e += mean(d.e) / 2;
      }
      return [h, e];
    };
    const sigs = TISSUE_CLASSES.map(signature);
    for (let i = 0; i < sigs.length; i++) {
      for (let j = i + 1; j < sigs.length; j++) {
        const dist = Math.hypot(sigs[i]![0] - sigs[j]![0], sigs[i]![1] - sigs[j]![1]);
        assert.ok(
          dist > 0.03,
          `${TISSUE_CLASSES[i]} ${sigs[i]!.map((v) => v.toFixed(3))} vs ${TISSUE_CLASSES[j]} ${sigs[j]!.map((v) => v.toFixed(3))}: ${dist.toFixed(3)}`,
        );
      }
    }
  });

  test('a stain changes the colour of the same tissue', () => {
    const a = randomStain(new Random(1));
    const b = randomStain(new Random(2));
    assert.notDeepEqual(a, b);
    const ma = meanRgb(renderPatch('stroma', SIZE, 9, a));
    const mb = meanRgb(renderPatch('stroma', SIZE, 9, b));
    const dist = Math.hypot(ma[0] - mb[0], ma[1] - mb[1], ma[2] - mb[2]);
    assert.ok(
      dist > 5,
      `mean colours ${ma.map(Math.round)} and ${mb.map(Math.round)} differ by only ${dist.toFixed(1)}`,
    );
  });

  test('composePatch puts the inset class inside the rectangle only', () => {
    const rect = { x: 64, y: 64, width: 128, height: 128 };
    const rgb = composePatch({
      size: 256,
      seed: 3,
      background: 'adipose',
      inset: 'lymphocytes',
      rect,
      stain: DEFAULT_STAIN,
    });
    const inside = rectBrightness(rgb, 256, 72, 72, 112, 112);
    const outside = rectBrightness(rgb, 256, 0, 0, 256, 56);
    assert.ok(inside < 170 && outside > 225, `inside ${inside.toFixed(1)}, outside ${outside.toFixed(1)}`);
    // A rectangle reaching past the edge is clipped, not an error.
    composePatch({
      size: 64,
      seed: 3,
      background: 'stroma',
      inset: 'debris',
      rect: { x: 40, y: -10, width: 50, height: 50 },
    });
  });

  test('composePatch on glass: white around the inset, tissue inside', () => {
    const rect = { x: 0, y: 128, width: 128, height: 128 };
    const rgb = composePatch({ size: 256, seed: 4, background: 'glass', inset: 'tumour', rect, stain: DEFAULT_STAIN });
    const inside = rectBrightness(rgb, 256, 8, 136, 112, 112);
    const glass = rectBrightness(rgb, 256, 136, 0, 120, 120);
    assert.ok(inside < 200 && glass > 245, `inside ${inside.toFixed(1)}, glass ${glass.toFixed(1)}`);
  });
});

describe('synthetic slides', { timeout: TIMEOUT }, () => {
  test('one class dominates, with glass at the edges and a per-slide look', () => {
    const a = renderSlide({ cls: 'mucosa', seed: 11, width: 512 });
    const b = renderSlide({ cls: 'mucosa', seed: 12, width: 512 });
    for (const s of [a, b]) {
      assert.equal(s.rgb.length, 512 * 512 * 3);
      assert.ok(s.classFractions.mucosa >= 0.7, `dominant fraction ${s.classFractions.mucosa}`);
      assert.ok(s.glassFraction > 0.02 && s.glassFraction < 0.3, `glass fraction ${s.glassFraction}`);
      // The corner is glass: bright.
      assert.ok(rectBrightness(s.rgb, 512, 0, 0, 8, 8) > 225);
      assert.ok(s.scanner.blurSigma >= 0.5 && s.scanner.blurSigma <= 1.5);
    }
    assert.notDeepEqual(a.stain, b.stain);
    assert.notEqual(a.scanner.blurSigma, b.scanner.blurSigma);
    assert.deepEqual(renderSlide({ cls: 'mucosa', seed: 11, width: 512 }).rgb, a.rgb);
  });
});

describe('writeKimiaCollection', { timeout: TIMEOUT }, () => {
  let dir = '';
  let summary: CollectionSummary;
  let manifest: { seed: number; slides: SlideRecord[] };
  const progress: Array<[number, number]> = [];
  const options = { seed: 7, slides: 3, slideSize: 512, patchSize: 64, trainPerSlide: 12, testPerSlide: 4 };

  before(async () => {
    dir = await temporaryFolder('histoseek-synthetic-');
    summary = await writeKimiaCollection(join(dir, 'a'), { ...options, onProgress: (d, t) => progress.push([d, t]) });
    manifest = JSON.parse(await readFile(summary.manifest, 'utf8'));
  });

  test('has the Kimia Path24C layout and the requested counts', async () => {
    assert.deepEqual((await readdir(join(dir, 'a'))).sort(), ['manifest.json', 'slides', 'test', 'train']);
    assert.deepEqual((await readdir(join(dir, 'a', 'train'))).sort(), ['s0', 's1', 's2']);
    assert.deepEqual((await readdir(join(dir, 'a', 'test'))).sort(), ['s0', 's1', 's2']);
    assert.deepEqual((await readdir(join(dir, 'a', 'slides'))).sort(), ['labels.csv', 's0.tiff', 's1.tiff', 's2.tiff']);
    const labels = (await readFile(join(dir, 'a', 'slides', 'labels.csv'), 'utf8')).trim().split('\n');
    assert.deepEqual(labels, ['slide,label', ...manifest.slides.map((s) => `${s.id},${s.class}`)]);
    for (let s = 0; s < 3; s++) {
      assert.equal((await readdir(join(dir, 'a', 'train', `s${s}`))).length, 12);
      assert.equal((await readdir(join(dir, 'a', 'test', `s${s}`))).length, 4);
    }
    assert.equal(summary.trainPatches, 36);
    assert.equal(summary.testPatches, 12);
    assert.deepEqual(
      manifest.slides.map((s) => s.class),
      ['tumour', 'stroma', 'lymphocytes'],
    );
    assert.equal(manifest.seed, 7);
    assert.deepEqual(progress, [
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  test('patches decode to the requested size and match the slide at their coordinates', async () => {
    const record = manifest.slides[1]!;
    const slide = renderSlide({ cls: record.class, seed: record.seed, width: 512 });
    for (const p of [...record.train.slice(0, 3), ...record.test.slice(0, 3)]) {
      const { data, info } = await sharp(join(dir, 'a', p.file))
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 64);
      assert.equal(info.height, 64);
      assert.equal(info.channels, 3);
      for (const y of [0, 31, 63]) {
        const from = ((p.y + y) * 512 + p.x) * 3;
        assert.deepEqual(
          new Uint8Array(data.subarray(y * 192, y * 192 + 192)),
          slide.rgb.subarray(from, from + 192),
          `${p.file} row ${y}`,
        );
      }
    }
  });

  test('training and test patches come from disjoint regions', () => {
    for (const s of manifest.slides) {
      const band = s.testRegion;
      for (const t of s.test)
        assert.ok(t.y >= band.y && t.y + 64 <= band.y + band.height, `${t.file} outside the test band`);
      for (const r of s.train) {
        assert.ok(r.y + 64 <= band.y || r.y >= band.y + band.height, `${r.file} overlaps the test band`);
        for (const t of s.test) {
          const overlap = r.x < t.x + 64 && t.x < r.x + 64 && r.y < t.y + 64 && t.y < r.y + 64;
          assert.ok(!overlap, `${r.file} overlaps ${t.file}`);
        }
      }
    }
  });

  test('stains differ between slides', () => {
    const stains = manifest.slides.map((s) => JSON.stringify(s.stain));
    assert.equal(new Set(stains).size, stains.length);
  });

  test('slides are pyramidal tiled TIFFs at 0.5 µm/px', async () => {
    const meta = await sharp(join(dir, 'a', 'slides', 's0.tiff')).metadata();
    assert.ok((meta.pages ?? 1) > 1, `pages ${meta.pages}`);
    assert.equal(meta.width, 512);
    assert.equal(meta.height, 512);
    // 0.5 µm/px = 2000 px/mm = 50800 px/inch.
    assert.ok(Math.abs((meta.density ?? 0) - 50800) < 1, `density ${meta.density}`);
    const level1 = await sharp(join(dir, 'a', 'slides', 's0.tiff'), { page: 1 }).metadata();
    assert.equal(level1.width, 256);
  });

  test('the same seed writes the same bytes', async () => {
    const again = await writeKimiaCollection(join(dir, 'b'), options);
    assert.equal(await readFile(again.manifest, 'utf8'), await readFile(summary.manifest, 'utf8'));
    for (const file of ['train/s2/s2_005.png', 'test/s0/s0_003.png', 'slides/s1.tiff']) {
      assert.deepEqual(await readFile(join(dir, 'b', file)), await readFile(join(dir, 'a', file)), file);
    }
  });

  test('rejects a slide too small for its patches', async () => {
    await assert.rejects(writeKimiaCollection(join(dir, 'c'), { slideSize: 100, patchSize: 64 }), RangeError);
  });
});

describe('writePatchCollection', { timeout: TIMEOUT }, () => {
  let dir = '';
  let manifest: { seed: number; patches: RenderedPatchRecord[] };
  const options = { seed: 4, perClass: 10, minSize: 48, maxSize: 96 };

  before(async () => {
    dir = await temporaryFolder('histoseek-patches-');
    manifest = JSON.parse(await readFile((await writePatchCollection(join(dir, 'a'), options)).manifest, 'utf8'));
  });

  test('is a folder-layout collection: perClass patches in a folder per class', async () => {
    const collection = await readCollection(join(dir, 'a'), 'folder');
    const count = (cls: string) => collection.items.filter((i) => i.label === cls).length;
    assert.deepEqual(
      TISSUE_CLASSES.map(count),
      TISSUE_CLASSES.map(() => 10),
    );
    assert.equal(manifest.patches.length, 60);
    for (const p of manifest.patches.slice(0, 12)) {
      const meta = await sharp(join(dir, 'a', p.file)).metadata();
      assert.deepEqual([meta.width, meta.height], [p.size, p.size], p.file);
      assert.ok(p.file.startsWith(`${p.class}/`));
    }
  });

  test('sides vary within the range; insets are another class, inside the patch, covering 10% to under half of it', () => {
    const sizes = manifest.patches.map((p) => p.size);
    assert.ok(Math.min(...sizes) >= 48 && Math.max(...sizes) <= 96 && new Set(sizes).size > 10, `sides ${sizes}`);
    const mixed = manifest.patches.filter((p) => p.inset);
    assert.ok(mixed.length > 20 && mixed.length < 55, `${mixed.length} of 60 patches hold an inset`);
    for (const p of mixed) {
      const { class: cls, rect } = p.inset!;
      assert.notEqual(cls, p.class);
      assert.ok(rect.x >= 0 && rect.y >= 0 && rect.x + rect.width <= p.size && rect.y + rect.height <= p.size, p.file);
      const share = (rect.width * rect.height) / p.size ** 2;
      assert.ok(share >= 0.08 && share < 0.5, `${p.file}: inset covers ${share.toFixed(2)}`);
    }
  });

  test('every patch has its own stain, and the pixels are those of its recorded recipe', async () => {
    assert.equal(new Set(manifest.patches.map((p) => JSON.stringify(p.stain))).size, 60);
    const p = manifest.patches.find((r) => r.inset)!;
    const { data } = await sharp(join(dir, 'a', p.file))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const expected = composePatch({
      size: p.size,
      seed: p.seed,
      background: p.class,
      inset: p.inset!.class,
      rect: p.inset!.rect,
      stain: p.stain,
      scanner: p.scanner,
    });
    assert.deepEqual(new Uint8Array(data), expected);
  });

  test('the same seed writes the same bytes; bad options are errors', async () => {
    await writePatchCollection(join(dir, 'b'), options);
    assert.equal(
      await readFile(join(dir, 'b', 'manifest.json'), 'utf8'),
      await readFile(join(dir, 'a', 'manifest.json'), 'utf8'),
    );
    const file = manifest.patches[33]!.file;
    assert.deepEqual(await readFile(join(dir, 'b', file)), await readFile(join(dir, 'a', file)));
    await assert.rejects(
      writePatchCollection(join(dir, 'c'), { maxInsetArea: 0.5 }),
      /maxInsetArea must be in \[0\.1, 0\.5\)/,
    );
    await assert.rejects(writePatchCollection(join(dir, 'c'), { minSize: 200, maxSize: 100 }), /minSize ≤ maxSize/);
  });

  test('histoseek synth --patches writes one; slide options with it are an error', async () => {
    const out = join(dir, 'cli');
    const r = histoseek('synth', '--out', out, '--patches', '2', '--seed', '5');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /12 patches, 2 per class/);
    assert.equal((await readCollection(out, 'folder')).items.length, 12);
    const bad = histoseek('synth', '--out', out, '--patches', '2', '--slides', '3');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--slides is an option of slides; --patches writes single patches/);
  });
});
