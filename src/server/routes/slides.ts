/** The slide viewer's data: the slides on offer and their Deep Zoom tiles. Registered only when the server has slides. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deepZoomSchema, slideListSchema } from '../../api/schemas.js';
import type { SlideLibrary } from '../slides.js';

const slideId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$',
  description: "the slide's file name without extension",
});
const slideParams = Type.Object({ id: slideId });
const tileParams = Type.Object({
  id: slideId,
  level: Type.Integer({ minimum: 0, maximum: 40 }),
  tile: Type.String({ pattern: '^\\d{1,6}_\\d{1,6}\\.jpeg$', description: 'COL_ROW.jpeg' }),
});

export function slideRoutes(app: FastifyInstance, slides: SlideLibrary): void {
  app.get(
    '/api/slides',
    {
      schema: { response: { 200: slideListSchema } },
      config: { doc: { summary: 'the whole-slide images the viewer can show', tags: ['slides'], errors: [] } },
    },
    async () => ({ slides: slides.ids() }),
  );

  app.get<{ Params: Static<typeof slideParams> }>(
    '/api/slides/:id',
    {
      schema: { params: slideParams, response: { 200: deepZoomSchema } },
      config: {
        auditIds: { slide: ['id'] },
        doc: {
          summary: "a slide's size and Deep Zoom tiling (for OpenSeadragon)",
          tags: ['slides'],
          errors: [400, 404],
        },
      },
    },
    async (request) => slides.info(request.params.id),
  );

  app.get<{ Params: Static<typeof tileParams> }>(
    '/api/slides/:id/tiles/:level/:tile',
    {
      schema: { params: tileParams },
      config: {
        auditIds: { slide: ['id'], region: ['level', 'tile'] },
        doc: { summary: 'one Deep Zoom tile', tags: ['slides'], produces: 'image/jpeg', errors: [400, 404] },
      },
    },
    async (request, reply) => {
      const [col, row] = request.params.tile.slice(0, -'.jpeg'.length).split('_').map(Number);
      const jpeg = await slides.tile(request.params.id, request.params.level, col, row);
      // private: a shared cache must not keep a tile that needed a token.
      return reply.type('image/jpeg').header('cache-control', 'private, max-age=3600').send(jpeg);
    },
  );
}
