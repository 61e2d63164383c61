/** Cross-origin use is off (no CORS headers at all) unless `--cors ORIGIN` names the one origin allowed. */
import type { FastifyInstance } from 'fastify';

/** Checks `--cors`'s value: a bare origin (scheme, host, port), as browsers send it in the Origin header. */
export function parseCorsOrigin(value: string): string {
  let origin: string;
  try {
    origin = new URL(value).origin;
  } catch {
    throw new Error(
      `--cors '${value}' is not an origin: give the scheme, host and port, e.g. https://viewer.example.org`,
    );
  }
  if (origin === 'null' || origin !== value.replace(/\/$/, ''))
    throw new Error(
      `--cors '${value}' is not an origin: give only the scheme, host and port (e.g. ${origin === 'null' ? 'https://viewer.example.org' : origin}), no path`,
    );
  return origin;
}

/**
 * CORS for one origin. Preflights (OPTIONS) carry no Authorization header, so they are answered here,
 * before access control; a request from any other origin gets no CORS headers and the browser
 * keeps its answer from the page that sent it.
 */
export function installCors(app: FastifyInstance, origin: string): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.origin !== origin) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      return reply
        .code(204)
        .header('access-control-allow-methods', 'GET, HEAD, POST')
        .header('access-control-allow-headers', 'Authorization, Content-Type')
        .header('access-control-max-age', '600')
        .send();
    }
  });
}
