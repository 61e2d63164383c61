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
    async (request) => {
      const { items } = await index.info();
      if (request.query.method === 'umap' && items < 3)
        throw new HttpError(422, `UMAP needs at least 3 items, the index has ${items}; use method=pca`);
      return index.map(request.query.method);
    },
  );
}
