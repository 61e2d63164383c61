/**
 * The web page: the files Vite built into dist/web, each registered as its own route at start-up
 * (@fastify/static with wildcard off), so no request path ever reaches the file system. They are
 * public — the page holds no patient data and must load to ask for a token.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Both src/server/routes/ (tsx) and dist/server/routes/ are three levels below the package root. */
export const WEB_ROOT = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

export async function webRoutes(app: FastifyInstance, root: string): Promise<void> {
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', { config: { access: 'public' } }, async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain')
        .send(
          `The web page is not built (no ${join(root, 'index.html')}): run 'npm run build:web'. The JSON API is at /api (see /openapi.json).\n`,
        ),
    );
    return;
  }
  await app.register(async (web) => {
    // Scoped to this plugin: marks the routes @fastify/static adds, and only those.
    web.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'public' };
    });
    await web.register(fastifyStatic, { root, wildcard: false, index: 'index.html', cacheControl: true, maxAge: '1h' });
  });
}
