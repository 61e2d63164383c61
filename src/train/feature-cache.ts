/**
 * Backbone features cached on disk. The backbone (or a user's encoder) is frozen, so each training
 * image's four feature maps are computed once with onnxruntime for each of its augmented views and
 * stored as float16; training then reads them and runs only neck + head. One row per (image, view),
 * image-major; a build killed part-way resumes from the last whole row.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { CollectionItem } from '../collections/collection.js';
import { ItemLoader } from '../collections/load.js';
import { normalizeInto } from '../data/image.js';
import type { PyramidSource } from '../engine/onnx-parts.js';
import { pyramidDims, type ModelConfig } from '../model/config.js';
import type { HostPyramid } from '../model/host-tensor.js';
import { decodeHalf, encodeHalf } from '../model/safetensors.js';
import { Random } from '../util/random.js';
import { applyView, viewRecipes, type ViewRecipe } from './augment.js';
import type { AugmentConfig } from './config.js';

const BUILD_BATCH = 16;

/** [H, W, C] of each backbone stage for an S×S input. */
export function stageShapes(config: ModelConfig): [number, number, number][] {
  return pyramidDims(config).map((c, i) => {
    const side = config.inputSize / 2 ** (i + 2);
    return [side, side, c] as [number, number, number];
  });
}

export interface CacheSpec {
  config: ModelConfig;
  /** Hash of the frozen part (frozen-pyramid.ts): another backbone or encoder means other features. */
  featuresHash: string;
  items: CollectionItem[];
  augment: AugmentConfig;
  seed: number;
}

export class FeatureCache {
  readonly views: number;
  private readonly shapes: [number, number, number][];
  private readonly rowValues: number;
  private fd = -1;

  constructor(
    readonly dir: string,
    readonly spec: CacheSpec,
  ) {
    this.views = spec.augment.views;
    this.shapes = stageShapes(spec.config);
    this.rowValues = this.shapes.reduce((n, [h, w, c]) => n + h * w * c, 0);
  }

  /** The cache folder for a spec, under `root`: its name is a hash of everything the features depend on. */
  static folderFor(root: string, spec: CacheSpec): string {
    const key = createHash('sha256')
      .update(
        JSON.stringify({
          b: spec.featuresHash,
          s: spec.config.inputSize,
          p: spec.config.preset,
          a: spec.augment,
          seed: spec.seed,
          items: spec.items.map((i) => i.source),
        }),
      )
      .digest('hex')
      .slice(0, 16);
    return join(root, key);
  }

  private get file(): string {
    return join(this.dir, 'features.f16');
  }

  private get rowBytes(): number {
    return 2 * this.rowValues;
  }

  get rows(): number {
    return this.spec.items.length * this.views;
  }

  /** The recipe of each view of item `index`: seeded per item, so a resumed build draws the same. */
  recipes(index: number): ViewRecipe[] {
    return viewRecipes(this.spec.augment, new Random((this.spec.seed * 1_000_003 + index * 7919) >>> 0));
  }

  /** Computes the rows still missing (all of them the first time); `onProgress` gets rows done. */
  async build(source: PyramidSource, onProgress?: (rows: number) => void): Promise<void> {
    const expected = this.shapes.map(([, , c]) => c);
    if (source.channels.join() !== expected.join())
      throw new Error(
        `${this.dir}: the features have [${source.channels.join(', ')}] channels, the model takes [${expected.join(', ')}]`,
      );
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(
      join(this.dir, 'spec.json'),
      JSON.stringify({ ...this.spec, items: this.spec.items.length }, null, 1),
    );
    const fd = openSync(this.file, existsSync(this.file) ? 'r+' : 'w+');
    const loader = new ItemLoader();
    const size = this.spec.config.inputSize;
    try {
      let done = Math.floor(fstatSync(fd).size / this.rowBytes);
      ftruncateSync(fd, done * this.rowBytes); // a row cut short by a crash
      onProgress?.(done);
      const pending: { pixels: Uint8Array }[] = [];
      const flush = async () => {
        const plane = 3 * size * size;
        const input = new Float32Array(pending.length * plane);
        pending.forEach((p, i) => normalizeInto(p.pixels, size, input, i * plane));
        const features = await source.run({ shape: [pending.length, 3, size, size], data: input });
        const rows = new Float32Array(pending.length * this.rowValues);
        for (let r = 0; r < pending.length; r++) {
          let offset = r * this.rowValues;
          for (const level of features) {
            const per = level.data.length / pending.length;
            rows.set(level.data.subarray(r * per, (r + 1) * per), offset);
            offset += per;
          }
        }
        const half = encodeHalf(rows);
        writeSync(fd, new Uint8Array(half.buffer), 0, half.byteLength, done * this.rowBytes);
        done += pending.length;
        pending.length = 0;
        onProgress?.(done);
      };
      for (let row = done; row < this.rows;) {
        const index = Math.floor(row / this.views);
        const item = this.spec.items[index];
        const { pixels } = await loader.load(item.source, size);
        const recipes = this.recipes(index);
        for (let v = row % this.views; v < this.views; v++, row++) {
          pending.push({ pixels: await applyView(pixels, size, recipes[v]) });
          if (pending.length === BUILD_BATCH) await flush();
        }
      }
      if (pending.length) await flush();
    } finally {
      closeSync(fd);
      await loader.close();
    }
  }

  /** The features of (item, view) pairs as one batch, NHWC float32. */
  read(pairs: { item: number; view: number }[]): HostPyramid {
    if (this.fd < 0) this.fd = openSync(this.file, 'r');
    const n = pairs.length;
    const levels = this.shapes.map(([h, w, c]) => ({ shape: [n, h, w, c], data: new Float32Array(n * h * w * c) }));
    const bits = new Uint16Array(this.rowValues);
    const values = new Float32Array(this.rowValues);
    pairs.forEach(({ item, view }, r) => {
      const row = item * this.views + view;
      const bytes = new Uint8Array(bits.buffer);
      if (readSync(this.fd, bytes, 0, this.rowBytes, row * this.rowBytes) !== this.rowBytes)
        throw new Error(`${this.file}: row ${row} is missing; rebuild the cache`);
      decodeHalf(bits, values);
      let offset = 0;
      levels.forEach((level) => {
        const per = level.data.length / n;
        level.data.set(values.subarray(offset, offset + per), r * per);
        offset += per;
      });
    });
    return levels as HostPyramid;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
