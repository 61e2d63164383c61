/** What `index --layout slides` reports beyond the item counts: patches and time per slide, storage per slide. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollectionItem } from '../collections/collection.js';
import { whyNoPatches, type SlideWithoutPatches } from '../wsi/no-patches.js';

/** Items per slide, in the order the slides come. */
export function itemsPerSlide(items: readonly CollectionItem[]): Record<string, number> {
  const perSlide: Record<string, number> = {};
  for (const item of items) if (item.slide !== undefined) perSlide[item.slide] = (perSlide[item.slide] ?? 0) + 1;
  return perSlide;
}

/** `24 slides: 41.3 patches per slide (min 30, max 52), 1.25 s per slide` — slides without tissue give no items and are not counted. */
export function describeSlides(perSlide: Record<string, number>, seconds: number): string {
  const counts = Object.values(perSlide);
  if (!counts.length) return 'no slides with tissue';
  const mean = counts.reduce((sum, n) => sum + n, 0) / counts.length;
  return `${counts.length} slides: ${mean.toFixed(1)} patches per slide (min ${Math.min(...counts)}, max ${Math.max(...counts)}), ${(seconds / counts.length).toFixed(2)} s per slide`;
}

/** `; 2 slides gave no patch: glass: no tissue found (…); tiny: smaller than one patch …` — empty when every slide gave patches. */
export function describeSlidesWithoutPatches(slides: SlideWithoutPatches[]): string {
  if (!slides.length) return '';
  const which = slides.map((s) => `${s.slide}: ${whyNoPatches(s)}`).join('; ');
  return `; ${slides.length} ${slides.length === 1 ? 'slide' : 'slides'} gave no patch: ${which}`;
}

/** Bytes of every file below `dir`, walked rather than named, so it holds whatever files the index keeps. */
export async function folderBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true });
  const files = (await Promise.all(entries.map((e) => stat(join(dir, e))))).filter((s) => s.isFile());
  return files.reduce((sum, s) => sum + s.size, 0);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  const power = Math.min(units.length - 1, Math.floor(Math.log2(Math.max(bytes, 1)) / 10));
  return `${(bytes / 2 ** (10 * power)).toFixed(power ? 1 : 0)} ${units[power]}`;
}
