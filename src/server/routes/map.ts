/** The embedding map: where each (sampled) live item lies in UMAP or PCA coordinates of its descriptor. */
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { MAP_SAMPLE, mapQuerystring, mapSchema } from '../../api/schemas.js';

export function mapRoutes(app: FastifyInstance, { index }: ServerDeps): void {
  // The method's default is filled in by validation.
  app.get<{ Querystring: Required<Static<typeof mapQuerystring>> }>(
    '/api/map',
    {
      schema: { querystring: mapQuerystring, response: { 200: mapSchema } },
      config: {
        doc: {
          summary: 'the embedding map (UMAP or PCA of the descriptors)',
          description: `Computed once per index state and method, off the request thread; the first UMAP of ${MAP_SAMPLE} items takes seconds.`,
          tags: ['map'],
          errors: [400, 422],
        },
      },
    },
    async (request) =>
      index.use(async (view) => {
        const live = [...(await view.labelCounts()).values()].reduce((a, b) => a + b, 0);
        if (request.query.method === 'umap' && live < 3)
          throw new HttpError(422, `UMAP needs at least 3 items, the index has ${live}; use method=pca`);
        return view.map(request.query.method);
      }),
  );
}
