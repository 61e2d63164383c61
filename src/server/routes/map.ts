/** The embedding map: where each (sampled) live item lies in UMAP or PCA coordinates of its descriptor. */
import type { FastifyInstance } from 'fastify';
import type { ProjectionMethod } from '../../map/projection.js';
import type { ServerDeps } from '../deps.js';
import { MAP_SAMPLE } from '../embedding-map.js';
import { HttpError } from '../errors.js';

const mapSchema = {
  type: 'object',
  properties: {
    method: { type: 'string' },
    items: { type: 'integer', description: 'live items in the index' },
    sampled: { type: 'integer', description: `items mapped (at most ${MAP_SAMPLE}, evenly spaced)` },
    points: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'integer' }, x: { type: 'number' }, y: { type: 'number' }, label: { type: 'string' } }, required: ['id', 'x', 'y', 'label'] },
    },
  },
  required: ['method', 'items', 'sampled', 'points'],
} as const;

export function mapRoutes(app: FastifyInstance, { index }: ServerDeps): void {
  app.get<{ Querystring: { method: ProjectionMethod } }>(
    '/api/map',
    {
      schema: {
        querystring: { type: 'object', properties: { method: { type: 'string', enum: ['umap', 'pca'], default: 'umap' } }, additionalProperties: false },
        response: { 200: mapSchema },
      },
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
        if (request.query.method === 'umap' && live < 3) throw new HttpError(422, `UMAP needs at least 3 items, the index has ${live}; use method=pca`);
        return view.map(request.query.method);
      }),
  );
}
