/** `histoseek index`: embed a collection into an index (resumable), or remove items from one. */
import { resolve } from 'node:path';
import type { AddReport } from '../api/library.js';
import { rebuildGraph, upgradeIndex } from '../api/maintenance.js';
import type { Layout } from '../collections/collection.js';
import { isDicomWebUrl } from '../wsi/dicomweb/dicomweb-url.js';
import { openStore } from '../store/open-store.js';
import { DEFAULT_LEASE_SECONDS, UNIT_IMAGES } from '../store/shared-indexing.js';
import { DEFAULT_VECTOR_KIND, VECTOR_KINDS } from '../store/types.js';
import type { PatchSelection } from '../collections/patch-selection.js';
import { JSON_OPTIONS, optionalPositiveInt } from './args.js';
import { COLLECTION_OPTIONS, LAYOUT_USAGE, parseLayout } from './collection-options.js';
import { defineCommand } from './command.js';
import { collectionAddress, DICOMWEB_INDEX_OPTIONS, DICOMWEB_INDEX_USAGE } from './dicomweb-options.js';
import { indexWithProgress } from './index-run.js';
import { INDEX_MODEL_OPTIONS, MODEL_USAGE, parseModelOptions, PRECISION_USAGE } from './model-options.js';
import { batchUsage, parseRunOptions, threadsUsage } from './run-options.js';
import { DB_USAGE, parseVectorKind, requireDb } from './store-options.js';

/** Images per batch unless --batch says otherwise. */
const BATCH = 16;

const USAGE = `histoseek index DIR --db DB [options]
histoseek index dicomweb+https://HOST/PATH --db DB [--study UID] [--series UID] [options]
histoseek index --db DB --remove-slide S | --remove FOLDER
histoseek index --db DB --rebuild-graph | --upgrade [--vectors K]

Embeds every image of a collection and stores it in the index DB (created if missing). Rerunning,
or running after a crash, adds only what is missing; running on another collection appends to the
index. Into a PostgreSQL store, several index processes (on one machine or many) can index the same
collection at once: each claims slides (or runs of ${UNIT_IMAGES} images) in turn, and takes over those of
a worker that died once its lease runs out.

${DB_USAGE}${LAYOUT_USAGE}                       slides: whole-slide images in DIR, cut into 224-px tissue patches at 0.5 µm/px
  --labels CSV         kimia, slides: slide,label[,patient] per line, labelling each item by its slide
                       (default label: the scan, the slide's name); synth writes DIR/slides/labels.csv
  --patches P          slides: which tissue patches of each slide to store (default all):
                       all | mosaic (its representative patches, as search --whole picks them) |
                       mosaic:N (about N per slide; a slide with fewer keeps them all)
${DICOMWEB_INDEX_USAGE}${MODEL_USAGE}${PRECISION_USAGE}${batchUsage(BATCH)}${threadsUsage()}  --vectors K          stored precision of a new index: ${VECTOR_KINDS.join(' | ')} (default ${DEFAULT_VECTOR_KIND});
                       bytes per item at 256 values: 1024 | 512 | 260, plus the search graph's ~400
  --json               print the report as one JSON object on stdout: added, skipped (already
                       indexed), failures (unreadable images and slides), slides_without_patches
                       (slides: each slide that gave no patch, with the reason), items (live
                       items in the index); with --remove-slide or --remove: {"removed": N}
  --remove-slide S     remove the items of slide S
  --remove FOLDER      remove the items indexed from files under FOLDER
  --lease S            PostgreSQL: seconds a worker's claim on a unit lasts without renewal (default ${DEFAULT_LEASE_SECONDS});
                       a dead worker's units pass to another after this
  --rebuild-graph      folder: build the index's search graph anew (a lost or damaged graph.usearch)
  --upgrade            folder: convert an index made by an earlier histoseek (format 1 or 2) to this one, in place
`;

const PATCHES = /^mosaic:(\d+)$/;

