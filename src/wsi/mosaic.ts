/**
 * A slide's mosaic (Yottixel, Kalra et al. 2020): its tissue patches clustered by colour, then each
 * colour cluster by position, keeping the patch nearest each position centroid — a few dozen
 * patches that stand for the whole slide.
 */
import type { CollectionItem } from '../data/collections/collection.js';
import { kmeans } from '../util/kmeans.js';
import { readThumbnail } from './slide.js';
import { openSlide } from './slide.js';

export interface MosaicOptions {
  colourClusters?: number;
  /** Share of each colour cluster's patches kept (at least one per cluster). */
  fraction?: number;
  seed?: number;
}

/** Mean RGB of each patch's box, from a thumbnail (no patch pixels are read). */
async function patchColours(path: string, items: CollectionItem[]): Promise<number[][]> {
  const slide = await openSlide(path);
  try {
    const thumb = await readThumbnail(slide, 1024);
    return items.map((item) => {
      const [x0, y0] = [Math.floor(item.x! / thumb.downsample), Math.floor(item.y! / thumb.downsample)];
      const [x1, y1] = [Math.max(x0 + 1, Math.ceil((item.x! + item.width!) / thumb.downsample)), Math.max(y0 + 1, Math.ceil((item.y! + item.height!) / thumb.downsample))];
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

export async function mosaic(path: string, patches: CollectionItem[], o: MosaicOptions = {}): Promise<CollectionItem[]> {
  if (patches.length === 0) return [];
  const colours = await patchColours(path, patches);
  const byColour = kmeans(colours, o.colourClusters ?? 9, o.seed ?? 0);
  const chosen: CollectionItem[] = [];
  for (let c = 0; c < byColour.centroids.length; c++) {
    const members = patches.filter((_, i) => byColour.assignment[i] === c);
    if (!members.length) continue;
    const positions = members.map((m) => [m.x! + m.width! / 2, m.y! + m.height! / 2]);
    const spots = kmeans(positions, Math.max(1, Math.round((o.fraction ?? 0.15) * members.length)), (o.seed ?? 0) + c + 1);
    spots.centroids.forEach((centre) => {
      const nearest = positions.reduce((best, p, i) => ((p[0] - centre[0]) ** 2 + (p[1] - centre[1]) ** 2 < (positions[best][0] - centre[0]) ** 2 + (positions[best][1] - centre[1]) ** 2 ? i : best), 0);
      if (!chosen.includes(members[nearest])) chosen.push(members[nearest]);
    });
  }
  return chosen;
}
