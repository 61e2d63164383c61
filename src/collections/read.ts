/**
 * Reads a collection in one of the supported layouts:
 * - folder:   ROOT/<class>/**\/image — label = the first-level folder;
 * - kimia:    Kimia Path24C — scan folders s0…s23 (files may sit deeper) in a training and a test
 *             tree (`train`/`training`, `test`/`testing`), or directly under ROOT; slide = scan, label =
 *             the scan, or the scan's row of an optional slide CSV (e.g. the tissue class of a synthetic slide);
 * - pannuke:  PanNuke folds — every `images.npy` with a `types.npy` beside it, rows read in place;
 * - imagenet: ROOT/train/<wnid>/*.JPEG (or ROOT/<wnid>/*.JPEG); label = wnid;
 * - slides:   whole-slide images in ROOT, and DICOM WSI series in ROOT and its sub-folders (one
 *             slide each), cut into tissue patches (label from an optional CSV, else the slide id;
 *             patient from the CSV, else DICOM's Patient ID), all of them or a mosaic per slide; a slide that cannot be read is
 *             reported and skipped, and one that gives no patch is reported with the reason.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/image.js';
import { NpyFile } from '../data/npy.js';
import { stopsTheRun } from '../util/errors.js';
import { selectPatches, type PatchSelection } from './patch-selection.js';
import { NoPatchesError, whyNoPatches } from '../wsi/no-patches.js';
import { readSlideLabels, slidePatchItems, type SlideLabels } from './slide-items.js';
import { slideSources } from '../wsi/slide-sources.js';
import { naturalCompare } from '../util/natural-compare.js';
import type { Collection, CollectionItem, Layout, Role } from './collection.js';
import { formatItemKey } from './item-key.js';
import { isDicomWebUrl } from '../wsi/dicomweb/dicomweb-url.js';

export interface ReadOptions {
  /** kimia, slides: a CSV of slide,label[,patient] that labels every item by its slide. */
  labels?: string;
  /** slides: which tissue patches of each slide to keep (default: all). */
  patches?: PatchSelection;
  /** slides: called as each slide is planned. */
  onSlide?: (done: number, total: number) => void;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort(naturalCompare);
}

/** Image files anywhere below `dir`, sorted. */
async function imagesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries
    .filter((e) => IMAGE_EXTENSIONS.has(extname(e).toLowerCase()))
    .sort(naturalCompare)
    .map((e) => join(dir, e));
}

async function classFolders(root: string, pick: (name: string) => boolean = () => true): Promise<CollectionItem[]> {
  const items: CollectionItem[] = [];
  for (const label of (await subfolders(root)).filter(pick)) {
    for (const source of await imagesBelow(join(root, label))) items.push({ source, label });
  }
  return items;
}

const SCAN = /^s\d+$/;

/** The Kimia tree for a role: ROOT itself if it holds scan folders, else its train/test subfolder. */
async function kimiaTree(root: string, role: Role): Promise<string> {
  const folders = await subfolders(root);
  if (folders.some((f) => SCAN.test(f))) return root;
  const wanted = role === 'index' ? /^(train|training)$/i : /^(test|testing)$/i;
  const tree = folders.find((f) => wanted.test(f));
  if (!tree)
    throw new Error(
      `${root}: no Kimia scan folders (s0…s23) and no ${role === 'index' ? 'train' : 'test'} folder holding them`,
    );
  return join(root, tree);
}

async function readKimia(root: string, role: Role, labels: Map<string, SlideLabels> | null): Promise<CollectionItem[]> {
  const tree = await kimiaTree(root, role);
  return (await classFolders(tree, (f) => SCAN.test(f))).map((item) => {
    if (!labels) return { ...item, slide: item.label };
    const meta = labels.get(item.label);
    if (!meta) throw new Error(`${join(tree, item.label)}: scan '${item.label}' has no row in the labels CSV`);
    return { ...item, label: meta.label, slide: item.label, patient: meta.patient };
  });
}

