/** Writes an image as the slides of the synthetic collections are stored: a pyramidal tiled JPEG TIFF at 0.5 µm/px. */
import type { OutputInfo, Sharp } from 'sharp';
import { MICRONS_PER_PIXEL } from './slide.js';

export function writePyramidalTiff(image: Sharp, file: string): Promise<OutputInfo> {
  // sharp takes resolution in px/mm whatever unit the TIFF records.
  const pxPerMm = 1000 / MICRONS_PER_PIXEL;
  return image
    .tiff({
      tile: true,
      tileWidth: 256,
      tileHeight: 256,
      pyramid: true,
      compression: 'jpeg',
      quality: 90,
      xres: pxPerMm,
      yres: pxPerMm,
      resolutionUnit: 'cm',
    })
    .toFile(file);
}
