/** `histoseek map`: the index's descriptors projected to 2-D (UMAP or PCA), coloured by label. */
import { writeFile } from 'node:fs/promises';
import { project, silhouetteScore, DEFAULT_UMAP_SAMPLE } from '../map/projection.js';
import { renderMapPng } from '../map/render.js';
import { openStore } from '../store/open-store.js';
import { positiveInt } from './args.js';
import { defineCommand } from './command.js';
import { DB_OPTIONS } from './store-options.js';

const USAGE = `histoseek map --db DB --out map.png [--method umap|pca] [--seed N] [--sample N]

Projects the indexed descriptors to the plane and draws them coloured by label, with a legend.
Deterministic for a seed. UMAP maps a random sample of at most ${DEFAULT_UMAP_SAMPLE} items by default
(--sample to change it); PCA maps every item.
`;

export const mapCommand = defineCommand({
  usage: USAGE,
  options: {
    ...DB_OPTIONS,
    out: { type: 'string' },
    method: { type: 'string', default: 'umap' },
    seed: { type: 'string' },
    sample: { type: 'string' },
  },
  async run({ values }) {
    if (!values.db || !values.out) throw new Error(`--db and --out are required\n\n${USAGE}`);
    if (values.method !== 'umap' && values.method !== 'pca')
      throw new Error(`--method must be umap or pca, got '${values.method}'`);
    const store = await openStore(values.db);
    try {
      const items = await store.allItems();
      const dim = store.model.dim;
      const vectors = await store.vectors(items.map((item) => item.row));
      const seed = values.seed === undefined ? 0 : Number(values.seed);
      const projection = project(vectors, items.length, dim, {
        method: values.method,
        seed,
        sample: values.sample === undefined ? undefined : positiveInt(values.sample, 0, '--sample'),
      });
      const labels = Array.from(projection.sampledIndices, (i) => items[i].label);
      const subtitle = `${values.method.toUpperCase()} of ${labels.length} of ${items.length} items, seed ${seed} — ${store.model.id}`;
      await writeFile(
        values.out,
        await renderMapPng(projection.coords, labels, { title: `Embedding map — ${store.location}`, subtitle }),
      );
      process.stderr.write(
        `${values.out}: ${labels.length} points, silhouette by label ${silhouetteScore(projection.coords, labels).toFixed(3)}\n`,
      );
      return 0;
    } finally {
      await store.close();
    }
  },
});
