/** Cross-origin use is off (no CORS headers at all) unless `--cors ORIGIN` names the one origin allowed. */
import fastifyCors from '@fastify/cors';
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
 * CORS for one origin (@fastify/cors). Preflights carry no Authorization header, so they are answered
 * in its hook, before access control. The origin is a predicate rather than the plain string: with a
 * string the plugin would send that origin's Allow-Origin to every caller and answer every caller's
 * preflight; `false` leaves another origin's requests without CORS headers, to be judged (and
 * refused) like any other request.
 */
export async function installCors(app: FastifyInstance, allowed: string): Promise<void> {
  await app.register(fastifyCors, {
    origin: (origin, callback) => callback(null, origin === allowed),
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    maxAge: 600,
    // Not strict: a malformed preflight would be a text/plain 400, where every error here is JSON.
    strictPreflight: false,
  });
}
