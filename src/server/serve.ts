/** A histoseek server over one index: built for fastify's inject (tests) or listening on a socket (the command, benchmarks). */
import { isPostgresUrl } from '../store/open-store.js';
import type { SearchSettings } from '../store/types.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { SILENT_LOGGER } from '../util/logger.js';
import { AccessTokens } from './access-tokens.js';
import { buildApp } from './app.js';
import { parseCorsOrigin } from './cors.js';
import { ServerIndex } from './server-index.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { WEB_ROOT } from './routes/web.js';
import { SlideLibrary } from './slides.js';
import { Thumbnails } from './thumbnails.js';
import { loadTls, type TlsFiles } from './tls.js';
import type { Precision } from '../model/types.js';

export interface ServerOptions {
  db: string;
  /** Inference and search threads (default 2). */
  threads?: number;
  weights?: string;
  /** The encoder, where it is not where the index recorded it (default: the index's). */
  encoder?: string;
  /** How the model runs (default: as the index was built). */
  precision?: Precision;
  /** How the index is searched (default: by its size, default candidates). */
  search?: SearchSettings;
  /** Default: `<dirname(db)>/report`, where the demo and `eval --report` put it. */
  reportDir?: string;
  /**
   * Whole-slide images for the viewer: a folder (slide files, DICOM series), or a PACS
   * (`dicomweb+https://…`). Default: `<dirname(db)>/collection/slides` if it exists (the demo's).
   */
  slidesDir?: string;
  limits?: Partial<ServerLimits>;
  webRoot?: string;
  /** Log failures (pino, at warn): the server's and the library's (an index that cannot be reopened, say). Default: none. */
  logger?: boolean;
  /** `name:token[:scope]` per line: every route but the web page's files needs one of these tokens. */
  tokenFile?: string;
  /** Append one JSON line per request to this file. */
  auditLog?: string;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsFiles;
  /** The one origin allowed cross-origin requests (CORS). */
  corsOrigin?: string;
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Opens the index and builds the app; `app.close()` releases everything. */
export async function createServer(o: ServerOptions): Promise<FastifyInstance> {
  // The security options are read first: a bad token file or certificate fails before the index is opened.
  const security = {
    tokens: o.tokenFile === undefined ? null : AccessTokens.load(o.tokenFile),
    https: o.tls ? loadTls(o.tls) : null,
    corsOrigin: o.corsOrigin === undefined ? null : parseCorsOrigin(o.corsOrigin),
    auditLog: o.auditLog ?? null,
  };
  const postgres = isPostgresUrl(o.db);
  const db = postgres ? o.db : resolve(o.db);
  // Per-request lines are at info: warn keeps the log to failures (the library's included).
  const log = o.logger ? pino({ level: 'warn' }) : null;
  const index = await ServerIndex.open(db, {
    threads: o.threads ?? 2,
    weights: o.weights,
    encoder: o.encoder,
    precision: o.precision,
    search: o.search,
    logger: log ? { info: (m) => log.info(m), warn: (m) => log.warn(m) } : SILENT_LOGGER,
  });
  // A folder index's neighbours (the demo's report and slides) are found beside it; a PostgreSQL store has no "beside".
  const beside = (name: string) => (postgres ? name : join(dirname(db), name));
  const thumbnails = new Thumbnails();
  let slides: SlideLibrary | null = null;
  try {
    const slidesDir = o.slidesDir ?? beside(join('collection', 'slides'));
    if (o.slidesDir !== undefined || (!postgres && existsSync(slidesDir))) slides = await SlideLibrary.scan(slidesDir);
    const limits = { ...DEFAULT_LIMITS, ...o.limits };
    const deps = { index, thumbnails, limits, reportDir: o.reportDir ?? beside('report'), slides };
    const app = await buildApp(deps, {
      webRoot: o.webRoot ?? WEB_ROOT,
      logger: log,
      version: VERSION,
      ...security,
    });
    app.addHook('onClose', async () => {
      await Promise.all([index.close(), thumbnails.close(), slides?.close()]);
    });
    return app;
  } catch (err) {
    await Promise.all([index.close(), thumbnails.close(), slides?.close()]);
    throw err;
  }
}

/** Creates the server and listens; resolves to it and its URL. */
export async function startServer(
  o: ServerOptions & { host?: string; port?: number },
): Promise<{ app: FastifyInstance; url: string }> {
  const app = await createServer(o);
  try {
    const host = o.host ?? '127.0.0.1';
    await app.listen({ host, port: o.port ?? 8080 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    return { app, url: `${o.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/` };
  } catch (err) {
    await app.close();
    throw err;
  }
}
