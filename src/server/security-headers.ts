/**
 * Headers on every answer: a Content-Security-Policy that lets the page run only its own bundle (no
 * inline script or style, no eval) and never be framed, no MIME sniffing, no referrer.
 */
import type { FastifyInstance } from 'fastify';

/**
 * OpenSeadragon 6's one <style> element (it hides the canvas's focus outline on touch screens),
 * allowed by its hash rather than by 'unsafe-inline'. Its other styling goes through the CSSOM
 * (element.style), which style-src does not govern. The browser test fails on any violation, so a
 * new OpenSeadragon with other text shows up there.
 */
const OPENSEADRAGON_STYLE_HASH = "'sha256-9xTiqzfwFaL2SGb1rmr8gysEwVVjIvqWAgmZgqFqpEE='";

/** Images may be blob: URLs: the page fetches thumbnails and tiles with the Authorization header and shows them from blobs. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  `style-src 'self' ${OPENSEADRAGON_STYLE_HASH}`,
  "script-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });
}
