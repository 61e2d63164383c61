/**
 * Finding slides and naming them: the slide files and DICOM WSI series in a folder or a PACS, a
 * slide's id, and a slide's path as the index records it.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { naturalCompare } from '../util/natural-compare.js';
import { listDicomSeries, parseDicomSlideRef, seriesRefs } from './dicom/series.js';
import { dicomWebSlideId, listSeries } from './dicomweb/dicomweb-slide.js';
import { formatDicomWebUrl, isDicomWebUrl, parseSeriesUrl } from './dicomweb/dicomweb-url.js';

/** Whole-slide formats OpenSlide reads. */
export const OPENSLIDE_EXTENSIONS: readonly string[] = [
  '.svs',
  '.tif',
  '.tiff',
  '.ndpi',
  '.vms',
  '.vmu',
  '.scn',
  '.mrxs',
  '.bif',
  '.svslide',
];

/** Files indexed as slides: OpenSlide's formats, and plain images read as one-level slides. */
export const SLIDE_EXTENSIONS: ReadonlySet<string> = new Set([...OPENSLIDE_EXTENSIONS, '.png', '.jpg', '.jpeg']);

/** A file extension: a letter then up to four letters or digits (a UID's or version's '.1' is not one). */
const EXTENSION = /^\.[a-z][a-z0-9]{0,4}$/i;

/**
 * A slide's id: its file name without the extension; for a DICOM slide, its folder's name, or the
 * series' UID when the reference names one (`FOLDER#series=UID`); for a slide in a PACS, its series' UID.
 */
export function slideId(path: string): string {
  if (isDicomWebUrl(path)) return dicomWebSlideId(path);
  const dicom = parseDicomSlideRef(path);
  if (dicom) return dicom.seriesInstanceUid;
  const name = basename(path);
  const ext = extname(name);
  return EXTENSION.test(ext) ? name.slice(0, -ext.length) : name;
}

/**
 * A slide as given (a file, a DICOM folder or `FOLDER#series=UID`, a PACS series) as the index
 * records it: a local path made absolute, a PACS address canonical and without credentials.
 */
export function resolveSlidePath(path: string): string {
  return isDicomWebUrl(path) ? formatDicomWebUrl(parseSeriesUrl(path)) : resolve(path);
}

/** Slide files directly in `dir` (sorted), links to slide files included: slides often live on shared storage, linked in. */
export async function slideFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    if (!SLIDE_EXTENSIONS.has(extname(e.name).toLowerCase())) continue;
    const path = join(resolve(dir), e.name);
    // A broken link is kept, so that reading it reports it rather than passing over it.
    if (e.isFile() || (e.isSymbolicLink() && ((await stat(path).catch(() => null))?.isFile() ?? true)))
      files.push(path);
  }
  return files.sort(naturalCompare);
}

/**
 * Slide files directly in `dir`, and the DICOM WSI series in `dir` and its sub-folders (a series is
 * often a folder of its own), each series one slide referred to as seriesRefs says; sorted. A folder
 * whose DICOM files cannot be read is listed too, so that opening it reports why. `dir` may also be
 * a PACS (`dicomweb+https://…`, perhaps narrowed to a study or series): its slide-microscopy series.
 */
export async function slideSources(dir: string): Promise<string[]> {
  if (isDicomWebUrl(dir)) return listSeries(dir);
  const root = resolve(dir);
  const folders = [root];
  for (const e of await readdir(root, { withFileTypes: true })) {
    const path = join(root, e.name);
    // A series' folder linked in from shared storage counts, as a linked slide file does.
    if (e.isDirectory() || (e.isSymbolicLink() && (await stat(path).catch(() => null))?.isDirectory()))
      folders.push(path);
  }
  const slides = await slideFiles(root);
  for (const folder of folders) {
    const { seriesInstanceUids, unreadable } = await listDicomSeries(folder);
    slides.push(
      ...(seriesInstanceUids.length === 0 && unreadable.length > 0 ? [folder] : seriesRefs(folder, seriesInstanceUids)),
    );
  }
  return slides.sort(naturalCompare);
}
