/** `histoseek search`: the most similar indexed items to an image. */
import { resolve } from 'node:path';
import { openIndex, type OpenIndexOptions, type SearchResult } from '../api/library.js';
import { JSON_OPTIONS } from './args.js';
import { defineCommand } from './command.js';
import {
  DEFAULT_K,
  K_OPTIONS,
  parseK,
  parseSearchSettings,
  SEARCH_MODE_OPTIONS,
  SEARCH_MODE_USAGE,
} from './search-options.js';
import { formatItemKey } from '../collections/item-key.js';
import { resolveSlidePath } from '../wsi/slide-sources.js';
import type { Box } from '../wsi/tiler.js';
import { INDEX_MODEL_OPTIONS, MODEL_USAGE, parseModelOptions, PRECISION_USAGE } from './model-options.js';
import { batchUsage, parseRunOptions, threadsUsage } from './run-options.js';
import { DB_USAGE, requireDb } from './store-options.js';
import { STDERR_LOGGER } from '../util/logger.js';
import { DICOMWEB_AUTH_USAGE, DICOMWEB_OPTIONS, useDicomWebFlags } from './dicomweb-options.js';

/** Query images embedded per batch unless --batch says otherwise. */
const BATCH = 8;

const USAGE = `histoseek search IMAGE ... --db DB [options]
histoseek search --slide SLIDE --region x,y,w,h --db DB [options]
histoseek search --slide SLIDE --whole --db DB [options]

Ranks the indexed items by similarity to each IMAGE (squared L2 between unit descriptors,
2 − 2·cosine: 0 is identical); or to a region of a slide (level-0 pixels, cut into patches like an
indexed slide; each item at its best distance to any of them); or ranks the indexed slides by
similarity to a whole slide (its mosaic of representative patches; median-of-minimum distance and
a majority vote). Region and whole-slide searches leave out the query's own slide unless
--include-own-slide is given.

${DB_USAGE}${SEARCH_MODE_USAGE}  -k N                 results per query (default ${DEFAULT_K})
  --exclude-slide S    leave out the items of slide S
  --json               one JSON object per query: { "query", "results": [{ "rank", "distance", "path", "label", "slide" }] }
  --slide SLIDE        a whole-slide image to query with (with --region or --whole)
  --region x,y,w,h     the region of SLIDE, level-0 pixels
  --whole              the whole SLIDE: results are slides { "rank", "slide", "label", "median_min_distance", "votes" }
  --include-own-slide  let region and whole-slide searches return the query slide's own items
                       (SLIDE may be a DICOM folder, or a PACS series dicomweb+https://…/studies/S/series/SE)
${DICOMWEB_AUTH_USAGE}${MODEL_USAGE}${PRECISION_USAGE}${batchUsage(BATCH)}${threadsUsage()}`;

/** A result as `search --json` documents it: a slide patch's path names its region (`<slide>#region=x,y,w,h`). */
interface CliResult {
  rank: number;
  distance: number;
  path: string;
  label: string;
  slide: string | null;
}

function cliResult(r: SearchResult): CliResult {
  return {
    rank: r.rank,
    distance: r.distance,
    path: formatItemKey(r.box ? { kind: 'region', path: r.path, box: r.box } : { kind: 'file', path: r.path }),
    label: r.label,
    slide: r.slide,
  };
}

