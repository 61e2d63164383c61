/**
 * JPEG thumbnails of indexed items, made from the source the index recorded for the row — never
 * from anything in the request. Image files are shrunk by sharp; PanNuke array rows (`file.npy#row`)
 * and slide patches (`<slide>#region=…`: a file, a DICOM folder or a series in a PACS, read on
 * demand and never copied) are read through the collection loader.
 */
import sharp from 'sharp';
import { ItemLoader } from '../collections/load.js';
import { ImageError } from '../data/image.js';
import { parseItemKey } from '../collections/item-key.js';
import type { StoredItem } from '../store/types.js';
import { HttpError } from './errors.js';
import { LruCache } from './lru.js';

export const THUMBNAIL_SIDE = 256;
const QUALITY = 82;
/** ~10–20 kB each: a few tens of MB at most, enough for the pages people flip through. */
const CACHED = 2000;

export class Thumbnails {
  private readonly cache = new LruCache<number, Buffer>(CACHED);
  private readonly loader = new ItemLoader();

  get(item: StoredItem): Promise<Buffer> {
    return this.cache.get(item.row, () => this.render(item));
  }

  private async render(item: StoredItem): Promise<Buffer> {
    try {
      if (parseItemKey(item.source).kind !== 'file') {
        const { pixels } = await this.loader.load(item.source, THUMBNAIL_SIDE);
        return await sharp(pixels, { raw: { width: THUMBNAIL_SIDE, height: THUMBNAIL_SIDE, channels: 3 } })
          .jpeg({ quality: QUALITY })
          .toBuffer();
      }
      return await sharp(item.source, { autoOrient: true })
        .resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .jpeg({ quality: QUALITY })
        .toBuffer();
    } catch (err) {
      const reason = err instanceof ImageError ? err.message : err instanceof Error ? err.message : String(err);
      throw new HttpError(404, `item ${item.row}: its source image cannot be read (${reason})`);
    }
  }

  close(): Promise<void> {
    return this.loader.close();
  }
}
