/** `histoseek serve`: the JSON API and the web page over an index, until interrupted. */
import { DEFAULT_LIMITS } from '../server/limits.js';
import { startServer } from '../server/serve.js';
import { parse, positiveInt } from './args.js';
import type { Command } from './command.js';
import { parseSearchMode, SEARCH_MODE_OPTIONS, SEARCH_MODE_USAGE } from './index-model.js';

const USAGE = `histoseek serve --db DB [options]

Serves the web page (search by image or by item, the evaluation dashboard, the slide viewer) and
its JSON API (documented at /openapi.json) over an index. Appends to the index by another
process are picked up on the next request.

  --db DB              the index folder
  --port N             TCP port (default 8080; 0 picks a free one)
  --host H             address to bind (default 127.0.0.1: this machine only; give 0.0.0.0
                       to expose the server — it has no authentication)
  --weights FILE       model checkpoint (default: the one the index records, else the built-in model)
  --report DIR         evaluation report folder (default: DB/../report)
  --slides DIR         whole-slide images for the viewer (default: DB/../collection/slides if present)
  --rate N             requests per second per client address (default ${DEFAULT_LIMITS.rate!.perSecond})
  --burst N            requests a client may send at once (default ${DEFAULT_LIMITS.rate!.burst})
  --max-upload-mb N    largest query upload in MB (default ${DEFAULT_LIMITS.maxUploadBytes / 2 ** 20})
  --threads N          inference and search threads (default 2)
${SEARCH_MODE_USAGE}`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the search web page and JSON API over an index',
  usage: USAGE,
  async run(args) {
    const { values } = parse(args, {
      db: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      weights: { type: 'string' },
      report: { type: 'string' },
      slides: { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'max-upload-mb': { type: 'string' },
      threads: { type: 'string' },
      ...SEARCH_MODE_OPTIONS,
    }, USAGE);
    if (!values.db) throw new Error(`--db is required\n\n${USAGE}`);
    const port = values.port === '0' ? 0 : positiveInt(values.port, 8080, '--port');
    const { app, url } = await startServer({
      db: values.db,
      host: values.host,
      port,
      weights: values.weights,
      reportDir: values.report,
      slidesDir: values.slides,
      threads: positiveInt(values.threads, 2, '--threads'),
      searchMode: parseSearchMode(values),
      logger: true,
      limits: {
        maxUploadBytes: positiveInt(values['max-upload-mb'], DEFAULT_LIMITS.maxUploadBytes / 2 ** 20, '--max-upload-mb') * 2 ** 20,
        rate: { perSecond: positiveInt(values.rate, DEFAULT_LIMITS.rate!.perSecond, '--rate'), burst: positiveInt(values.burst, DEFAULT_LIMITS.rate!.burst, '--burst') },
      },
    });
    process.stdout.write(`histoseek: serving ${values.db} at ${url} (Ctrl-C to stop)\n`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop).off('SIGTERM', stop);
        done();
      };
      process.on('SIGINT', stop).on('SIGTERM', stop);
    });
    await app.close();
    return 0;
  },
};
