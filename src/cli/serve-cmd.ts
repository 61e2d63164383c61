/** `histoseek serve`: the JSON API and the web page over an index, until interrupted. */
import { redactUrl } from '../store/open-store.js';
import { judgeExposure } from '../server/exposure.js';
import { DEFAULT_LIMITS } from '../server/limits.js';
import { startServer } from '../server/serve.js';
import { positiveInt, usageRow } from './args.js';
import { defineCommand } from './command.js';
import { DEFAULT_THREADS, parseThreads } from './run-options.js';
import { parsePrecision, PRECISION_OPTIONS } from './model-options.js';
import { parseSearchSettings, SEARCH_MODE_OPTIONS, SEARCH_MODE_USAGE } from './search-options.js';
import { DB_OPTIONS, DB_USAGE, requireDb } from './store-options.js';
import { DICOMWEB_AUTH_USAGE, DICOMWEB_OPTIONS, useDicomWebFlags } from './dicomweb-options.js';

const USAGE = `histoseek serve --db DB [options]

Serves the web page (search by image or by item, the evaluation dashboard, the slide viewer) and
its JSON API (documented at /openapi.json) over an index. Appends to the index by another
process are picked up on the next request.

${DB_USAGE}  --port N             TCP port (default 8080; 0 picks a free one)
  --host H             address to bind (default 127.0.0.1: this machine only). Any other
                       address needs --token-file (or --insecure-no-auth)
  --token-file FILE    access tokens, one 'name:token[:scope]' per line (scope 'search':
                       search, items and thumbnails only; 'all', the default: also slides,
                       the report and the map). Every request but the web page's own files
                       must send 'Authorization: Bearer TOKEN'. Default: $HISTOSEEK_TOKEN_FILE
  --insecure-no-auth   serve beyond loopback with no tokens (warns; a trusted network only)
  --tls-cert FILE      serve HTTPS with this PEM certificate (chain); needs --tls-key
  --tls-key FILE       the certificate's PEM private key
  --audit-log FILE     append one JSON line per request: time, token name, route, the item,
                       slide and region ids, status, latency (never tokens or images)
  --cors ORIGIN        allow cross-origin requests from this one origin (default: none)
  --weights FILE       model checkpoint (default: the one the index records, else the built-in model)
  --encoder E          the index's encoder, where it is not where the index recorded it (an ONNX
                       file, or a pulled foundation model's name; default: the one the index records)
  --precision P        fp32 or int8 (default: the one the index was built with)
  --report DIR         evaluation report folder (default: DB/../report)
  --slides DIR         whole-slide images for the viewer (default: DB/../collection/slides if present):
                       slide files and DICOM folders, or a PACS: dicomweb+https://HOST/PATH[/studies/S]
${DICOMWEB_AUTH_USAGE}  --rate N             requests per second per client address (default ${DEFAULT_LIMITS.rate!.perSecond})
  --burst N            requests a client may send at once (default ${DEFAULT_LIMITS.rate!.burst})
  --max-upload-mb N    largest query upload in MB (default ${DEFAULT_LIMITS.maxUploadBytes / 2 ** 20})
${usageRow('--threads N', `inference and search threads (default ${DEFAULT_THREADS})`)}${SEARCH_MODE_USAGE}`;

export const serveCommand = defineCommand({
  usage: USAGE,
  options: {
    ...DB_OPTIONS,
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    weights: { type: 'string' },
    encoder: { type: 'string' },
    ...PRECISION_OPTIONS,
    report: { type: 'string' },
    slides: { type: 'string' },
    rate: { type: 'string' },
    burst: { type: 'string' },
    'max-upload-mb': { type: 'string' },
    threads: { type: 'string' },
    ...SEARCH_MODE_OPTIONS,
    'token-file': { type: 'string' },
    'insecure-no-auth': { type: 'boolean', default: false },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'audit-log': { type: 'string' },
    cors: { type: 'string' },
    ...DICOMWEB_OPTIONS,
  },
  async run({ values }) {
    const db = requireDb(values, USAGE);
    await useDicomWebFlags(values.slides, values);
    const port = values.port === '0' ? 0 : positiveInt(values.port, 8080, '--port');
    const tokenFile = values['token-file'] ?? (process.env.HISTOSEEK_TOKEN_FILE || undefined);
    const [cert, key] = [values['tls-cert'], values['tls-key']];
    if ((cert === undefined) !== (key === undefined))
      throw new Error(
        `--tls-cert and --tls-key go together: give both (the certificate and its private key) or neither\n\n${USAGE}`,
      );
    const verdict = judgeExposure({
      host: values.host,
      tokens: tokenFile !== undefined,
      insecureNoAuth: values['insecure-no-auth'],
      tls: cert !== undefined,
    });
    if ('refusal' in verdict) {
      process.stderr.write(`histoseek: ${verdict.refusal}\n`);
      return 2;
    }
    for (const warning of verdict.warnings) process.stderr.write(`histoseek: ${warning}\n`);
    const { app, url } = await startServer({
      db,
      host: values.host,
      port,
      tokenFile,
      tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
      auditLog: values['audit-log'],
      corsOrigin: values.cors,
      weights: values.weights,
      encoder: values.encoder,
      precision: parsePrecision(values.precision),
      reportDir: values.report,
      slidesDir: values.slides,
      threads: parseThreads(values.threads),
      search: parseSearchSettings(values),
      logger: true,
      limits: {
        maxUploadBytes:
          positiveInt(values['max-upload-mb'], DEFAULT_LIMITS.maxUploadBytes / 2 ** 20, '--max-upload-mb') * 2 ** 20,
        rate: {
          perSecond: positiveInt(values.rate, DEFAULT_LIMITS.rate!.perSecond, '--rate'),
          burst: positiveInt(values.burst, DEFAULT_LIMITS.rate!.burst, '--burst'),
        },
      },
    });
    const access = tokenFile === undefined ? 'no access control' : `tokens from ${tokenFile}`;
    process.stdout.write(
      `histoseek: serving ${redactUrl(db)} at ${url} with ${access}${values['audit-log'] ? `, audit log ${values['audit-log']}` : ''} (Ctrl-C to stop)\n`,
    );
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
});
