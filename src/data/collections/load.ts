/** Pixels of a collection item, whether it is an image file or a row of a PanNuke array. */
import { ImageError, loadRgb, resizeRgb, type RgbImage } from '../image.js';
import { NpyFile } from '../npy.js';

const ARRAY_ROW = /^(.*\.npy)#(\d+)$/;

/** Opens each .npy once for the whole run; rows are read in place. */
export class ItemLoader {
  private readonly arrays = new Map<string, Promise<NpyFile>>();

  async load(source: string, size: number): Promise<RgbImage> {
    const row = ARRAY_ROW.exec(source);
    if (!row) return loadRgb(source, size);
    try {
      const file = await this.array(row[1]);
      const [height, width] = file.shape.slice(1);
      const values = await file.readRow(Number(row[2]));
      const pixels = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) pixels[i] = Math.max(0, Math.min(255, Math.round(values[i])));
      return await resizeRgb(pixels, width, height, size, source);
    } catch (err) {
      throw err instanceof ImageError ? err : new ImageError(source, err instanceof Error ? err.message : String(err));
    }
  }

  private array(path: string): Promise<NpyFile> {
    let file = this.arrays.get(path);
    if (!file) {
      file = NpyFile.open(path);
      this.arrays.set(path, file);
    }
    return file;
  }

  async close(): Promise<void> {
    await Promise.all([...this.arrays.values()].map(async (f) => (await f).close()));
    this.arrays.clear();
  }
}
