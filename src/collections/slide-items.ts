/**
 * Whole-slide images as collection items: each tissue patch of a slide is an item whose source
 * names the slide and the patch's level-0 box (`<slide>#region=x,y,w,h`), so the indexer embeds,
 * skips on rerun and records patches exactly as it does image files.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { naturalCompare } from '../util/natural-compare.js';
import type { CollectionItem } from './collection.js';
import type { Box } from '../wsi/tiler.js';
import { planTiles, type TileOptions } from '../wsi/tiler.js';
import { explainNoPatches, NoPatchesError } from '../wsi/no-patches.js';
import { openSlide } from '../wsi/slide.js';
import { DicomSlide } from '../wsi/dicom/dicom-slide.js';
import { listDicomSeries, parseDicomSlideRef, seriesRefs } from '../wsi/dicom/series.js';
import { dicomWebSlideId, listSeries } from '../wsi/dicomweb/dicomweb-slide.js';
import { formatDicomWebUrl, isDicomWebUrl, parseSeriesUrl } from '../wsi/dicomweb/dicomweb-url.js';

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

/** Defaults for cutting slides into patches (spec: 224 px at 0.5 µm/px). */
export const SLIDE_TILING = { patchSize: 224, targetMpp: 0.5, minTissue: 0.5 } as const;

const REGION = /^(.*)#region=(-?\d+),(-?\d+),(\d+),(\d+)$/;

export function regionSource(slidePath: string, box: Box): string {
  return `${slidePath}#region=${box.x},${box.y},${box.width},${box.height}`;
}

export function parseRegionSource(source: string): { slide: string; box: Box } | null {
  const m = REGION.exec(source);
  return m
    ? { slide: m[1], box: { x: Number(m[2]), y: Number(m[3]), width: Number(m[4]), height: Number(m[5]) } }
    : null;
}

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

export interface SlideLabels {
  label: string;
  patient?: string;
}

/** `slide,label[,patient]` per line (a header line is skipped); slides are matched by id or file name. */
export async function readSlideLabels(csv: string): Promise<Map<string, SlideLabels>> {
  const text = await readFile(csv, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${csv}: cannot read (${err.code ?? err.message})`);
  });
  const out = new Map<string, SlideLabels>();
  text.split(/\r?\n/).forEach((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    if (!line.trim() || (i === 0 && /^slide$/i.test(cells[0]))) return;
    if (cells.length < 2 || !cells[0] || !cells[1])
      throw new Error(`${csv}:${i + 1}: expected 'slide,label[,patient]', got '${line}'`);
    // By id, and as written: a DICOM slide's folder or series UID may hold dots that are no extension.
    const row = { label: cells[1], patient: cells[2] || undefined };
    out.set(slideId(cells[0]), row);
    out.set(cells[0], row);
  });
  return out;
}

/**
 * The tissue patches of one slide as items (label = the CSV's, else the slide id). A whole slide (no
 * `roi`) that gives none throws a NoPatchesError saying why.
 */
export async function slidePatchItems(
  path: string,
  labels: Map<string, SlideLabels> | null,
  tiling: TileOptions = SLIDE_TILING,
  roi?: Box,
): Promise<CollectionItem[]> {
  const slide = await openSlide(path);
  try {
    const plan = await planTiles(slide, { ...tiling, roi });
    const id = slideId(path);
    const meta = labels?.get(id);
    if (labels && !meta) throw new Error(`${path}: slide '${id}' has no row in the labels CSV`);
    // A DICOM slide names its patient; the labels CSV, when it does too, wins.
    const patient = meta?.patient ?? (slide instanceof DicomSlide ? (slide.dicom.patientId ?? undefined) : undefined);
    const items: CollectionItem[] = [];
    for (const { x, y } of plan.positions()) {
      const box = { x, y, width: plan.width, height: plan.height };
      items.push({
        source: regionSource(path, box),
        label: meta?.label ?? id,
        slide: id,
        patient,
        ...box,
      });
    }
    if (items.length === 0 && !roi) throw new NoPatchesError(explainNoPatches(slide, id, plan));
    return items;
  } finally {
    slide.close();
  }
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
