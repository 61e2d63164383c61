/**
 * `serve --audit-log FILE`: one JSON line per answered request — when, whose token (by name), which
 * route, the item, slide and region ids it named, the status and the latency. It is written by a
 * pino logger of its own (fastify's logging library) to a synchronous, appending destination, so
 * every answered request is on disk as a whole line before the next one: a crash loses at most the
 * line being written. It records ids only: never a token, a raw URL (which could carry one) or a body.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import pino from 'pino';

export type AuditIdKind = 'item' | 'slide' | 'region';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** For each kind of id the route touches, the parameters (path, then query) that form it, joined with '/'. */
    auditIds?: Partial<Record<AuditIdKind, readonly string[]>>;
  }
}

/** One line of the audit log. */
export interface AuditRecord {
  level: number;
  time: string;
  token: string | null;
  method: string;
  /** The route's pattern (`/api/items/:id`), or null when no route matched. */
  route: string | null;
  item?: string;
  slide?: string;
  region?: string;
  status: number;
  ms: number;
}

/** Values are clipped: a refused request's parameters are not validated yet. */
const MAX_ID_LENGTH = 256;

function touchedIds(request: FastifyRequest): Partial<Record<AuditIdKind, string>> {
  const fields = request.routeOptions.config.auditIds ?? {};
  const params = (request.params ?? {}) as Record<string, unknown>;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const ids: Partial<Record<AuditIdKind, string>> = {};
  for (const [kind, names] of Object.entries(fields) as [AuditIdKind, readonly string[]][]) {
    const values = names.map((n) => params[n] ?? query[n]).filter((v) => v !== undefined && v !== null);
    if (values.length > 0) ids[kind] = values.map(String).join('/').slice(0, MAX_ID_LENGTH);
  }
  return ids;
}

export function installAuditLog(app: FastifyInstance, file: string): void {
  let destination: ReturnType<typeof pino.destination>;
  try {
    destination = pino.destination({ dest: file, sync: true, append: true });
  } catch (err) {
    throw new Error(`cannot open the audit log ${file}: ${(err as Error).message}`, { cause: err });
  }
  const log = pino(
    {
      // pino's own line shape (level 30 = info, then the time), so pino's tools read the file; no pid or host name.
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  app.addHook('onResponse', async (request, reply) => {
    const record: Omit<AuditRecord, 'level' | 'time'> = {
      token: request.tokenHolder?.name ?? null,
      method: request.method,
      route: request.routeOptions.url ?? null,
      ...touchedIds(request),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    log.info(record);
  });
  app.addHook('onClose', async () => destination.end());
}
