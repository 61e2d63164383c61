/** Indexed items by id (their row): metadata and thumbnails. No route takes a path: sources are looked up by row. */
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { itemJson } from '../items.js';
import { itemIdParams, itemSchema } from '../../api/schemas.js';

export function itemRoutes(app: FastifyInstance, { index, thumbnails }: ServerDeps): void {
  const lookup = async (id: number) => {
    const item = await index.item(id);
    if (!item) throw new HttpError(404, `no item ${id} in the index`);
    return item;
  };

  app.get<{ Params: Static<typeof itemIdParams> }>(
    '/api/items/:id',
    {
      schema: { params: itemIdParams, response: { 200: itemSchema } },
      config: {
        access: 'search',
        auditIds: { item: ['id'] },
        doc: { summary: "an item's metadata", tags: ['items'], errors: [400, 404] },
      },
    },
    async (request) => itemJson(await lookup(request.params.id)),
  );

  app.get<{ Params: Static<typeof itemIdParams> }>(
    '/api/items/:id/thumbnail',
    {
      schema: { params: itemIdParams },
      config: {
        access: 'search',
        auditIds: { item: ['id'] },
        doc: {
          summary: "a JPEG of the item's image, at most 256 px a side",
          tags: ['items'],
          produces: 'image/jpeg',
          errors: [400, 404],
        },
      },
    },
    async (request, reply) => {
      const jpeg = await thumbnails.get(await lookup(request.params.id));
      // A row always holds the same item: its thumbnail can be cached, but only by the browser (it may have needed a token).
      return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(jpeg);
    },
  );
}
