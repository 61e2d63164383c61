/**
 * DICOM whole-slide images against real parts: slides converted by Debian's OrthancWSIDicomizer
 * (orthanc-wsi) and served by a real Orthanc with its DICOMweb plugin on a random loopback port
 * (test/orthanc-fixtures.ts). The synthetic slides always run; CMU-1-Small-Region.svs (shared test
 * data) skips with a message where ../shared is absent.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { FolderIndex } from '../../src/store/folder/folder-index.js';
import { startServer } from '../../src/server/serve.js';
import type { DicomJson } from '../../src/wsi/dicom/instance.js';
import { DicomWebCredentials } from '../../src/wsi/dicomweb/credentials.js';
import { openDicomWebSlide, useDicomWebCredentials } from '../../src/wsi/dicomweb/dicomweb-slide.js';
import { isDicomWebUrl } from '../../src/wsi/dicomweb/dicomweb-url.js';
import { parseItemKey } from '../../src/collections/item-key.js';
import { openSlide } from '../../src/wsi/slide.js';
import type { Slide } from '../../src/wsi/types.js';
import { tiles, type Tile } from '../../src/wsi/tiler.js';
import { tissueMask, type TissueMask } from '../../src/wsi/tissue-mask.js';
import {
  buildWebPage,
  histoseek,
  histoseekWith,
  ROOT,
  startHistoseekWith,
  temporaryFolder,
  untilWhileRunning,
} from '../helpers.js';
import {
  SKIP_ORTHANC,
  dicomize,
  startBearerProxy,
  startOrthanc,
  writeSyntheticSlide,
  type DicomizeOptions,
  type RunningOrthanc,
  type StoredSeries,
} from '../orthanc-fixtures.js';

/** Limit of each top-level suite here, ms (node:test `timeout`; nested tests inherit it). */
const TIMEOUT = 300_000;

const CMU1 = join(ROOT, '../shared/data/slides/CMU-1-Small-Region.svs');
const SKIP_CMU1 = existsSync(CMU1) ? false : `${CMU1} is absent (shared test data)`;
const CHROMIUM = '/usr/bin/chromium';
const SKIP_CHROMIUM = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)`;
/** Screenshots for a person to look at, as the browser tests leave theirs. */
const SHOTS = join(ROOT, '.test-output', 'screenshots');

const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';

/** A DICOM JSON attribute's first value (PS3.18 F.2). */
const first = (json: DicomJson, tag: string) => json[tag]?.Value?.[0];

/** One test slide: its source, its DICOM files, and the series Orthanc stores them as. */
interface Converted {
  name: string;
  source: string;
  /** The folder of its DICOM files. */
  folder: string;
  files: string[];
  series: StoredSeries;
}

interface Pacs {
  dir: string;
  orthanc: RunningOrthanc;
  /** A synthetic slide (pyramidal JPEG TIFF), its tiles copied as they are: JPEG, four levels. */
  jpeg: Converted;
  /** The same slide re-encoded as JPEG 2000. */
  j2k: Converted;
  /** The same slide with a pyramid of three levels rebuilt from level 0. */
  rebuilt: Converted;
  /** CMU-1-Small-Region (Aperio JPEG tiles), or null without the shared data. */
  cmu1: Converted | null;
  /** Every converted slide. */
  all: Converted[];
  /** Orthanc's last change once they are stored: what it is still when the tests are done. */
  lastChange: number;
}

/** The sequence number of Orthanc's last change (a resource stored, modified or deleted). */
async function lastChange(orthanc: RunningOrthanc): Promise<number> {
  return ((await (await orthanc.fetch('/changes?last')).json()) as { Last: number }).Last;
}

/**
 * Starts Orthanc, draws a synthetic slide, converts it three ways (and CMU-1 once) and uploads them:
 * about 15 s on two busy cores.
 */
async function setUpPacs(): Promise<Pacs> {
  const dir = await temporaryFolder('histoseek-dicom-pacs-');
  const orthanc = await startOrthanc();
  const convert = async (name: string, source: string, options: DicomizeOptions): Promise<Converted> => {
    const out = join(dir, name);
    await mkdir(out);
    const files = await dicomize(source, out, options);
    const stored = await orthanc.upload(files);
    assert.equal(stored.length, 1, `${name}: one series`);
    return { name, source, folder: out, files, series: stored[0]! };
  };
  const synthetic = join(dir, 'synthetic.tiff');
  await writeSyntheticSlide(synthetic, { cls: 'tumour', seed: 5, width: 2048, height: 1536 });
  const jpeg = await convert('jpeg', synthetic, {});
  const j2k = await convert('j2k', synthetic, { compression: 'jpeg2000' });
  const rebuilt = await convert('rebuilt', synthetic, { levels: 3 });
  const cmu1 = SKIP_CMU1 ? null : await convert('cmu1', CMU1, {});
  const all = [jpeg, j2k, rebuilt, ...(cmu1 ? [cmu1] : [])];
  return { dir, orthanc, jpeg, j2k, rebuilt, cmu1, all, lastChange: await lastChange(orthanc) };
}

const pacs = SKIP_ORTHANC ? null : await setUpPacs();
after(() => pacs?.orthanc.stop());

/** The slide's address in the PACS (the series), as the index records it. */
const seriesRef = (c: Converted) =>
  `dicomweb+${pacs!.orthanc.dicomWeb}/studies/${c.series.studyInstanceUid}/series/${c.series.seriesInstanceUid}`;

/** Every series Orthanc's QIDO-RS finds, as DICOM JSON. */
async function qidoSeries(query = ''): Promise<DicomJson[]> {
  const r = await pacs!.orthanc.fetch(`/dicom-web/series${query}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as DicomJson[];
}

