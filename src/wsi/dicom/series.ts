/**
 * DICOM WSI series in folders of Part 10 files, and how a slide made of one refers to itself: by its
 * folder when the folder holds one series, or `FOLDER#series=UID` when it holds several. Files are
 * found by the 'DICM' magic whatever their names, and grouped by Series Instance UID.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DicomSlide, type DecodeFrame } from './dicom-slide.js';
import type { WsiInstance } from './instance.js';
import { instanceFromJsonModel, VL_WHOLE_SLIDE_MICROSCOPY } from './json-model.js';
import { FileFrameSource, isPart10File, readPart10Header, readPart10Summary, type Part10Header } from './part10.js';

/** One series of a folder: its instances and their files' headers (by SOP Instance UID). */
export interface DicomSeries {
  folder: string;
  seriesInstanceUid: string;
  instances: WsiInstance[];
  headers: Map<string, Part10Header>;
}

/** What a folder holds: its WSI series, and the DICOM files that could not be read, with the reason. */
export interface DicomFolder {
  series: DicomSeries[];
  unreadable: { path: string; reason: string }[];
}

/** Headers read at once while scanning (each is a few small positioned reads). */
const SCAN_CONCURRENCY = 8;

/** Files directly in `dir` (links included), absolute. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => join(dir, e.name));
}

/** `read` over `files`, SCAN_CONCURRENCY at a time, in order. */
async function inBatches<T>(files: readonly string[], read: (file: string) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < files.length; i += SCAN_CONCURRENCY)
    out.push(...(await Promise.all(files.slice(i, i + SCAN_CONCURRENCY).map(read))));
  return out;
}

/**
 * The UIDs of the WSI series among the files directly in `folder` (sorted), and the DICOM files that
 * could not be read: a listing that reads only the start of each file's header.
 */
export async function listDicomSeries(
  folder: string,
): Promise<{ seriesInstanceUids: string[]; unreadable: DicomFolder['unreadable'] }> {
  const uids = new Set<string>();
  const unreadable: DicomFolder['unreadable'] = [];
  const files = await filesIn(resolve(folder));
  const summaries = await inBatches(files, async (path) => {
    if (!(await isPart10File(path))) return null;
    return readPart10Summary(path).catch((e: Error) => ({ path, reason: e.message }));
  });
  for (const summary of summaries) {
    if (!summary) continue;
    if ('reason' in summary) unreadable.push(summary);
    else if (summary.sopClassUid === VL_WHOLE_SLIDE_MICROSCOPY) {
      if (summary.seriesInstanceUid) uids.add(summary.seriesInstanceUid);
      else unreadable.push({ path: summary.path, reason: `${summary.path}: no Series Instance UID (0020,000E)` });
    }
  }
  return { seriesInstanceUids: [...uids].sort(), unreadable };
}

/**
 * The VL Whole Slide Microscopy series among the files directly in `folder` (other DICOM files, e.g.
 * a radiograph, are passed over). The caller owns the headers: dispose them, or hand them to a
 * FileFrameSource.
 */
export async function findDicomSeries(folder: string): Promise<DicomFolder> {
  const dir = resolve(folder);
  const files = await filesIn(dir);
  const bySeries = new Map<string, DicomSeries>();
  const unreadable: DicomFolder['unreadable'] = [];
  const read = await inBatches(files, readWsiFile);
  for (const [j, result] of read.entries()) {
    if (!result) continue;
    if ('reason' in result) {
      unreadable.push({ path: files[j]!, reason: result.reason });
      continue;
    }
    const { header, instance } = result;
    let series = bySeries.get(instance.seriesInstanceUid);
    if (!series) {
      series = { folder: dir, seriesInstanceUid: instance.seriesInstanceUid, instances: [], headers: new Map() };
      bySeries.set(instance.seriesInstanceUid, series);
    }
    if (series.headers.has(instance.sopInstanceUid)) {
      // The same instance twice (a copy under another name): read once.
      await header.dispose();
      continue;
    }
    series.instances.push(instance);
    series.headers.set(instance.sopInstanceUid, header);
  }
  const series = [...bySeries.values()].sort((a, b) => (a.seriesInstanceUid < b.seriesInstanceUid ? -1 : 1));
  return { series, unreadable };
}

