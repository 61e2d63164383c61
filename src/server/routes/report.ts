/** The evaluation report written by `histoseek eval --report`: metrics.json and the confusion-matrix PNG, from a fixed folder. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { reportSchema, type ReportJson } from '../../api/schemas.js';

async function readReportFile(dir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new HttpError(
        404,
        `no evaluation report (${name}): run 'histoseek eval --db DB --queries DIR --report ${dir}'`,
      );
    throw err;
  }
}

export function reportRoutes(app: FastifyInstance, { reportDir }: ServerDeps): void {
  app.get(
    '/api/report',
    {
      schema: { response: { 200: reportSchema } },
      config: { doc: { summary: 'the evaluation metrics (metrics.json)', tags: ['report'], errors: [404] } },
    },
    // Read on each request, so a new `eval` run shows without a restart.
    async () => JSON.parse((await readReportFile(reportDir, 'metrics.json')).toString('utf8')) as ReportJson,
  );

  app.get(
    '/api/report/confusion.png',
    {
      config: {
        doc: {
          summary: 'the confusion matrix (top-1) as a PNG',
          tags: ['report'],
          produces: 'image/png',
          errors: [404],
        },
      },
    },
    async (_request, reply) =>
      reply
        .type('image/png')
        .header('cache-control', 'no-cache')
        .send(await readReportFile(reportDir, 'confusion.png')),
  );
}
