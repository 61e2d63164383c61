/** `histoseek index`: embed a collection into an index (resumable), or remove items from one. */
import { resolve } from 'node:path';
import { isLayout, LAYOUTS, type Layout } from '../data/collections/collection.js';
import { readCollection } from '../data/collections/read.js';
import { OnnxEmbedder } from '../engine/onnx-session.js';
import { indexItems, type IndexReport } from '../index/indexer.js';
import { DEFAULT_VECTOR_KIND, IndexStore, isVectorKind, VECTOR_KINDS, type VectorKind } from '../index/store.js';
import { upgradeIndex } from '../index/upgrade.js';
import { MODEL_OPTIONS, optionalPositiveInt, parse, positiveInt, RUN_OPTIONS } from './args.js';
import type { Command } from './command.js';
import { MODEL_USAGE, modelIdentity, resolveModel, type ModelOptions } from './model-options.js';
import { Progress } from './progress.js';
import { describeSlides, describeSlidesWithoutPatches, folderBytes, formatBytes } from './slide-summary.js';
import type { PatchSelection } from '../wsi/patch-selection.js';
import type { SlideWithoutPatches } from '../wsi/no-patches.js';

const USAGE = `histoseek index DIR --db DB [options]
histoseek index --db DB --remove-slide S | --remove FOLDER
histoseek index --db DB --rebuild-graph | --upgrade [--vectors K]

Embeds every image of a collection and stores it in the index DB (a folder). Rerunning, or running
after a crash, adds only what is missing; running on another collection appends to the index.

  --db DB              the index folder (created if missing)
  --layout L           ${LAYOUTS.join(' | ')} (default: folder)
                       slides: whole-slide images in DIR, cut into 224-px tissue patches at 0.5 µm/px
  --labels CSV         kimia, slides: slide,label[,patient] per line, labelling each item by its slide
                       (default label: the scan, the slide's name); synth writes DIR/slides/labels.csv
  --patches P          slides: which tissue patches of each slide to store (default all):
                       all | mosaic (its representative patches, as search --whole picks them) |
                       mosaic:N (about N per slide; a slide with fewer keeps them all)
${MODEL_USAGE}  --batch N            images per batch (default 16)
  --threads N          inference threads (default 2)
  --vectors K          stored precision of a new index: ${VECTOR_KINDS.join(' | ')} (default ${DEFAULT_VECTOR_KIND});
                       bytes per item at 256 values: 1024 | 512 | 260, plus the search graph's ~400
  --json               print the report as one JSON object on stdout: added, skipped (already
                       indexed), failures (unreadable images and slides), slides_without_patches
                       (slides: each slide that gave no patch, with the reason), items (live
                       items in the index); with --remove-slide or --remove: {"removed": N}
  --remove-slide S     remove the items of slide S
  --remove FOLDER      remove the items indexed from files under FOLDER
  --rebuild-graph      build the index's search graph anew (a lost or damaged graph.usearch)
  --upgrade            convert an index made by an earlier histoseek (format 1) to this one, in place
`;

function layoutOption(value: string | undefined): Layout {
  const layout = value ?? 'folder';
  if (!isLayout(layout)) throw new Error(`--layout must be one of ${LAYOUTS.join(', ')}, got '${layout}'`);
  return layout;
}

function vectorsOption(value: string | undefined): VectorKind | undefined {
  if (value !== undefined && !isVectorKind(value)) throw new Error(`--vectors must be one of ${VECTOR_KINDS.join(', ')}, got '${value}'`);
  return value;
}

const PATCHES = /^mosaic:(\d+)$/;

function patchesOption(value: string | undefined, layout: Layout): PatchSelection {
  if (value === undefined) return { kind: 'all' };
  if (layout !== 'slides') throw new Error(`--patches applies to --layout slides (whole-slide images cut into patches), got --layout ${layout}`);
  if (value === 'all' || value === 'mosaic') return { kind: value };
  const target = Number(PATCHES.exec(value)?.[1]);
  if (!Number.isSafeInteger(target) || target < 1) throw new Error(`--patches must be all, mosaic or mosaic:N with N a positive integer (patches per slide), got '${value}'`);
  return { kind: 'mosaic', target };
}

/** Work on an index that embeds nothing: removals, the graph, the format. */
function maintain(db: string, o: { slide?: string; folder?: string; rebuildGraph?: boolean; json: boolean }): number {
  const store = IndexStore.open(db, { writable: true });
  try {
    if (o.rebuildGraph) {
      const { items } = store.rebuildGraph();
      process.stderr.write(items ? `search graph of ${items} items written to ${store.path('graph.usearch')}\n` : `${db}: ${store.rows} items, too few for a search graph (exact search is used)\n`);
      return 0;
    }
    const removed = o.slide !== undefined ? store.remove({ slide: o.slide }) : store.remove({ under: resolve(o.folder!) });
    process.stderr.write(`removed ${removed} items from ${db}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify({ removed })}\n`);
    return 0;
  } finally {
    store.close();
  }
}

export interface IndexRequest extends ModelOptions {
  root: string;
  layout: Layout;
  labels?: string;
  /** slides: which tissue patches of each slide to store (default: all). */
  patches?: PatchSelection;
  db: string;
  batch: number;
  threads: number;
  /** Stored precision, for a new index. */
  vectors?: VectorKind;
}

