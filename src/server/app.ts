/** The fastify application: limits and error shapes first, then one module per area of the API, then the web page. */
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerDeps } from './deps.js';
import { installErrorHandlers } from './errors.js';
import { installOpenApi } from './openapi.js';
import { installRateLimit } from './rate-limit.js';
import { indexInfoRoutes } from './routes/index-info.js';
import { itemRoutes } from './routes/items.js';
import { mapRoutes } from './routes/map.js';
import { reportRoutes } from './routes/report.js';
import { searchRoutes } from './routes/search.js';
import { slideRoutes } from './routes/slides.js';
import { webRoutes } from './routes/web.js';

export interface AppOptions {
  /** The built web page (dist/web by default). */
  webRoot: string;
  logger: boolean;
  version: string;
}

/** The page loads only its own bundle; images may be blobs (the query preview). */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

export async function buildApp(deps: ServerDeps, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are at info: warn keeps the log to failures.
    logger: options.logger ? { level: 'warn' } : false,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    // An unknown query parameter (a typo: ?K=5) is a 400 rather than silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });
  installErrorHandlers(app);
  if (deps.limits.rate) installRateLimit(app, deps.limits.rate);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('referrer-policy', 'no-referrer');
  });
  await app.register(fastifyMultipart, { limits: { fileSize: deps.limits.maxUploadBytes, files: 1, fields: 8, parts: 9, headerPairs: 64 } });

  installOpenApi(app, { title: 'histoseek', version: options.version });
  searchRoutes(app, deps);
  itemRoutes(app, deps);
  indexInfoRoutes(app, deps);
  reportRoutes(app, deps);
  mapRoutes(app, deps);
  if (deps.slides) slideRoutes(app, deps.slides);
  await webRoutes(app, options.webRoot);
  return app;
}
