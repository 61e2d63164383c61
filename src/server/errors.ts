/**
 * Every error leaves the server as `{ error: "..." }` with a 4xx/5xx status: schema failures are
 * 400s that name the offending parameter, plugin errors keep their status (413 from multipart, 415
 * from the body parser), and anything unexpected is a 500 whose details stay in the log.
 */
import type { FastifyError, FastifyInstance, FastifySchemaValidationError } from 'fastify';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what: string): HttpError => new HttpError(404, what);

/** Ajv's errors as one line that names each offending parameter (`querystring/k must be <= 100`). */
function describeValidation(where: string, errors: FastifySchemaValidationError[]): string {
  return errors
    .map((e) => {
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return extra === undefined
        ? `${where}${e.instancePath} ${e.message}`
        : `${where} has an unknown parameter '${extra.slice(0, 64)}'`;
    })
    .join('; ');
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
    const status = err.statusCode ?? 500;
    if ('validation' in err && err.validation)
      return reply
        .code(400)
        .send({ error: `bad request: ${describeValidation(err.validationContext ?? 'request', err.validation)}` });
    if (err instanceof HttpError || (status >= 400 && status < 500))
      return reply.code(status).send({ error: err.message });
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal error (see the server log)' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no such resource: ${request.method} ${request.url.split('?')[0].slice(0, 200)}` }),
  );
}