function patchesOption(value: string | undefined, layout: Layout): PatchSelection {
  if (value === undefined) return { kind: 'all' };
  if (layout !== 'slides')
    throw new Error(
      `--patches applies to --layout slides (whole-slide images cut into patches), got --layout ${layout}`,
    );
  if (value === 'all' || value === 'mosaic') return { kind: value };
  const target = Number(PATCHES.exec(value)?.[1]);
  if (!Number.isSafeInteger(target) || target < 1)
    throw new Error(
      `--patches must be all, mosaic or mosaic:N with N a positive integer (patches per slide), got '${value}'`,
    );
  return { kind: 'mosaic', target };
}

async function rebuildGraphCommand(db: string): Promise<number> {
  const { items, rows, file } = await rebuildGraph(db);
  process.stderr.write(
    items
      ? `search graph of ${items} items written to ${file}\n`
      : `${db}: ${rows} items, too few for a search graph (exact search is used)\n`,
  );
  return 0;
}

/**
 * Removes a slide's items, or those under a folder. On the store itself rather than the library's
 * `remove`: openIndex loads the index's model, which removing does not need (and an index whose
 * checkpoint has moved could then not be pruned).
 */
async function removeItems(db: string, o: { slide?: string; folder?: string; json: boolean }): Promise<number> {
  const store = await openStore(db, { writable: true });
  try {
    const removed = await store.remove(o.slide !== undefined ? { slide: o.slide } : { under: resolve(o.folder!) });
    process.stderr.write(`removed ${removed} items from ${store.location}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify({ removed })}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

/** `index --json`: the report as one JSON object. */
export function indexJson(o: AddReport) {
  return {
    added: o.added,
    skipped: o.skipped,
    failures: [...o.unreadableSlides, ...o.failures.map((f) => ({ source: f.path, reason: f.message }))],
    slides_without_patches: o.withoutPatches,
    items: o.live,
  };
}

export const indexCommand = defineCommand({
  usage: USAGE,
  options: {
    ...INDEX_MODEL_OPTIONS,
    ...COLLECTION_OPTIONS,
    vectors: { type: 'string' },
    patches: { type: 'string' },
    'remove-slide': { type: 'string' },
    remove: { type: 'string' },
    'rebuild-graph': { type: 'boolean', default: false },
    upgrade: { type: 'boolean', default: false },
    ...JSON_OPTIONS,
    lease: { type: 'string' },
    ...DICOMWEB_INDEX_OPTIONS,
  },
  async run({ values, positionals }) {
    const db = requireDb(values, USAGE);
    const vectors = parseVectorKind(values.vectors);
    if (values.upgrade) {
      const { rows, graphItems, from, kind } = await upgradeIndex(db, { vectors });
      process.stderr.write(
        `${db}: upgraded from format ${from}, ${rows} rows stored as ${kind}${graphItems ? `, search graph of ${graphItems} items` : ''}\n`,
      );
      return 0;
    }
    if (values['rebuild-graph']) return rebuildGraphCommand(db);
    if (values['remove-slide'] !== undefined || values.remove !== undefined) {
      return removeItems(db, { slide: values['remove-slide'], folder: values.remove, json: values.json! });
    }
    if (positionals.length > 1) throw new Error(`give one collection folder to index\n\n${USAGE}`);
    const root = await collectionAddress(positionals[0], values);
    if (root === undefined) throw new Error(`give one collection folder to index\n\n${USAGE}`);
    const layout = parseLayout(values.layout ?? (isDicomWebUrl(root) ? 'slides' : undefined));
    if (isDicomWebUrl(root) && layout !== 'slides')
      throw new Error(`a PACS holds whole-slide images: --layout slides, not --layout ${layout}`);
    const patches = patchesOption(values.patches, layout);

    const report = await indexWithProgress({
      root,
      layout,
      labels: values.labels,
      patches,
      db,
      ...parseModelOptions(values),
      ...parseRunOptions(values, BATCH),
      vectors,
      leaseSeconds: optionalPositiveInt(values.lease, '--lease'),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(indexJson(report))}\n`);
    return 0;
  },
});
