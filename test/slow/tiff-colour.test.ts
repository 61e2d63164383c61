/**
 * JPEG-in-TIFF colours with OpenSlide: what OpenSlide 3.4 makes of files whose Photometric tag and JPEG
 * streams disagree, that files they agree on still go to it, and indexing a folder of such files end
 * to end (a refused file listed with its reason in the summary and in --json, a mismatched OME-TIFF
 * indexed in its true colours).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { FolderIndex } from '../../src/store/folder/folder-index.js';
import { openSlide } from '../../src/wsi/slide.js';
import { checkTiffColour } from '../../src/wsi/tiff-colour.js';
import { tissueMask } from '../../src/wsi/tissue-mask.js';
import { histoseek, ROOT } from '../helpers.js';
import {
  LIBTIFF_READS,
  TOLERANCE,
  TRUE_COLOURS,
  colourError,
  stainAndGlass,
  writeAllCases,
} from '../tiff-colour-fixtures.js';

const TIMEOUT = 600_000;
const CMU1 = join(ROOT, '../shared/data/slides/CMU-1-Small-Region.svs');
const SKIP_CMU1 = existsSync(CMU1) ? false : `${CMU1} is absent (shared test data)`;

const { dir, consistent, mismatched, refused } = await writeAllCases('histoseek-tiff-colour-slow-');

describe('JPEG-in-TIFF colours and OpenSlide', { timeout: TIMEOUT }, () => {
  test('OpenSlide follows the Photometric tag: right where tag and streams agree (and those files still go to it), wrong where they disagree', async () => {
    for (const c of consistent) {
      const slide = await openSlide(c.file);
      try {
        assert.equal(slide.backend, 'openslide', c.name);
        assert.ok(colourError(await stainAndGlass(slide, 0), TRUE_COLOURS) <= TOLERANCE, c.name);
      } finally {
        slide.close();
      }
    }
    // OpenSlide alone, on the files histoseek decodes itself or refuses: YCbCr taken for RGB, RGB put
    // through the YCbCr transform.
    for (const c of [...mismatched, refused[0]!]) {
      const slide = await openSlide(c.file, { backend: 'openslide' });
      try {
        const got = await stainAndGlass(slide, 0);
        const tag = c.options.photometric === 'rgb' ? 'rgb' : 'ycbcr';
        assert.ok(colourError(got, LIBTIFF_READS[tag]) <= TOLERANCE, `${c.name} through OpenSlide: ${got.join(', ')}`);
      } finally {
        slide.close();
      }
    }
  });

  test('wrong colours move the tissue: the stained quarter is found only in the true colours', async () => {
    // The rectangle is 512 × 384 of 1024 × 768. Through OpenSlide alone the glass of a YCbCr stream
    // tagged RGB turns pink (235,128,128) and is taken for tissue, and an RGB stream tagged YCbCr
    // leaves nothing H&E-coloured.
    const measured = { 'ycbcr-jfif-tagged-rgb': 0.75, 'rgb-adobe-tagged-ycbcr': 0 } as Record<string, number>;
    for (const c of mismatched.filter((c) => c.name in measured)) {
      const fraction = async (backend: 'openslide' | 'auto') => {
        const slide = await openSlide(c.file, { backend });
        try {
          return (await tissueMask(slide)).tissueFraction;
        } finally {
          slide.close();
        }
      };
      assert.ok(Math.abs((await fraction('openslide')) - measured[c.name]!) < 0.01, c.name);
      assert.ok(Math.abs((await fraction('auto')) - 0.25) < 0.01, c.name);
    }
  });

  test(
    'the Aperio SVS of the shared data (tagged RGB, streams with ids 0, 1, 2 and no marker) is left to OpenSlide',
    { skip: SKIP_CMU1 },
    async () => {
      assert.deepEqual(await checkTiffColour(CMU1), { verdict: 'as-tagged' });
      const slide = await openSlide(CMU1);
      assert.equal(slide.backend, 'openslide');
      slide.close();
    },
  );

  test('index: a refused file is listed with its reason in the summary and in --json; a mismatched OME-TIFF is indexed in its true colours', async () => {
    const slides = join(dir, 'slides');
    await mkdir(slides);
    const truth = consistent[0]!; // YCbCr streams tagged YCbCr, read by OpenSlide
    const fixed = mismatched[0]!; // the same image, YCbCr streams tagged RGB
    const bad = refused[0]!;
    for (const c of [truth, fixed, bad]) await copyFile(c.file, join(slides, basename(c.file)));
    const db = join(dir, 'db');
    const r = histoseek('index', slides, '--layout', 'slides', '--db', db, '--json');
    assert.equal(r.status, 0, r.stderr);
    const reason = `cannot open slide ${join(slides, basename(bad.file))}: its colours cannot be decoded faithfully: IFD 0: tagged Photometric RGB, but its JPEG stream numbers its components 1, 2, 3 as YCbCr streams do, with no marker saying which it is`;
    assert.deepEqual(JSON.parse(r.stdout).failures, [{ source: join(slides, basename(bad.file)), reason }]);
    assert.ok(r.stderr.includes(`skipped ${reason}`), r.stderr);
    assert.match(r.stderr, / added, 0 already indexed, 1 unreadable \(skipped\)/);

    // Both readings of the image give the same patches with the same descriptors.
    const store = FolderIndex.open(db);
    try {
      const rows = (slide: string) => {
        const r = store.slideRows(slide);
        return new Map(store.items(r).map((item, i) => [`${item.x},${item.y}`, store.rawVectors([r[i]!])]));
      };
      const [a, b] = [rows(basename(truth.file, '.tiff')), rows(basename(fixed.file, '.tiff'))];
      assert.ok(a.size > 0, 'the stained rectangle gives patches');
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [box, v] of a) {
        const w = b.get(box)!;
        let [dot, na, nb] = [0, 0, 0];
        for (let i = 0; i < v.length; i++) [dot, na, nb] = [dot + v[i]! * w[i]!, na + v[i]! ** 2, nb + w[i]! ** 2];
        const cosine = dot / Math.sqrt(na * nb);
        assert.ok(cosine > 0.999, `patch at ${box}: cosine ${cosine}`);
      }
    } finally {
      store.close();
    }
  });
});
