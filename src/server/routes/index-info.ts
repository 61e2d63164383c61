/** GET /api/index: what the server searches — sizes, labels, slides, the model — and which optional parts it offers (to this token). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
// One collator for all requests: localeCompare with options builds one per call, which dominated the answer for thousands of slides.
import { naturalCompare } from '../../util/natural-compare.js';
import { mayUse } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { indexInfoSchema, type IndexInfoJson } from '../../api/schemas.js';

export function indexInfoRoutes(app: FastifyInstance, { index, reportDir, slides }: ServerDeps): void {
  app.get(
    '/api/index',
    {
      schema: { response: { 200: indexInfoSchema } },
      config: {
        access: 'search',
        doc: { summary: 'the index: item count, labels, slides and model', tags: ['index'], errors: [] },
      },
    },
    async (request): Promise<IndexInfoJson> => {
      const info = await index.info();
      // The report, the slides and the map need scope 'all': a 'search' token is not offered them.
      const full = mayUse(request, 'all');
      const labels = Object.entries(info.labels)
        .map(([label, count]) => ({ label, count }))
        .sort((a, b) => naturalCompare(a.label, b.label));
      const slideCounts = Object.entries(info.slides)
        .map(([slide, count]) => ({ slide, count }))
        .sort((a, b) => naturalCompare(a.slide, b.slide));
      const m = info.model;
      return {
        items: info.items,
        rows: info.rows,
        generation: info.generation,
        search: { mode: info.search, vectors: info.vectors },
        labels,
        slides: slideCounts,
        model: { id: m.id, hash: m.hash, dim: m.dim, input_size: m.inputSize },
        features: {
          report: full && existsSync(join(reportDir, 'metrics.json')),
          slides: full && slides !== null && slides.ids().length > 0,
          map: full,
        },
      };
    },
  );
}
