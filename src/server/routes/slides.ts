/** The slide viewer's data: the slides on offer and their Deep Zoom tiles. Registered only when the server has slides. */
import type { FastifyInstance } from 'fastify';
import type { SlideLibrary } from '../slides.js';

const deepZoomSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    mpp: { type: ['object', 'null'], properties: { x: { type: 'number' }, y: { type: 'number' } }, description: 'microns per level-0 pixel' },
    tileSize: { type: 'integer' },
    overlap: { type: 'integer' },
    format: { type: 'string' },
    minLevel: { type: 'integer' },
    maxLevel: { type: 'integer' },
    tiles: { type: 'string', description: 'tile URLs are `${tiles}${level}/${col}_${row}.jpeg`' },
  },
  required: ['id', 'width', 'height', 'mpp', 'tileSize', 'overlap', 'format', 'minLevel', 'maxLevel', 'tiles'],
} as const;

const slideId = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$', description: "the slide's file name without extension" } as const;

export function slideRoutes(app: FastifyInstance, slides: SlideLibrary): void {
  app.get(
    '/api/slides',
    {
      schema: { response: { 200: { type: 'object', properties: { slides: { type: 'array', items: { type: 'string' } } }, required: ['slides'] } } },
      config: { doc: { summary: 'the whole-slide images the viewer can show', tags: ['slides'], errors: [] } },
    },
    async () => ({ slides: slides.ids() }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/slides/:id',
    {
      schema: { params: { type: 'object', properties: { id: slideId }, required: ['id'] }, response: { 200: deepZoomSchema } },
      config: { auditIds: { slide: ['id'] }, doc: { summary: "a slide's size and Deep Zoom tiling (for OpenSeadragon)", tags: ['slides'], errors: [400, 404] } },
    },
    async (request) => slides.info(request.params.id),
  );

  app.get<{ Params: { id: string; level: number; tile: string } }>(
    '/api/slides/:id/tiles/:level/:tile',
    {
      schema: {
        params: {
          type: 'object',
          properties: { id: slideId, level: { type: 'integer', minimum: 0, maximum: 40 }, tile: { type: 'string', pattern: '^\\d{1,6}_\\d{1,6}\\.jpeg$', description: 'COL_ROW.jpeg' } },
          required: ['id', 'level', 'tile'],
        },
      },
      config: { auditIds: { slide: ['id'], region: ['level', 'tile'] }, doc: { summary: 'one Deep Zoom tile', tags: ['slides'], produces: 'image/jpeg', errors: [400, 404] } },
    },
    async (request, reply) => {
      const [col, row] = request.params.tile.slice(0, -'.jpeg'.length).split('_').map(Number);
      const jpeg = await slides.tile(request.params.id, request.params.level, col, row);
            // private: a shared cache must not keep a tile that needed a token.
      return reply.type('image/jpeg').header('cache-control', 'private, max-age=3600').send(jpeg);
    },
  );
}
