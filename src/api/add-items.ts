/**
 * `add(items)`: images handed over one by one (an array, a generator, a stream's async iterator)
 * with their metadata, stored in chunks as they arrive. Like a collection, a rerun skips what the
 * index holds (an item is known by its path, and its box), so an interrupted run resumes.
 */
import { resolve } from 'node:path';
import type { CollectionItem } from '../collections/collection.js';
import { ItemLoader } from '../collections/load.js';
import type { Embedder } from '../engine/embedder.js';
import type { IndexReport } from '../store/indexer.js';
import type { ItemStore } from '../store/item-store.js';
import { HistoseekError } from '../util/errors.js';
import { formatItemKey } from '../collections/item-key.js';
import { imageInputKind, readImageInput, type ImageInput } from './image-input.js';
import { embedItems, type AddProgress, type EmbedItemsOptions } from './index-collection.js';
import type { Box } from './results.js';

/** One image to add, with what results will show of it. */
export interface AddItem {
  image: ImageInput;
  /**
   * The file the item stands for, as results give it back: by default the image's own path;
   * needed for bytes and pixels. With `box`, the slide the box lies on.
   */
  path?: string;
  /** Default: empty. */
  label?: string;
  slide?: string;
  patient?: string;
  /** A slide patch's level-0 box on `path`. */
  box?: Box;
}

/** Items stored per chunk: each chunk is checked against the index, then embedded batch by batch. */
const CHUNK = 256;

const isNonNegativeInteger = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;

/** The item as the index records it, or BAD_OPTION naming item `i` and what is wrong. */
function collectionItem(item: AddItem, i: number): CollectionItem {
  const bad = (why: string) => new HistoseekError('BAD_OPTION', `add: item ${i}: ${why}`);
  if (typeof item !== 'object' || item === null) throw bad('an item is an object { image, path?, label?, … }');
  const kind = imageInputKind(item.image);
  if (!kind) throw bad('its image is a file path, encoded bytes (Buffer or Uint8Array) or raw pixels');
  const path = item.path ?? (kind === 'path' ? resolve(item.image as string) : undefined);
  if (path === undefined) throw bad('an image given as bytes or pixels needs a path (the name results give back)');
  for (const key of ['path', 'label', 'slide', 'patient'] as const)
    if (item[key] !== undefined && typeof item[key] !== 'string') throw bad(`its ${key} is not a string`);
  const { box } = item;
  if (box !== undefined) {
    const valid =
      isNonNegativeInteger(box?.x) &&
      isNonNegativeInteger(box?.y) &&
      isNonNegativeInteger(box?.width) &&
      isNonNegativeInteger(box?.height) &&
      box.width > 0 &&
      box.height > 0;
    if (!valid) throw bad('its box is { x, y, width, height } in level-0 pixels (integers, positive size)');
  }
  return {
    source: formatItemKey(box ? { kind: 'region', path, box } : { kind: 'file', path }),
    label: item.label ?? '',
    ...(item.slide !== undefined ? { slide: item.slide } : {}),
    ...(item.patient !== undefined ? { patient: item.patient } : {}),
    ...(box ? { x: box.x, y: box.y, width: box.width, height: box.height } : {}),
  };
}

/** The items in chunks of CHUNK, each with its images by source (the first of two items with one source wins). */
async function* chunks(
  items: Iterable<AddItem> | AsyncIterable<AddItem>,
): AsyncGenerator<{ items: CollectionItem[]; images: Map<string, ImageInput>; read: number }> {
  let chunk: CollectionItem[] = [];
  let images = new Map<string, ImageInput>();
  let read = 0;
  let yielded = 0;
  for await (const item of items) {
    const record = collectionItem(item, read++);
    if (images.has(record.source)) continue;
    chunk.push(record);
    images.set(record.source, item.image);
    if (chunk.length === CHUNK) {
      yield { items: chunk, images, read };
      [chunk, images, yielded] = [[], new Map(), read];
    }
  }
  if (read > yielded) yield { items: chunk, images, read };
}

/**
 * Embeds and stores the items the store lacks, chunk by chunk as the iterable yields them; progress
 * counts what has been read so far (`total` grows as items arrive).
 */
export async function addItems(
  store: ItemStore,
  embedder: Embedder,
  items: Iterable<AddItem> | AsyncIterable<AddItem>,
  o: EmbedItemsOptions,
): Promise<IndexReport> {
  if (typeof items !== 'object' || items === null || !(Symbol.iterator in items || Symbol.asyncIterator in items))
    throw new HistoseekError('BAD_OPTION', 'add: give a collection folder, or an iterable of items { image, … }');
  const report: IndexReport = { total: 0, skipped: 0, added: 0, failures: [] };
  const loader = new ItemLoader();
  const before: AddProgress = { done: 0, total: 0, added: 0, failures: 0 };
  try {
    for await (const chunk of chunks(items)) {
      const done = await embedItems(store, embedder, null, chunk.items, {
        ...o,
        load: (source, size) => readImageInput(chunk.images.get(source)!, size, source, loader),
        onProgress: (p) =>
          o.onProgress?.({
            done: before.done + p.done,
            total: before.total + p.total,
            added: before.added + p.added,
            failures: before.failures + p.failures,
          }),
      });
      report.total = chunk.read;
      report.added += done.added;
      report.failures.push(...done.failures);
      before.total += done.total - done.skipped;
      before.done += done.added + done.failures.length;
      before.added += done.added;
      before.failures += done.failures.length;
    }
  } finally {
    await loader.close();
  }
  // Skipped: held by the index already, or a repeat of an earlier item's path and box.
  report.skipped = report.total - report.added - report.failures.length;
  return report;
}
