/** `histoseek search`: the most similar indexed items to an image. */
import { resolve } from 'node:path';
import { ItemLoader } from '../data/collections/load.js';
import { embedAll } from '../engine/embed-images.js';
import { normaliseRows } from '../index/indexer.js';
import type { Exclusion } from '../index/searcher.js';
import { MODEL_OPTIONS, optionalPositiveInt, parse, positiveInt, RUN_OPTIONS } from './args.js';
import type { Command } from './command.js';
import { openIndex } from './index-model.js';
import { MODEL_USAGE } from './model-options.js';

const USAGE = `histoseek search IMAGE ... --db DB [options]

Ranks the indexed items by similarity to each IMAGE (squared L2 between unit descriptors,
2 − 2·cosine: 0 is identical).

  --db DB              the index folder
  --ann hnsw           search the index's HNSW graph (approximate) instead of scanning every item
  -k N                 results per query (default 10)
  --exclude-slide S    leave out the items of slide S
  --json               one JSON object per query: { "query", "results": [{ "rank", "distance", "path", "label", "slide" }] }
${MODEL_USAGE}  --threads N          inference threads (default 2)
`;

export interface SearchResult {
  rank: number;
  distance: number;
  path: string;
  label: string;
  slide: string | null;
}

function printTable(query: string, results: SearchResult[]): void {
  const lines = [`query: ${query}`, ' rank  distance  label            slide        path'];
  for (const r of results) lines.push(`${String(r.rank).padStart(5)}  ${r.distance.toFixed(4).padStart(8)}  ${r.label.padEnd(15)}  ${(r.slide ?? '-').padEnd(11)}  ${r.path}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const searchCommand: Command = {
  name: 'search',
  summary: 'find the indexed tissue most similar to an image',
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...MODEL_OPTIONS,
      ...RUN_OPTIONS,
      db: { type: 'string' },
      ann: { type: 'string' },
      k: { type: 'string', short: 'k' },
      'exclude-slide': { type: 'string' },
      json: { type: 'boolean', default: false },
    }, USAGE);
    if (!values.db) throw new Error(`--db is required\n\n${USAGE}`);
    if (positionals.length === 0) throw new Error(`give an image to search with\n\n${USAGE}`);
    const k = positiveInt(values.k, 10, '-k');
    const index = await openIndex(values.db, { ...values, size: optionalPositiveInt(values.size, '--size'), threads: positiveInt(values.threads, 2, '--threads') });
    const loader = new ItemLoader();
    try {
      const sources = positionals.map((p) => resolve(p));
      const embedded = await embedAll(index.embedder, sources, positiveInt(values.batch, 8, '--batch'), (s, size) => loader.load(s, size));
      if (embedded.failures.length) throw new Error(embedded.failures.map((f) => f.message).join('\n'));
      const slide = values['exclude-slide'];
      const excludedRows = slide === undefined ? null : new Set(index.store.allItems().filter((i) => i.slide === slide).map((i) => i.row));
      const exclude: Exclusion | undefined = excludedRows ? { groupOf: () => slide!, excludes: (_g, row) => excludedRows.has(row) } : undefined;
      const hits = await index.searcher.search(normaliseRows(embedded.raw, index.store.model.dim), sources.length, { k, exclude });
      hits.forEach((ranked, q) => {
        const results = index.searcher.items(ranked).map((item, i) => ({ rank: i + 1, distance: item.distance, path: item.source, label: item.label, slide: item.slide ?? null }));
        if (values.json) process.stdout.write(`${JSON.stringify({ query: sources[q], results })}\n`);
        else printTable(sources[q], results);
      });
      return 0;
    } finally {
      await loader.close();
      await index.close();
    }
  },
};