function printTable(query: string, results: CliResult[]): void {
  const lines = [`query: ${query}`, ' rank  distance  label            slide        path'];
  for (const r of results)
    lines.push(
      `${String(r.rank).padStart(5)}  ${r.distance.toFixed(4).padStart(8)}  ${r.label.padEnd(15)}  ${(r.slide ?? '-').padEnd(11)}  ${r.path}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const searchCommand = defineCommand({
  usage: USAGE,
  options: {
    ...INDEX_MODEL_OPTIONS,
    ...SEARCH_MODE_OPTIONS,
    ...K_OPTIONS,
    'exclude-slide': { type: 'string' },
    ...JSON_OPTIONS,
    slide: { type: 'string' },
    region: { type: 'string' },
    whole: { type: 'boolean', default: false },
    'include-own-slide': { type: 'boolean', default: false },
    ...DICOMWEB_OPTIONS,
  },
  async run({ values, positionals }) {
    const db = requireDb(values, USAGE);
    const k = parseK(values);
    const { batch, threads } = parseRunOptions(values, BATCH);
    // The model cache's notes on stderr, as the engine printed them before the library took a logger.
    const open: OpenIndexOptions = {
      ...parseSearchSettings(values),
      ...parseModelOptions(values),
      threads,
      logger: STDERR_LOGGER,
    };
    if (values.slide !== undefined) {
      await useDicomWebFlags(values.slide, values);
      return searchSlide(db, values.slide, {
        ...open,
        k,
        region: values.region,
        whole: values.whole!,
        includeOwnSlide: values['include-own-slide']!,
        json: values.json!,
      });
    }
    if (positionals.length === 0) throw new Error(`give an image to search with\n\n${USAGE}`);
    await using index = await openIndex(db, open);
    const sources = positionals.map((p) => resolve(p));
    const answers = await index.searchBatch(sources, { k, excludeSlide: values['exclude-slide'], batch });
    answers
      .map((ranked) => ranked.map(cliResult))
      .forEach((results, q) => {
        if (values.json) process.stdout.write(`${JSON.stringify({ query: sources[q], results })}\n`);
        else printTable(sources[q], results);
      });
    return 0;
  },
});

function parseRegion(text: string): Box {
  const parts = text.split(',').map(Number);
  if (parts.length !== 4 || parts.some((v) => !Number.isInteger(v)) || parts[2] <= 0 || parts[3] <= 0) {
    throw new Error(`--region must be x,y,w,h in level-0 pixels (integers, positive size), got '${text}'`);
  }
  return { x: parts[0], y: parts[1], width: parts[2], height: parts[3] };
}

interface SlideQuery extends OpenIndexOptions {
  region?: string;
  whole: boolean;
  includeOwnSlide: boolean;
  json: boolean;
  k: number;
}

/** Region or whole-slide search. */
async function searchSlide(db: string, slidePath: string, o: SlideQuery): Promise<number> {
  if (!o.whole && o.region === undefined) throw new Error(`with --slide, give --region x,y,w,h or --whole\n\n${USAGE}`);
  const path = resolveSlidePath(slidePath);
  const box = o.whole ? null : parseRegion(o.region!);
  await using index = await openIndex(db, o);
  const options = { k: o.k, includeOwnSlide: o.includeOwnSlide };
  if (!box) {
    const found = await index.searchSlide(path, options);
    const results = found.results.map((m) => ({
      rank: m.rank,
      slide: m.slide,
      label: m.label,
      median_min_distance: m.medianMinDistance,
      votes: m.votes,
    }));
    if (o.json) process.stdout.write(`${JSON.stringify({ query: path, mosaic: found.mosaic, results })}\n`);
    else {
      process.stdout.write(
        `query: ${path} (mosaic of ${found.mosaic} of its ${found.patches} tissue patches)\n rank  median-min  votes  label            slide\n`,
      );
      for (const r of results)
        process.stdout.write(
          `${String(r.rank).padStart(5)}  ${r.median_min_distance.toFixed(4).padStart(10)}  ${String(r.votes).padStart(5)}  ${r.label.padEnd(15)}  ${r.slide}\n`,
        );
    }
    return 0;
  }
  const found = await index.searchRegion(path, box, options);
  // The documented region results: a patch's level-0 box beside its path.
  const results = found.results.map((r) => ({ ...cliResult(r), ...(r.box ?? {}) }));
  const query = formatItemKey({ kind: 'region', path, box });
  if (o.json) process.stdout.write(`${JSON.stringify({ query, patches: found.patches, results })}\n`);
  else printTable(query, results);
  return 0;
}
