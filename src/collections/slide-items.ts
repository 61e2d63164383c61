/**
 * Whole-slide images as collection items: each tissue patch of a slide is an item keyed by the
 * slide and the patch's level-0 box (`<slide>#region=x,y,w,h`), so the indexer embeds, skips on
 * rerun and records patches exactly as it does image files.
 */
import { readFile } from 'node:fs/promises';
import type { Box } from '../wsi/tiler.js';
import { planTiles, type TileOptions } from '../wsi/tiler.js';
import { explainNoPatches, NoPatchesError } from '../wsi/no-patches.js';
import { openSlide } from '../wsi/slide.js';
import { slideId } from '../wsi/slide-sources.js';
import { DicomSlide } from '../wsi/dicom/dicom-slide.js';
import type { CollectionItem } from './collection.js';
import { formatItemKey } from './item-key.js';

/** Defaults for cutting slides into patches: the paper's 224-px input at Kimia Path24C's 0.5 µm/px (docs/model.md). */
export const SLIDE_TILING = { patchSize: 224, targetMpp: 0.5, minTissue: 0.5 } as const;

/** A slide patch as an item: its box is always there. */
export type SlidePatch = CollectionItem & Box;

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
): Promise<SlidePatch[]> {
  const slide = await openSlide(path);
  try {
    const plan = await planTiles(slide, { ...tiling, roi });
    const id = slideId(path);
    const meta = labels?.get(id);
    if (labels && !meta) throw new Error(`${path}: slide '${id}' has no row in the labels CSV`);
    // A DICOM slide names its patient; the labels CSV, when it does too, wins.
    const patient = meta?.patient ?? (slide instanceof DicomSlide ? (slide.dicom.patientId ?? undefined) : undefined);
    const items: SlidePatch[] = [];
    for (const { x, y } of plan.positions()) {
      const box = { x, y, width: plan.width, height: plan.height };
      items.push({
        source: formatItemKey({ kind: 'region', path, box }),
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
