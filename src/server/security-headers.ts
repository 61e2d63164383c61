/**
 * Headers on every answer, set by helmet (@fastify/helmet): a Content-Security-Policy that lets the
 * page run only its own bundle (no inline script or style, no eval) and never be framed, no MIME
 * sniffing, no referrer, and helmet's cross-origin isolation headers. HSTS only over HTTPS.
 */
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * OpenSeadragon 6's one <style> element (it hides the canvas's focus outline on touch screens),
 * allowed by its hash rather than by 'unsafe-inline'. Its other styling goes through the CSSOM
 * (element.style), which style-src does not govern. The browser test fails on any violation, so a
 * new OpenSeadragon with other text shows up there.
 */
const OPENSEADRAGON_STYLE_HASH = "'sha256-9xTiqzfwFaL2SGb1rmr8gysEwVVjIvqWAgmZgqFqpEE='";

/**
 * The whole policy, without helmet's defaults: those allow inline styles and fonts from any https:
 * host, and their upgrade-insecure-requests would send the page's own requests to https:// on a
 * plain-HTTP loopback server. Images may be blob: URLs: the page fetches thumbnails and tiles with
 * the Authorization header and shows them from blobs.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  imgSrc: ["'self'", 'blob:', 'data:'],
  styleSrc: ["'self'", OPENSEADRAGON_STYLE_HASH],
  scriptSrc: ["'self'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
};

/** `https`: the server speaks TLS, so browsers may be told to keep to it (HSTS). */
export async function installSecurityHeaders(app: FastifyInstance, { https }: { https: boolean }): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    // HSTS binds the host name, every port, to HTTPS in the browser for the max-age: never sent over
    // plain HTTP (browsers ignore it there anyway), and never for sibling subdomains we do not serve.
    strictTransportSecurity: https ? { maxAge: 365 * 24 * 3600, includeSubDomains: false } : false,
  });
}