describe('the PACS the tests run against', { timeout: TIMEOUT, skip: SKIP_ORTHANC }, () => {
  test('Orthanc finds every converted slide as an SM series over QIDO-RS, only with credentials', async () => {
    const { orthanc, cmu1, all } = pacs!;
    const series = await qidoSeries('?Modality=SM');
    assert.deepEqual(series.map((s) => first(s, '0020000E')).sort(), all.map((c) => c.series.seriesInstanceUid).sort());
    assert.ok(series.every((s) => first(s, '00080060') === 'SM'));
    // Instances (levels): four copied from the TIFF, four re-encoded, three rebuilt; CMU-1 has one.
    assert.deepEqual(
      all.map((c) => [c.files.length, c.series.instances]),
      [[4, 4], [4, 4], [3, 3], ...(cmu1 ? [[1, 1]] : [])],
    );
    for (const authorization of [undefined, `Basic ${Buffer.from(`${orthanc.user}:wrong`).toString('base64')}`]) {
      const r = await fetch(`${orthanc.dicomWeb}/series`, { headers: authorization ? { authorization } : {} });
      assert.equal(r.status, 401, `with ${authorization ? 'a wrong password' : 'no credentials'}`);
    }
  });

  test('WADO-RS serves the frames in their stored transfer syntax', async () => {
    const { orthanc, jpeg, j2k } = pacs!;
    for (const [c, syntax] of [
      [jpeg, JPEG_BASELINE],
      [j2k, JPEG_2000_LOSSLESS],
    ] as const) {
      const base = `/dicom-web/studies/${c.series.studyInstanceUid}/series/${c.series.seriesInstanceUid}`;
      const metadata = (await (await orthanc.fetch(`${base}/metadata`)).json()) as DicomJson[];
      assert.equal(metadata.length, c.files.length);
      // The metadata leaves out the file meta group (0002,xxxx): the frames' answer names their
      // transfer syntax. Asked for any, Orthanc sends the stored bytes (asked for a bare image/jpeg,
      // it would transcode to that type's default in PS3.18, JPEG lossless).
      assert.ok(metadata.every((m) => !('00020010' in m)));
      const instance = String(first(metadata[0]!, '00080018'));
      const frame = await orthanc.fetch(`${base}/instances/${instance}/frames/1`, {
        headers: { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' },
      });
      assert.equal(frame.status, 200);
      assert.ok(frame.headers.get('content-type')!.includes(`transfer-syntax=${syntax}`));
    }
  });

  test('a bearer-token gateway in front of it forwards the right token and answers 401 to others', async () => {
    const proxy = await startBearerProxy(pacs!.orthanc, 'right-token');
    try {
      const ask = (token?: string) =>
        fetch(`${proxy.dicomWeb}/series?Modality=SM`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      const ok = await ask('right-token');
      assert.equal(ok.status, 200);
      // Orthanc writes the gateway's address into its answers: the Host header went through.
      assert.ok(
        ((await ok.json()) as DicomJson[]).every((s) => String(first(s, '00081190')).startsWith(proxy.dicomWeb)),
      );
      for (const token of ['wrong-token', undefined]) {
        const refused = await ask(token);
        assert.equal(refused.status, 401);
        assert.match(refused.headers.get('www-authenticate')!, /^Bearer /);
      }
      assert.deepEqual(proxy.counts, { refused: 2, forwarded: 1 });
    } finally {
      await proxy.close();
    }
  });

  test('stopped, it refuses connections; restarted on the same port and storage, it serves the same series', async () => {
    const { orthanc, all } = pacs!;
    await orthanc.stop();
    await assert.rejects(fetch(`${orthanc.url}/system`), /fetch failed/);
    await orthanc.restart();
    assert.equal((await qidoSeries()).length, all.length);
  });
});

/** Mean absolute difference per channel of two RGB patches, and the largest difference of one value. */
function difference(a: Uint8Array, b: Uint8Array): { mad: number[]; max: number } {
  assert.equal(a.length, b.length);
  const sum = [0, 0, 0];
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum[i % 3]! += d;
    if (d > max) max = d;
  }
  return { mad: sum.map((v) => v / (a.length / 3)), max };
}

/** Every patch the tiler cuts from `slide` at `targetMpp`, with the slide's own tissue mask. */
async function patches(slide: Slide, targetMpp: number, mask: TissueMask): Promise<Tile[]> {
  const out: Tile[] = [];
  for await (const tile of tiles(slide, { targetMpp, mask })) out.push(tile);
  return out;
}

const boxes = (tiles: readonly Tile[]) => tiles.map((t) => [t.x, t.y, t.width, t.height, t.level]);

/**
 * What a level OrthancWSIDicomizer 1.1 builds (without --smooth) holds for a source patch read at
 * level 0 by OpenSlide: every second pixel, from the second one, of each row and column (measured:
 * its lossless JPEG 2000 levels equal this exactly).
 */
async function decimated(source: Slide, patch: Tile): Promise<Uint8Array> {
  const side = Math.sqrt(patch.pixels.length / 3);
  const factor = patch.width / side;
  const full = await source.readRegion(patch.x, patch.y, 0, patch.width, patch.height);
  const out = new Uint8Array(patch.pixels.length);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const from = ((y * factor + factor - 1) * patch.width + x * factor + factor - 1) * 3;
      out.set(full.subarray(from, from + 3), (y * side + x) * 3);
    }
  return out;
}

