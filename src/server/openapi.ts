/**
 * The OpenAPI 3.1 document, generated from the routes as they are registered: their parameter and
 * response schemas (the ones fastify validates and serialises with) plus a `doc` entry in each
 * route's config for what schemas cannot say — a summary, non-JSON bodies and answers, the errors.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { errorSchema } from '../api/schemas.js';

export interface RouteDoc {
  summary: string;
  description?: string;
  tags: string[];
  /** Media type of a non-JSON 200 answer (e.g. image/jpeg). */
  produces?: string;
  /** Request body that is not JSON (the multipart upload). */
  requestBody?: Record<string, unknown>;
  /** Error statuses the route may answer, each with `{ error }`. */
  errors: number[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}

const REASONS: Record<number, string> = {
  400: 'bad request (a parameter is missing or invalid)',
  401: 'no token, or not a valid one (send Authorization: Bearer TOKEN)',
  403: "the token's scope does not allow this route",
  404: 'not found',
  413: 'too large',
  415: 'unsupported media type',
  422: 'the image cannot be decoded',
  429: 'too many requests (rate limit)',
};

interface JsonSchema {
  properties?: Record<string, JsonSchema & { description?: string }>;
  required?: readonly string[];
}

function parameters(schema: unknown, where: 'query' | 'path'): unknown[] {
  const s = schema as JsonSchema | undefined;
  return Object.entries(s?.properties ?? {}).map(([name, { description, ...rest }]) => ({
    name,
    in: where,
    required: where === 'path' || (s?.required ?? []).includes(name),
    ...(description ? { description } : {}),
    schema: rest,
  }));
}

/** The statuses every protected route may answer when the server has tokens. */
const AUTH_ERRORS = [401, 403];

function operation(route: RouteOptions, doc: RouteDoc, bearer: boolean): Record<string, unknown> {
  const schema = route.schema ?? {};
  const ok = (schema.response as Record<string, unknown> | undefined)?.[200];
  const responses: Record<string, unknown> = {
    200: {
      description: 'success',
      content: doc.produces
        ? { [doc.produces]: { schema: { type: 'string', format: 'binary' } } }
        : { 'application/json': { schema: ok ?? {} } },
    },
  };
  const guarded = bearer && route.config?.access !== 'public';
  for (const status of [...new Set([...doc.errors, 429, ...(guarded ? AUTH_ERRORS : [])])].sort((a, b) => a - b)) {
    responses[status] = {
      description: REASONS[status] ?? 'error',
      content: { 'application/json': { schema: errorSchema } },
    };
  }
  return {
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: doc.tags,
    parameters: [...parameters(schema.params, 'path'), ...parameters(schema.querystring, 'query')],
    ...(doc.requestBody ? { requestBody: doc.requestBody } : {}),
    ...(guarded ? { security: [{ bearer: [] }] } : {}),
    responses,
  };
}

/** Registers GET /openapi.json, documenting every route that carries a `doc`; call before the routes are added. `bearer`: the server has tokens. */
export function installOpenApi(
  app: FastifyInstance,
  { bearer, ...info }: { title: string; version: string; bearer: boolean },
): void {
  const paths: Record<string, Record<string, unknown>> = {};
  app.addHook('onRoute', (route) => {
    const doc = route.config?.doc;
    if (!doc) return;
    const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      paths[path] = { ...paths[path], [method.toLowerCase()]: operation(route, doc, bearer) };
    }
  });
  app.get(
    '/openapi.json',
    { config: { access: 'search', doc: { summary: 'this document', tags: ['meta'], errors: [] } } },
    async () => ({
      openapi: '3.1.0',
      info: {
        ...info,
        description:
          'Content-based image retrieval for histopathology: search an index of tissue patches by image or by item.',
      },
      paths,
      ...(bearer
        ? {
            components: {
              securitySchemes: {
                bearer: {
                  type: 'http',
                  scheme: 'bearer',
                  description: "a token from the server's --token-file; scope 'search' or 'all'",
                },
              },
            },
          }
        : {}),
    }),
  );
}
