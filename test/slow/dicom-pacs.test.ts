/**
 * DICOM whole-slide images against real parts: slides converted by Debian's OrthancWSIDicomizer
 * (orthanc-wsi) and served by a real Orthanc with its DICOMweb plugin on a random loopback port
 * (test/orthanc-fixtures.ts). The synthetic slides always run; CMU-1-Small-Region.svs (shared test
 * data) skips with a message where ../shared is absent.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { DicomJson } from '../../src/wsi/dicom/instance.js';
import { ROOT, temporaryFolder } from '../helpers.js';
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

const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';

/** A DICOM JSON attribute's first value (PS3.18 F.2). */
const first = (json: DicomJson, tag: string) => json[tag]?.Value?.[0];

/** One test slide: its source, its DICOM files, and the series Orthanc stores them as. */
interface Converted {
  source: string;
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
}

/** Starts Orthanc, draws a synthetic slide, converts it (and CMU-1) three ways and uploads them: about 5 s. */
async function setUpPacs(): Promise<Pacs> {
  const dir = await temporaryFolder('histoseek-dicom-pacs-');
  const orthanc = await startOrthanc();
  const convert = async (name: string, source: string, options: DicomizeOptions): Promise<Converted> => {
    const out = join(dir, name);
    await mkdir(out);
    const files = await dicomize(source, out, options);
    const stored = await orthanc.upload(files);
    assert.equal(stored.length, 1, `${name}: one series`);
    return { source, files, series: stored[0]! };
  };
  const synthetic = join(dir, 'synthetic.tiff');
  await writeSyntheticSlide(synthetic, { cls: 'tumour', seed: 5, width: 2048, height: 1536 });
  const jpeg = await convert('jpeg', synthetic, {});
  const j2k = await convert('j2k', synthetic, { compression: 'jpeg2000' });
  const rebuilt = await convert('rebuilt', synthetic, { levels: 3 });
  const cmu1 = SKIP_CMU1 ? null : await convert('cmu1', CMU1, {});
  return { dir, orthanc, jpeg, j2k, rebuilt, cmu1, all: [jpeg, j2k, rebuilt, ...(cmu1 ? [cmu1] : [])] };
}

// At the top level, so that Orthanc is stopped when the file ends (startOrthanc's after hook belongs
// to whatever test or hook calls it).
const pacs = SKIP_ORTHANC ? null : await setUpPacs();

/** Every series Orthanc's QIDO-RS finds, as DICOM JSON. */
async function qidoSeries(query = ''): Promise<DicomJson[]> {
  const r = await pacs!.orthanc.fetch(`/dicom-web/series${query}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as DicomJson[];
}

describe('the PACS the tests run against', { timeout: TIMEOUT, skip: SKIP_ORTHANC }, () => {
  test('Orthanc finds every converted slide as an SM series over QIDO-RS, only with credentials', async () => {
    const { orthanc, jpeg, j2k, rebuilt, cmu1, all } = pacs!;
    const series = await qidoSeries('?Modality=SM');
    assert.deepEqual(series.map((s) => first(s, '0020000E')).sort(), all.map((c) => c.series.seriesInstanceUid).sort());
    assert.ok(series.every((s) => first(s, '00080060') === 'SM'));
    // Instances (levels): four copied from the TIFF, four re-encoded, three rebuilt; CMU-1 has one.
    assert.deepEqual(
      [jpeg, j2k, rebuilt, ...(cmu1 ? [cmu1] : [])].map((c) => [c.files.length, c.series.instances]),
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