/**
 * Reads `c` from its DICOM files and over DICOMweb at `targetMpp`; asserts the same boxes as the
 * source read by OpenSlide, and each patch within `bound` (mean absolute difference per channel) of
 * the source's patch — or, with `reference: decimated`, of what the dicomizer made of the source's
 * level 0 (for levels it built itself). The worst patch's differences go to the diagnostics.
 */
async function assertPatchesMatch(
  t: TestContext,
  c: Converted,
  readers: { file: Slide; web: Slide; source: Slide },
  targetMpp: number,
  bound: number,
  reference?: typeof decimated,
): Promise<void> {
  const masks = new Map<Slide, TissueMask>();
  const mask = async (slide: Slide) => masks.get(slide) ?? masks.set(slide, await tissueMask(slide)).get(slide)!;
  const fromSource = await patches(readers.source, targetMpp, await mask(readers.source));
  assert.ok(fromSource.length > 0, `${c.name}: no patches at ${targetMpp} µm/px`);
  const expected = reference
    ? await Promise.all(fromSource.map((p) => reference(readers.source, p)))
    : fromSource.map((p) => p.pixels);
  for (const [how, slide] of [
    ['DICOM files', readers.file],
    ['DICOMweb', readers.web],
  ] as const) {
    const read = await patches(slide, targetMpp, await mask(slide));
    assert.deepEqual(boxes(read), boxes(fromSource), `${c.name} (${how}): the same patches at ${targetMpp} µm/px`);
    const worst = [0, 0, 0];
    let max = 0;
    for (let i = 0; i < read.length; i++) {
      const d = difference(read[i]!.pixels, expected[i]!);
      d.mad.forEach((v, k) => (worst[k] = Math.max(worst[k]!, v)));
      max = Math.max(max, d.max);
    }
    t.diagnostic(
      `${c.name} (${how}), ${read.length} patches at ${targetMpp} µm/px from level ${read[0]!.level}${reference ? ' against the decimated source' : ''}: worst patch's mean abs difference R ${worst[0]!.toFixed(3)} G ${worst[1]!.toFixed(3)} B ${worst[2]!.toFixed(3)}, largest ${max}`,
    );
    assert.ok(
      worst.every((v) => v <= bound),
      `${c.name} (${how}) at ${targetMpp} µm/px: mean abs difference per channel ${worst.map((v) => v.toFixed(3)).join(', ')} > ${bound}`,
    );
  }
}