/** What an indexing run did, beyond the indexer's counts: slides that could not be read or gave no patch, and the index's size after. */
export interface IndexOutcome extends IndexReport {
  unreadableSlides: { source: string; reason: string }[];
  withoutPatches: SlideWithoutPatches[];
  /** Live items in the index after the run. */
  live: number;
}

/** `index --json`: the outcome as one JSON object. */
export function indexJson(o: IndexOutcome) {
  return {
    added: o.added,
    skipped: o.skipped,
    failures: [...o.unreadableSlides, ...o.failures.map((f) => ({ source: f.path, reason: f.message }))],
    slides_without_patches: o.withoutPatches,
    items: o.live,
  };
}

/** Indexes a collection (resuming where a previous run stopped), printing progress and a summary on stderr. */
export async function runIndex(o: IndexRequest): Promise<IndexOutcome> {
  const started = performance.now();
  const planning = new Progress('finding tissue', 0, 'slides');
  const collection = await readCollection(o.root, o.layout, 'index', {
    labels: o.labels,
    patches: o.patches,
    onSlide: (done, total) => {
      planning.total = total;
      planning.advance(1);
      if (done === total) planning.finish();
    },
  });
  for (const s of collection.skipped) process.stderr.write(`skipped ${s.reason}\n`);
  const model = await resolveModel(o);
  const store = IndexStore.openOrCreate(o.db, modelIdentity(model, o.weights && resolve(o.weights)), { vectors: o.vectors });
  let report: IndexReport;
  let live: number;
  let slidesIndexed = 0;
  try {
    const embedder = await OnnxEmbedder.create(model, { threads: o.threads });
    const stored = store.storedSources();
    const progress = new Progress('indexing', collection.items.filter((i) => !stored.has(i.source)).length, 'images');
    report = await indexItems(store, embedder, collection.items, {
      batchSize: o.batch,
      extra: { collection: collection.root },
      onProgress: (n) => progress.advance(n),
      onFailure: (f) => process.stderr.write(`\nskipped ${f.message}\n`),
    });
    progress.finish();
    await embedder.release();
    live = store.activeRows().reduce((a, b) => a + b, 0);
    const slides = o.layout === 'slides' ? `; ${describeSlides(collection.items, (performance.now() - started) / 1000)}${describeSlidesWithoutPatches(collection.withoutPatches)}` : '';
    process.stderr.write(`${o.db}: ${report.added} added, ${report.skipped} already indexed, ${report.failures.length} unreadable (skipped); ${live} items in the index (${store.vectorKind} vectors)${slides}\n`);
    if (o.layout === 'slides') slidesIndexed = new Set(store.allItems().map((i) => i.slide)).size;
  } finally {
    store.close();
  }
  // Measured once the store is closed, when SQLite has folded its write-ahead log into the database.
  if (slidesIndexed) {
    const bytes = await folderBytes(o.db);
    process.stderr.write(`${o.db}: ${formatBytes(bytes)} on disk, ${formatBytes(bytes / slidesIndexed)} per slide (${slidesIndexed} slides in the index)\n`);
  }
  return { ...report, unreadableSlides: collection.skipped, withoutPatches: collection.withoutPatches, live };
}

export const indexCommand: Command = {
  name: 'index',
  summary: 'embed a collection into an index (resumable); remove slides or folders from it',
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...MODEL_OPTIONS,
      ...RUN_OPTIONS,
      db: { type: 'string' },
      layout: { type: 'string' },
      labels: { type: 'string' },
      vectors: { type: 'string' },
      patches: { type: 'string' },
      'remove-slide': { type: 'string' },
      remove: { type: 'string' },
      'rebuild-graph': { type: 'boolean', default: false },
      upgrade: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    }, USAGE);
    if (!values.db) throw new Error(`--db is required\n\n${USAGE}`);
    const vectors = vectorsOption(values.vectors);
    if (values.upgrade) {
      const { rows, graphItems } = upgradeIndex(values.db, vectors ?? DEFAULT_VECTOR_KIND);
      process.stderr.write(`${values.db}: upgraded, ${rows} rows stored as ${vectors ?? DEFAULT_VECTOR_KIND}${graphItems ? `, search graph of ${graphItems} items` : ''}\n`);
      return 0;
    }
    if (values['remove-slide'] !== undefined || values.remove !== undefined || values['rebuild-graph']) {
      return maintain(values.db, { slide: values['remove-slide'], folder: values.remove, rebuildGraph: values['rebuild-graph'], json: values.json! });
    }
    if (positionals.length !== 1) throw new Error(`give one collection folder to index\n\n${USAGE}`);
    const layout = layoutOption(values.layout);
    const patches = patchesOption(values.patches, layout);

    const outcome = await runIndex({
      root: positionals[0],
      layout,
      labels: values.labels,
      patches,
      db: values.db,
      weights: values.weights,
      backbone: values.backbone,
      size: optionalPositiveInt(values.size, '--size'),
      batch: positiveInt(values.batch, 16, '--batch'),
      threads: positiveInt(values.threads, 2, '--threads'),
      vectors,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(indexJson(outcome))}\n`);
    return 0;
  },
};

