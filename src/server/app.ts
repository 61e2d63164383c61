/**
 * The fastify application: error shapes, headers, the audit log, CORS, limits and access control
 * first (each request meets them in that order), then one module per area of the API, then the web page.
 */
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AccessTokens } from './access-tokens.js';
import { installAuditLog } from './audit-log.js';
import { installAuth } from './auth.js';
import { installCors } from './cors.js';
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
import { installSecurityHeaders } from './security-headers.js';

export interface AppOptions {
  /** The built web page (dist/web by default). */
  webRoot: string;
  /** The server's log (the library's notes go to it too), or null for none. */
  logger: FastifyBaseLogger | null;
  version: string;
  /** Who may use the API; null: everyone who can reach the server (loopback, or --insecure-no-auth). */
  tokens: AccessTokens | null;
  /** The audit log file, or null for none. */
  auditLog: string | null;
  /** PEM certificate and key: serve HTTPS. */
  https: { cert: Buffer; key: Buffer } | null;
  /** The one origin allowed cross-origin requests, or null for none. */
  corsOrigin: string | null;
}

export async function buildApp(deps: ServerDeps, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 256 },
    // An unknown query parameter (a typo: ?K=5) is a 400 rather than silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    ...(options.https ? { https: options.https } : {}),
  });
  installErrorHandlers(app);
  await installSecurityHeaders(app, { https: options.https !== null });
  if (options.auditLog) installAuditLog(app, options.auditLog);
  if (options.corsOrigin) await installCors(app, options.corsOrigin);
  if (deps.limits.rate) await installRateLimit(app, deps.limits.rate);
  if (options.tokens) installAuth(app, options.tokens);
  await app.register(fastifyMultipart, {
    limits: { fileSize: deps.limits.maxUploadBytes, files: 1, fields: 8, parts: 9, headerPairs: 64 },
  });

  installOpenApi(app, { title: 'histoseek', version: options.version, bearer: options.tokens !== null });
  searchRoutes(app, deps);
  itemRoutes(app, deps);
  indexInfoRoutes(app, deps);
  reportRoutes(app, deps);
  mapRoutes(app, deps);
  if (deps.slides) slideRoutes(app, deps.slides);
  await webRoutes(app, options.webRoot);
  return app;
}