describe(
  'patches read from the DICOM files and over DICOMweb match the source read by OpenSlide',
  { timeout: TIMEOUT, skip: SKIP_ORTHANC },
  () => {
    /** Opens `c` three ways (its source with OpenSlide, its DICOM folder, its series in Orthanc), runs `body`, closes them. */
    async function withReaders(
      c: Converted,
      body: (readers: { file: Slide; web: Slide; source: Slide }) => Promise<void>,
    ): Promise<void> {
      const { orthanc } = pacs!;
      const source = await openSlide(c.source, { backend: 'openslide' });
      const file = await openSlide(c.folder);
      const web = await openDicomWebSlide(seriesRef(c), {
        credentials: DicomWebCredentials.basic(orthanc.user, orthanc.password, 'the test'),
      });
      try {
        assert.deepEqual([file.backend, web.backend], ['dicom', 'dicomweb']);
        for (const slide of [file, web]) {
          assert.ok(
            Math.abs(slide.mpp!.x - source.mpp!.x) < 1e-6 && Math.abs(slide.mpp!.y - source.mpp!.y) < 1e-6,
            `${c.name} (${slide.backend}): µm/px ${JSON.stringify(slide.mpp)} against the source's ${JSON.stringify(source.mpp)}`,
          );
        }
        await body({ file, web, source });
      } finally {
        for (const slide of [source, file, web]) slide.close();
      }
    }

    test('JPEG tiles copied from a pyramidal TIFF: the same patches within 2 per channel at 0.5 and 1 µm/px', (t) =>
      withReaders(pacs!.jpeg, async (readers) => {
        await assertPatchesMatch(t, pacs!.jpeg, readers, 0.5, 2);
        await assertPatchesMatch(t, pacs!.jpeg, readers, 1, 2);
      }));

    test(
      'CMU-1-Small-Region (Aperio JPEG, TILED_SPARSE): the same patches within 2 per channel',
      { skip: SKIP_CMU1 },
      (t) => withReaders(pacs!.cmu1!, (readers) => assertPatchesMatch(t, pacs!.cmu1!, readers, 0.5, 2)),
    );

    // The dicomizer decodes the source's tiles and encodes them losslessly (reversible 5/3 wavelet,
    // no colour transform, though it labels them YBR_FULL_422): level 0 is the source's pixels. The
    // coarser levels it builds itself from level 0 by taking every second pixel, rather than
    // re-encoding the TIFF's (which libvips averaged): against that, they are exact too.
    test('JPEG 2000: identical patches at 0.5 µm/px, and at 1 µm/px from a level the dicomizer built', (t) =>
      withReaders(pacs!.j2k, async (readers) => {
        await assertPatchesMatch(t, pacs!.j2k, readers, 0.5, 0);
        await assertPatchesMatch(t, pacs!.j2k, readers, 1, 0, decimated);
      }));

    // Level 0's tiles are the TIFF's RGB JPEG streams (Adobe marker, no transform) labelled
    // YBR_FULL_422 by the dicomizer; the levels it builds are YCbCr JPEG (JFIF, 4:2:0) of the
    // decimated level 0 at its default quality, whose loss is all the difference: one of those
    // frames decoded by libjpeg (sharp) is one of histoseek's tiles of the level exactly.
    test('a pyramid rebuilt by the dicomizer: within 2 at 0.5 µm/px; its YCbCr JPEG level as libjpeg decodes it', (t) =>
      withReaders(pacs!.rebuilt, async (readers) => {
        const { orthanc, rebuilt } = pacs!;
        await assertPatchesMatch(t, rebuilt, readers, 0.5, 2);
        await assertPatchesMatch(t, rebuilt, readers, 1, 7, decimated);

        const base = `/dicom-web/studies/${rebuilt.series.studyInstanceUid}/series/${rebuilt.series.seriesInstanceUid}`;
        const metadata = (await (await orthanc.fetch(`${base}/metadata`)).json()) as DicomJson[];
        const level1 = metadata.find((m) => first(m, '00480006') === readers.file.levels[1]!.width)!;
        const answer = await orthanc.fetch(`${base}/instances/${String(first(level1, '00080018'))}/frames/1`, {
          headers: { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' },
        });
        const body = new Uint8Array(await answer.arrayBuffer());
        const start = Buffer.from(body).indexOf(Buffer.from([0xff, 0xd8, 0xff]));
        const end = Buffer.from(body).lastIndexOf(Buffer.from([0xff, 0xd9])) + 2;
        const { data, info } = await sharp(body.subarray(start, end)).raw().toBuffer({ resolveWithObject: true });
        assert.deepEqual([info.width, info.height, info.channels], [256, 256, 3]);
        const { width, height, downsample } = readers.file.levels[1]!;
        const matches: string[] = [];
        for (let y = 0; y < height; y += 256)
          for (let x = 0; x < width; x += 256) {
            const tile = await readers.file.readRegion(x * downsample, y * downsample, 1, 256, 256);
            if (difference(tile, data).max === 0) matches.push(`${x},${y}`);
          }
        assert.equal(
          matches.length,
          1,
          `level 1's frame 1 decoded by libjpeg equals histoseek's tile at ${matches.join('; ')}`,
        );
      }));
  },
);

/** The environment that gives `histoseek` Orthanc's user and password (as a deployment would). */
/** The slide and box of a patch's key (search prints it as the result's path). */
function patchKey(source: string) {
  const key = parseItemKey(source);
  assert.ok(key.kind === 'region', `${source}: a slide patch`);
  return key;
}

const basicEnv = (password = pacs!.orthanc.password) => ({
  HISTOSEEK_DICOMWEB_USER: pacs!.orthanc.user,
  HISTOSEEK_DICOMWEB_PASSWORD: password,
});

/** The index's live patches by slide id: their level-0 boxes, sorted. */
function boxesBySlide(db: string): Map<string, string[]> {
  const store = FolderIndex.open(db);
  try {
    const bySlide = new Map<string, string[]>();
    for (const item of store.allItems()) {
      const { x, y, width, height } = patchKey(item.source).box;
      bySlide.set(item.slide!, [...(bySlide.get(item.slide!) ?? []), `${x},${y},${width},${height}`]);
    }
    for (const list of bySlide.values()) list.sort();
    return bySlide;
  } finally {
    store.close();
  }
}

/** Live items in the index at `db`, or 0 while it does not exist yet or is being created. */
function liveItems(db: string): number {
  let store: FolderIndex;
  try {
    store = FolderIndex.open(db);
  } catch {
    return 0;
  }
  try {
    return store.allItems().length;
  } finally {
    store.close();
  }
}

/** A finished `histoseek` run that must have succeeded; its `--json` report. */
function succeeded(r: { status: number | null; stdout: string; stderr: string }, what: string) {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { added: number; skipped: number; failures: unknown[]; items: number };
}

/** A slide's id in an index of its source file: the file name without extension. */
const sourceIdOf = (c: Converted) => basename(c.source, extname(c.source));
let indexed: Promise<{ db: string; boxes: Map<string, string[]> }> | undefined;
/** The source slides indexed from their files (once): what indexing from the PACS must give. */
const indexedSources = () =>
  (indexed ??= (async () => {
    const { dir, jpeg, cmu1 } = pacs!;
    const sources = join(dir, 'sources');
    await mkdir(sources);
    for (const c of [jpeg, ...(cmu1 ? [cmu1] : [])]) await symlink(c.source, join(sources, basename(c.source)));
    const db = join(dir, 'db-source');
    succeeded(histoseek('index', sources, '--layout', 'slides', '--db', db, '--json'), 'the source files');
    const boxes = boxesBySlide(db);
    assert.deepEqual([...boxes.keys()].sort(), [jpeg, ...(cmu1 ? [cmu1] : [])].map(sourceIdOf).sort());
    return { db, boxes };
  })());

let fromPacs: Promise<string> | undefined;
/**
 * The same slides indexed from the PACS (once), into one index: the synthetic slide's JPEG copy
 * through a bearer-token gateway, CMU-1 straight from Orthanc with user and password.
 */
const indexedFromPacs = () =>
  (fromPacs ??= (async () => {
    const { dir, orthanc, jpeg, cmu1 } = pacs!;
    const db = join(dir, 'db-dicomweb');
    const proxy = await startBearerProxy(orthanc, 'token-for-histoseek');
    const viaToken = await startHistoseekWith(
      { env: { HISTOSEEK_DICOMWEB_TOKEN: 'token-for-histoseek' } },
      'index',
      `dicomweb+${proxy.dicomWeb}`,
      '--series',
      jpeg.series.seriesInstanceUid,
      '--db',
      db,
      '--layout',
      'slides',
      '--json',
    ).done.finally(() => proxy.close());
    succeeded(viaToken, 'the JPEG series with a bearer token');
    assert.deepEqual([...proxy.methods], ['GET'], 'histoseek only reads from the PACS');
    if (cmu1) {
      const r = histoseekWith(
        { env: basicEnv() },
        'index',
        `dicomweb+${orthanc.dicomWeb}`,
        '--series',
        cmu1.series.seriesInstanceUid,
        '--db',
        db,
        '--layout',
        'slides',
        '--json',
      );
      succeeded(r, 'CMU-1 with user and password');
    }
    return db;
  })());

describe('indexing from the PACS with the command', { timeout: TIMEOUT, skip: SKIP_ORTHANC }, () => {
  test('the same boxes as indexing the source files, and the same top 10; basic auth and a bearer token', async () => {
    const { dir, jpeg } = pacs!;
    const { db: sourceDb, boxes: sourceBoxes } = await indexedSources();
    const webDb = await indexedFromPacs();
    const webBoxes = boxesBySlide(webDb);
    assert.deepEqual(
      new Map(
        [...webBoxes].map(([uid, list]) => [
          sourceIdOf(pacs!.all.find((c) => c.series.seriesInstanceUid === uid)!),
          list,
        ]),
      ),
      sourceBoxes,
    );

    // A patch of the synthetic slide a third of a patch off the grid, as a query.
    const source = await openSlide(jpeg.source, { backend: 'openslide' });
    const [x, y] = sourceBoxes.get('synthetic')![sourceBoxes.get('synthetic')!.length >> 1]!.split(',').map(Number);
    const query = join(dir, 'query.png');
    await sharp(await source.readRegion(x! + 75, y! + 75, 0, 224, 224), {
      raw: { width: 224, height: 224, channels: 3 },
    })
      .png()
      .toFile(query);
    source.close();
    const top10 = (db: string) => {
      const r = histoseekWith({ env: basicEnv() }, 'search', query, '--db', db, '-k', '10', '--json');
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { results: { path: string; distance: number }[] }).results.map((hit) => {
        const { path: slide, box } = patchKey(hit.path);
        const id = isDicomWebUrl(slide)
          ? sourceIdOf(pacs!.all.find((c) => slide.endsWith(c.series.seriesInstanceUid))!)
          : basename(slide, extname(slide));
        return `${id} ${box.x},${box.y} ${hit.distance.toFixed(4)}`;
      });
    };
    const fromSource = top10(sourceDb);
    assert.equal(fromSource.length, 10);
    assert.deepEqual(top10(webDb), fromSource);

    // A region of the PACS slide as the query (search --slide dicomweb+…): as the same region of the source file.
    const region = `${x! - 112},${y! - 112},448,448`;
    const regionTop5 = (slide: string, db: string) => {
      const r = histoseekWith(
        { env: basicEnv() },
        'search',
        '--slide',
        slide,
        '--region',
        region,
        '--include-own-slide',
        '--db',
        db,
        '-k',
        '5',
        '--json',
      );
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { results: { path: string; distance: number }[] }).results.map(
        (hit) => `${patchKey(hit.path).box.x},${patchKey(hit.path).box.y} ${hit.distance.toFixed(4)}`,
      );
    };
    const series = `dicomweb+${pacs!.orthanc.dicomWeb}/studies/${jpeg.series.studyInstanceUid}/series/${jpeg.series.seriesInstanceUid}`;
    const byRegion = regionTop5(jpeg.source, sourceDb);
    assert.equal(byRegion.length, 5);
    assert.deepEqual(regionTop5(series, webDb), byRegion);
  });

  test('a wrong password or token: a clear 401 error naming where the credentials came from, and nothing written', async (t) => {
    const { dir, orthanc } = pacs!;
    const db = join(dir, 'db-refused');
    const wrongPassword = histoseekWith(
      { env: basicEnv('not-the-password') },
      'index',
      `dicomweb+${orthanc.dicomWeb}`,
      '--db',
      db,
      '--layout',
      'slides',
    );
    const proxy = await startBearerProxy(orthanc, 'token-for-histoseek');
    const wrongToken = await startHistoseekWith(
      { env: { HISTOSEEK_DICOMWEB_TOKEN: 'not-the-token' } },
      'index',
      `dicomweb+${proxy.dicomWeb}`,
      '--db',
      db,
      '--layout',
      'slides',
    ).done.finally(() => proxy.close());
    for (const [r, secret, source] of [
      [wrongPassword, 'not-the-password', /HISTOSEEK_DICOMWEB_(USER|PASSWORD)/],
      [wrongToken, 'not-the-token', /HISTOSEEK_DICOMWEB_TOKEN/],
    ] as const) {
      t.diagnostic(r.stderr.trim());
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /401/);
      assert.match(r.stderr, source);
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), 'the secret is never printed');
    }
    assert.equal(proxy.counts.forwarded, 0);
    assert.equal(existsSync(db), false, 'no index is created');
  });

  test('Orthanc stopped halfway through a run, restarted, and the run rerun: every patch stored exactly once', async (t) => {
    const { dir, orthanc, all } = pacs!;
    const db = join(dir, 'db-interrupted');
    const root = `dicomweb+${orthanc.dicomWeb}`;
    const sourceBoxes = (await indexedSources()).boxes;
    const expected = new Map(all.map((c) => [c.series.seriesInstanceUid, sourceBoxes.get(sourceIdOf(c))!]));
    const total = [...expected.values()].reduce((n, list) => n + list.length, 0);
    const first = startHistoseekWith(
      { env: basicEnv() },
      'index',
      root,
      '--db',
      db,
      '--layout',
      'slides',
      '--batch',
      '8',
    );
    await untilWhileRunning(
      first,
      async () => {
        await new Promise((r) => setTimeout(r, 100));
        return liveItems(db) > 0;
      },
      'its first patches were stored',
    );
    await orthanc.stop();
    const stopped = await first.done;
    const storedBefore = liveItems(db);
    t.diagnostic(
      `the run with Orthanc gone: exit ${stopped.status}, ${storedBefore} of ${total} patches stored; ${stopped.stderr.trim().split('\n').slice(-3).join(' / ')}`,
    );
    assert.notEqual(stopped.status, 0, 'the run fails once its retries are spent');
    assert.match(stopped.stderr, /ECONNREFUSED 127\.0\.0\.1:\d+ \(after \d+ tries\)/);
    assert.ok(storedBefore > 0 && storedBefore < total, `${storedBefore} of ${total} stored`);

    await orthanc.restart();
    const rerun = succeeded(
      histoseekWith({ env: basicEnv() }, 'index', root, '--db', db, '--layout', 'slides', '--json'),
      'the rerun',
    );
    assert.equal(rerun.items, total);
    assert.equal(rerun.added, total - storedBefore);
    assert.deepEqual(boxesBySlide(db), expected);
  });
});

