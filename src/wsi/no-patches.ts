/**
 * Why a whole slide gave no patch: it is smaller than one patch at the target resolution, or its
 * tissue mask holds no patch's worth of tissue. Indexing names such slides instead of passing over
 * them in silence.
 */
import type { Slide } from './types.js';
import type { TilePlan } from './tiler.js';

export const NO_TISSUE = 'no tissue found';
export const TOO_SMALL = 'smaller than one patch at the target µm/px';

/** A slide that gave no patch, as `index --json` prints it. */
export interface SlideWithoutPatches {
  /** The slide's id (its file name without the extension). */
  slide: string;
  path: string;
  reason: typeof NO_TISSUE | typeof TOO_SMALL;
  /** The figures behind the reason, for people. */
  detail: string;
  /** no tissue: share of the slide's mask that is tissue. */
  tissue_fraction?: number;
  /** too small: the slide's level-0 size in µm. */
  slide_um?: { width: number; height: number };
  /** too small: the side of one patch in µm. */
  patch_um?: number;
}

/** Thrown by slidePatchItems for a whole slide that gives no patch; collection readers report it and go on. */
export class NoPatchesError extends Error {
  constructor(readonly report: SlideWithoutPatches) {
    super(`${report.path}: ${whyNoPatches(report)}`);
    this.name = 'NoPatchesError';
  }
}

/** "no tissue found (tissue 0.3% of the slide, none of it filling half a patch)": the reason and its figures. */
export function whyNoPatches(report: SlideWithoutPatches): string {
  return `${report.reason} (${report.detail})`;
}

/** The report for a slide whose plan has no position. */
export function explainNoPatches(slide: Slide, id: string, plan: TilePlan): SlideWithoutPatches {
  const { width, height } = slide.levels[0]!;
  if (width < plan.width || height < plan.height) {
    // Without a recorded resolution the slide is taken to be at the target already (see planTiles).
    const mpp = slide.mpp ?? { x: plan.targetMpp, y: plan.targetMpp };
    const slideUm = { width: round(width * mpp.x), height: round(height * mpp.y) };
    const patchUm = round(plan.patchSize * plan.targetMpp);
    const assumed = slide.mpp ? '' : `; no resolution recorded, taken as ${plan.targetMpp} µm/px`;
    const detail = `${width} × ${height} px = ${slideUm.width} × ${slideUm.height} µm, a patch is ${patchUm} µm${assumed}`;
    return { slide: id, path: slide.path, reason: TOO_SMALL, detail, slide_um: slideUm, patch_um: patchUm };
  }
  const fraction = Number((plan.mask?.tissueFraction ?? 0).toPrecision(3));
  const detail =
    fraction === 0
      ? 'the tissue mask is empty'
      : `tissue ${percent(fraction)} of the slide, none of it filling ${shareOfPatch(plan.minTissue)}`;
  return { slide: id, path: slide.path, reason: NO_TISSUE, detail, tissue_fraction: fraction };
}

function round(um: number): number {
  return Number(um.toFixed(1));
}

/** 0.003 → "0.3%"; a share below 0.1% that is not zero shows as "<0.1%", not a misleading "0.0%". */
function percent(fraction: number): string {
  return fraction < 0.001 ? '<0.1%' : `${(100 * fraction).toFixed(1)}%`;
}

function shareOfPatch(minTissue: number): string {
  return minTissue === 0.5 ? 'half a patch' : `${percent(minTissue)} of a patch`;
}