async function readPannuke(root: string): Promise<CollectionItem[]> {
  const entries = (await readdir(root, { recursive: true }))
    .filter((e) => basename(e) === 'images.npy')
    .sort(naturalCompare);
  const items: CollectionItem[] = [];
  for (const entry of entries) {
    const images = join(root, entry);
    const typesPath = join(dirname(images), 'types.npy');
    const [imagesFile, typesFile] = [await NpyFile.open(images), await NpyFile.open(typesPath)];
    try {
      if (imagesFile.shape.length !== 4 || imagesFile.shape[3] !== 3)
        throw new Error(`${images}: expected [N, H, W, 3] images, got [${imagesFile.shape.join(', ')}]`);
      const types = await typesFile.readStrings();
      if (types.length !== imagesFile.length)
        throw new Error(`${typesPath}: ${types.length} tissue types for ${imagesFile.length} images in ${images}`);
      types.forEach((label, row) =>
        items.push({ source: formatItemKey({ kind: 'array-row', path: images, row }), label }),
      );
    } finally {
      await Promise.all([imagesFile.close(), typesFile.close()]);
    }
  }
  return items;
}

async function readImagenet(root: string): Promise<CollectionItem[]> {
  const tree = (await isDirectory(join(root, 'train'))) ? join(root, 'train') : root;
  return classFolders(tree, (f) => /^n\d{8}$/.test(f));
}

/** What reading slides reports beside the items: slides it could not read, and slides that gave no patch. */
type SlideOutcomes = Pick<Collection, 'skipped' | 'withoutPatches'>;

async function readSlides(
  dir: string,
  labels: Map<string, SlideLabels> | null,
  options: ReadOptions,
  outcomes: SlideOutcomes,
): Promise<CollectionItem[]> {
  const files = await slideSources(dir);
  const items: CollectionItem[] = [];
  for (const [i, file] of files.entries()) {
    try {
      items.push(
        ...(await selectPatches(file, await slidePatchItems(file, labels), options.patches ?? { kind: 'all' })),
      );
    } catch (err) {
      if (stopsTheRun(err)) throw err;
      if (err instanceof NoPatchesError) outcomes.withoutPatches.push(err.report);
      else outcomes.skipped.push({ source: file, reason: err instanceof Error ? err.message : String(err) });
    }
    options.onSlide?.(i + 1, files.length);
  }
  return items;
}

export async function readCollection(
  root: string,
  layout: Layout,
  role: Role = 'index',
  options: ReadOptions = {},
): Promise<Collection> {
  // A PACS is read over DICOMweb (slides only); anything else is a folder.
  const pacs = isDicomWebUrl(root);
  if (pacs && layout !== 'slides')
    throw new Error(`${root}: a PACS holds whole-slide images: layout 'slides', not '${layout}'`);
  const dir = pacs ? root : resolve(root);
  if (!pacs && !(await isDirectory(dir))) throw new Error(`${root}: no such folder`);
  if (options.labels && layout !== 'kimia' && layout !== 'slides')
    throw new Error(
      `${options.labels}: a slide labels CSV applies to the kimia and slides layouts, whose items have a slide; layout '${layout}' labels its items itself`,
    );
  const labels = options.labels ? await readSlideLabels(options.labels) : null;
  const outcomes: SlideOutcomes = { skipped: [], withoutPatches: [] };
  const readers: Record<Layout, () => Promise<CollectionItem[]>> = {
    folder: () => classFolders(dir),
    kimia: () => readKimia(dir, role, labels),
    pannuke: () => readPannuke(dir),
    imagenet: () => readImagenet(dir),
    slides: () => readSlides(dir, labels, options, outcomes),
  };
  const items = await readers[layout]();
  if (items.length === 0) {
    const why = [
      ...outcomes.skipped.map((s) => s.reason),
      ...outcomes.withoutPatches.map((s) => `${s.path}: ${whyNoPatches(s)}`),
    ]
      .map((reason) => `\n  ${reason}`)
      .join('');
    throw new Error(`${root}: no images found for layout '${layout}'${layoutHint(layout)}${why}`);
  }
  return { layout, root: dir, items, ...outcomes };
}

function layoutHint(layout: Layout): string {
  const hints: Record<Layout, string> = {
    folder: ' (expected one sub-folder of images per class)',
    kimia: ' (expected scan folders s0…s23)',
    pannuke: ' (expected images.npy with types.npy beside it)',
    imagenet: ' (expected train/<wnid>/*.JPEG)',
    slides: ' (expected whole-slide images with tissue: .svs, .tiff, .ndpi, …, or folders of DICOM WSI files)',
  };
  return hints[layout];
}