describe('the slide viewer', { timeout: TIMEOUT, skip: SKIP_ORTHANC || SKIP_CHROMIUM }, () => {
  test('shows a slide of the PACS in Chromium, its tiles read over DICOMweb, an indexed patch outlined', async (t) => {
    const { dir, orthanc, jpeg } = pacs!;
    const web = join(dir, 'web');
    buildWebPage(web);
    const db = await indexedFromPacs();
    const uid = jpeg.series.seriesInstanceUid;
    const store = FolderIndex.open(db);
    const items = store.allItems().filter((item) => item.slide === uid);
    store.close();
    const item = items[items.length >> 1]!;

    // As `serve --slides dicomweb+… ` with the credentials from the environment does.
    const pacsRoot = `dicomweb+${orthanc.dicomWeb}`;
    useDicomWebCredentials(pacsRoot, DicomWebCredentials.basic(orthanc.user, orthanc.password, 'the test'));
    const server = await startServer({ db, host: '127.0.0.1', port: 0, webRoot: web, slidesDir: pacsRoot });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      const tile = page.waitForResponse((r) => r.url().includes(`/api/slides/${uid}/tiles/`));
      await page.goto(new URL(`#/slides?slide=${uid}&item=${item.row}`, server.url).href);
      assert.equal((await tile).status(), 200);
      await page.waitForFunction(
        (caption) => document.querySelector('.viewer-panel .caption')?.textContent === caption,
        `2,048 × 1,536 px · 0.50 µm/px · item ${item.row} outlined`,
      );
      // Every slide of the PACS is listed, the indexed ones with their patch count.
      const listed = await page.locator('.slide-list a').allInnerTexts();
      assert.equal(listed.length, pacs!.all.length);
      assert.ok(listed.some((text) => text.includes(uid) && text.includes(`${items.length} items`)));
      await page.waitForSelector('.osd .item-box');
      await page.waitForTimeout(1000); // tiles fade in
      // The canvas shows the tissue: stained pixels (red well above green), as the slide's patches are.
      const stained = await page
        .locator('.osd canvas')
        .first()
        .evaluate((c: HTMLCanvasElement) => {
          const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < data.length; i += 4) if (data[i]! - data[i + 1]! > 40) n++;
          return n / (data.length / 4);
        });
      t.diagnostic(`stained share of the viewer's canvas: ${(100 * stained).toFixed(1)}%`);
      assert.ok(stained > 0.1, `stained share ${stained}`);
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'dicomweb-slide-viewer.png') });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.app.close();
    }
  });
});

describe('what histoseek left in the PACS', { timeout: TIMEOUT, skip: SKIP_ORTHANC }, () => {
  test('nothing: after every test above, Orthanc has recorded no change since the slides were stored', async () => {
    assert.ok(pacs!.lastChange > 0, 'storing the slides was recorded');
    assert.equal(await lastChange(pacs!.orthanc), pacs!.lastChange);
  });
});
