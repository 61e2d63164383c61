/**
 * A slide's mosaic (Yottixel, Kalra et al. 2020): its tissue patches clustered by colour, then each
 * colour cluster by position, keeping the patch nearest each position centroid — a few dozen
 * patches that stand for the whole slide.
 */
import { kmeans } from '../util/kmeans.js';
import { readThumbnail } from './slide.js';
import { openSlide } from './slide.js';
import type { Box } from './tiler.js';

export interface MosaicOptions {
  colourClusters?: number;
  /** Share of each colour cluster's patches kept (at least one per cluster); ignored with `target`. */
  fraction?: number;
  /** About this many patches in all, shared among the colour clusters by size; a slide with no more tissue patches keeps them all. */
  target?: number;
  seed?: number;
}

/**
 * How many patches each colour cluster keeps. With a target: one per non-empty cluster, so every
 * colour is represented, and the rest shared in proportion to what each cluster has beyond that one
 * (largest remainders first), so the counts add up to the target. Called with more patches than the
 * target, so every share is at most what its cluster has beyond its one.
 */
function clusterQuotas(sizes: number[], o: MosaicOptions): number[] {
  if (o.target === undefined) return sizes.map((n) => (n ? Math.max(1, Math.round((o.fraction ?? 0.15) * n)) : 0));
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const beyondOne = sizes.map((n) => Math.max(0, n - 1));
  const spare = Math.max(0, o.target - sizes.filter((n) => n > 0).length);
  const shares = beyondOne.map((n) => (spare * n) / sum(beyondOne));
  const quotas = sizes.map((n, c) => Math.min(n, 1) + Math.floor(shares[c]));
  const byRemainder = shares.map((_, c) => c).sort((a, b) => (shares[b] % 1) - (shares[a] % 1) || a - b);
  for (const c of byRemainder.slice(0, Math.round(spare - sum(shares.map(Math.floor))))) quotas[c]++;
  return quotas;
}

/** Mean RGB of each patch's box, from a thumbnail (no patch pixels are read). */
async function patchColours(path: string, boxes: readonly Box[]): Promise<number[][]> {
  const slide = await openSlide(path);
  try {
    const thumb = await readThumbnail(slide, 1024);
    return boxes.map((box) => {
      const [x0, y0] = [Math.floor(box.x / thumb.downsample), Math.floor(box.y / thumb.downsample)];
      const [x1, y1] = [
        Math.max(x0 + 1, Math.ceil((box.x + box.width) / thumb.downsample)),
        Math.max(y0 + 1, Math.ceil((box.y + box.height) / thumb.downsample)),
      ];
      const sum = [0, 0, 0];
      let n = 0;
      for (let y = y0; y < Math.min(y1, thumb.height); y++) {
        for (let x = x0; x < Math.min(x1, thumb.width); x++) {
          for (let c = 0; c < 3; c++) sum[c] += thumb.rgb[3 * (y * thumb.width + x) + c];
          n++;
        }
      }
      return sum.map((s) => s / Math.max(n, 1));
    });
  } finally {
    slide.close();
  }
}

/** The mosaic of the slide at `path`: some of `patches` (level-0 boxes of its tissue), each one as given. */
export async function mosaic<P extends Box>(path: string, patches: P[], o: MosaicOptions = {}): Promise<P[]> {
  if (patches.length === 0) return [];
  if (o.target !== undefined && patches.length <= o.target) return patches;
  const colours = await patchColours(path, patches);
  // No more colour clusters than the target, so one patch per cluster cannot already exceed it.
  const byColour = kmeans(colours, Math.min(o.colourClusters ?? 9, o.target ?? Infinity), o.seed ?? 0);
  const clusters = byColour.centroids.map((_, c) => patches.filter((_, i) => byColour.assignment[i] === c));
  const quotas = clusterQuotas(
    clusters.map((members) => members.length),
    o,
  );
  const chosen: P[] = [];
  for (const [c, members] of clusters.entries()) {
    if (!members.length) continue;
    const positions = members.map((m) => [m.x + m.width / 2, m.y + m.height / 2]);
    const spots = kmeans(positions, quotas[c], (o.seed ?? 0) + c + 1);
    spots.centroids.forEach((centre) => {
      const nearest = positions.reduce(
        (best, p, i) =>
          (p[0] - centre[0]) ** 2 + (p[1] - centre[1]) ** 2 <
          (positions[best][0] - centre[0]) ** 2 + (positions[best][1] - centre[1]) ** 2
            ? i
            : best,
        0,
      );
      if (!chosen.includes(members[nearest])) chosen.push(members[nearest]);
    });
  }
  return chosen;
}
