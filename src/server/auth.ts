/**
 * Bearer-token access control. Each route says in its config what it needs (`access`): `public` (the
 * web page's own files, which hold no patient data), `search` or `all` — and a route that says
 * nothing needs `all`, so a new route is never open by mistake. Unknown paths need a token too, so
 * the API cannot be mapped without one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allows, type AccessTokens, type Scope, type TokenHolder } from './access-tokens.js';

export type Access = 'public' | Scope;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** Who sent the request, once its token has been checked (null on a public route or a server without tokens). */
    tokenHolder: TokenHolder | null;
  }
}

const REALM = 'Bearer realm="histoseek"';
/** Query parameters that carry a token in other APIs; a URL is logged and kept in the browser's history, so a token there is refused. */
const TOKEN_PARAMETERS = ['token', 'access_token'];

function refuse(reply: FastifyReply, status: 401 | 403, challenge: string, message: string): FastifyReply {
  return reply.code(status).header('www-authenticate', challenge).send({ error: message });
}

function bearerToken(request: FastifyRequest): string | null {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.authorization ?? '');
  return match ? match[1] : null;
}

/** Whether the request's token, if the server has tokens, covers routes that need `needed`: for answers that offer only what the caller may open. */
export function mayUse(request: FastifyRequest, needed: Scope): boolean {
  return !request.tokenHolder || allows(request.tokenHolder.scope, needed);
}

export function installAuth(app: FastifyInstance, tokens: AccessTokens): void {
  app.decorateRequest('tokenHolder', null);
  app.addHook('onRequest', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const inUrl = TOKEN_PARAMETERS.find((p) => p in query);
    if (inUrl)
      return reply.code(400).send({
        error: `a token in the URL (?${inUrl}=) is refused: URLs end up in logs and browser history. Send it in the header 'Authorization: Bearer TOKEN'`,
      });
    // An unknown path needs a valid token of any scope, then is a 404.
    const needed = request.routeOptions.config.access ?? (request.is404 ? 'search' : 'all');
    if (needed === 'public') return;
    // The answer depends on the token: a browser must not reuse a cached copy for a request without it.
    const vary = reply.getHeader('vary');
    reply.header('vary', vary ? `${String(vary)}, Authorization` : 'Authorization');
    const route = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0].slice(0, 200)}`;
    const token = bearerToken(request);
    if (token === null)
      return refuse(reply, 401, REALM, `${route} needs a token: send the header 'Authorization: Bearer TOKEN'`);
    const holder = tokens.holder(token);
    if (!holder) return refuse(reply, 401, `${REALM}, error="invalid_token"`, `${route}: the token is not valid`);
    request.tokenHolder = holder;
    if (!allows(holder.scope, needed)) {
      return refuse(
        reply,
        403,
        `${REALM}, error="insufficient_scope", scope="${needed}"`,
        `${route}: the token of '${holder.name}' has the scope '${holder.scope}', which does not allow it (it needs '${needed}')`,
      );
    }
  });
}