/** A WSI instance's header, null when the file is not DICOM or not WSI, or why it cannot be read. */
async function readWsiFile(
  path: string,
): Promise<{ header: Part10Header; instance: WsiInstance } | { reason: string } | null> {
  if (!(await isPart10File(path))) return null;
  let header: Part10Header;
  try {
    header = await readPart10Header(path);
  } catch (e) {
    return { reason: (e as Error).message };
  }
  const sopClass = header.sopClassUid ?? String(header.dataset['00080016']?.Value?.[0] ?? '');
  if (sopClass !== VL_WHOLE_SLIDE_MICROSCOPY) {
    await header.dispose();
    return null;
  }
  try {
    return { header, instance: instanceFromJsonModel(header.dataset, header.transferSyntaxUid, path) };
  } catch (e) {
    await header.dispose();
    return { reason: (e as Error).message };
  }
}

/** Releases what a scan holds (inflated copies of deflated files). */
export async function disposeSeries(series: readonly DicomSeries[]): Promise<void> {
  for (const s of series) for (const header of s.headers.values()) await header.dispose();
}

const SERIES = '#series=';

/** A local DICOM slide's reference: the folder alone when it holds one series, else with the series' UID. */
export function formatDicomSlideRef(folder: string, seriesInstanceUid: string | null): string {
  return seriesInstanceUid ? `${folder}${SERIES}${seriesInstanceUid}` : folder;
}

/** The folder and series of a `FOLDER#series=UID` reference (null when it has no `#series=`). */
export function parseDicomSlideRef(ref: string): { folder: string; seriesInstanceUid: string } | null {
  const at = ref.lastIndexOf(SERIES);
  if (at < 0) return null;
  const uid = ref.slice(at + SERIES.length);
  return /^[0-9.]+$/.test(uid) ? { folder: ref.slice(0, at), seriesInstanceUid: uid } : null;
}

/** References of the series in `folder`: the folder itself for one series, one `#series=` each for several. */
export function seriesRefs(folder: string, seriesInstanceUids: readonly string[]): string[] {
  return seriesInstanceUids.length === 1
    ? [formatDicomSlideRef(folder, null)]
    : seriesInstanceUids.map((uid) => formatDicomSlideRef(folder, uid));
}

/**
 * Opens one series of `folder` as a slide named `path`: the series `seriesInstanceUid`, or the
 * folder's only one. A folder holding a DICOM file that cannot be read is refused, since which
 * series the file belongs to (and so whether a level is missing) cannot be told.
 */
export async function openDicomFolderSlide(
  path: string,
  folder: string,
  seriesInstanceUid: string | null,
  decode: DecodeFrame,
): Promise<DicomSlide> {
  const { series, unreadable } = await findDicomSeries(folder);
  const fail = async (problem: string): Promise<never> => {
    await disposeSeries(series);
    throw new Error(problem);
  };
  if (unreadable.length > 0) return fail(`cannot read ${unreadable.map((u) => u.reason).join('; ')}`);
  if (series.length === 0) return fail('no DICOM whole-slide (VL Whole Slide Microscopy) series in the folder');
  const chosen = seriesInstanceUid ? series.find((s) => s.seriesInstanceUid === seriesInstanceUid) : series[0];
  if (!chosen)
    return fail(
      `no series ${seriesInstanceUid} in ${folder} (it holds ${series.map((s) => s.seriesInstanceUid).join(', ')})`,
    );
  if (!seriesInstanceUid && series.length > 1)
    return fail(
      `the folder holds ${series.length} series; name one as ${formatDicomSlideRef(folder, '<UID>')}: ${series.map((s) => s.seriesInstanceUid).join(', ')}`,
    );
  await disposeSeries(series.filter((s) => s !== chosen));
  try {
    return new DicomSlide(path, chosen.instances, new FileFrameSource(folder, chosen.headers), {
      backend: 'dicom',
      decode,
    });
  } catch (e) {
    await disposeSeries([chosen]);
    throw e;
  }
}
