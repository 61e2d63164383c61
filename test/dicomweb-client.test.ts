/**
 * The DICOMweb address codec, the credentials and the WADO-RS/QIDO-RS client against a small PACS
 * stand-in on loopback (node:http): multipart framing, paging, retries after 503 with Retry-After,
 * time limits, requests in flight, and errors that name the request but never a secret. The same
 * client against a real Orthanc: test/slow/dicom-pacs.test.ts.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { isHistoseekError } from '../src/util/errors.js';
import { DicomWebClient, parseMediaType, retryAfterMs } from '../src/wsi/dicomweb/client.js';
import { DicomWebCredentials, resolveCredentials, TOKEN_ENV } from '../src/wsi/dicomweb/credentials.js';
import {
  formatDicomWebUrl,
  parseDicomWebUrl,
  parseSeriesUrl,
  redactDicomWebUrl,
  seriesUrl,
} from '../src/wsi/dicomweb/dicomweb-url.js';
import { listSeries, plainHttpWarning, useDicomWebCredentials } from '../src/wsi/dicomweb/dicomweb-slide.js';
import { formatItemKey, parseItemKey } from '../src/collections/item-key.js';
import { openSlide } from '../src/wsi/slide.js';
import { freePort, temporaryFolder } from './helpers.js';

/** Limit of each top-level suite here, ms. */
const TIMEOUT = 60_000;

const STUDY = '1.2.826.0.1.3680043.8.498.1';
const SERIES = '1.2.826.0.1.3680043.8.498.2';
const INSTANCE = '1.2.826.0.1.3680043.8.498.3';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_2000 = '1.2.840.10008.1.2.4.90';
const SECRET = 'tok-3f9a-never-printed';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A PACS stand-in: each test sets `handle`; every request is recorded. */
class FakePacs {
  handle: Handler = (_req, res) => void res.writeHead(500).end();
  readonly requests: { method: string; url: string; accept: string; authorization?: string }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        accept: req.headers.accept ?? '',
        authorization: req.headers.authorization,
      });
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.on('close', () => this.inFlight--);
      this.handle(req, res);
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.port = (this.server.address() as { port: number }).port;
  }

  get root(): string {
    return `http://127.0.0.1:${this.port}/dicom-web`;
  }

  reset(handle: Handler): void {
    this.handle = handle;
    this.requests.length = 0;
    this.maxInFlight = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }
}

/** A multipart/related body of the given parts, with a preamble a strict reader must skip. */
function multipartRelated(parts: { type?: string; data: Uint8Array }[], boundary: string): Buffer {
  const chunks: Buffer[] = [Buffer.from('a preamble to be ignored\r\n')];
  for (const part of parts) {
    const headers = part.type ? `Content-Type: ${part.type}\r\n` : '';
    chunks.push(Buffer.from(`--${boundary}\r\n${headers}Content-Length: ${part.data.length}\r\n\r\n`));
    chunks.push(Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** Bytes that look like framing: CRLF, dashes, a near-boundary, zeros, as compressed frames may hold. */
function trickyBytes(n: number, boundary: string): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + 7) % 256;
  out.set(Buffer.from(`\r\n--${boundary.slice(0, -1)}X\r\n\r\n--`), 100);
  return out;
}

const quiet = { warn: () => undefined, info: () => undefined };

describe('dicomweb+ addresses', { timeout: TIMEOUT }, () => {
  test('a series address parses to its root, study and series, and formats back to itself', () => {
    const ref = `dicomweb+https://pacs.example.org/dicom-web/studies/${STUDY}/series/${SERIES}`;
    const a = parseDicomWebUrl(ref);
    assert.equal(a.root, 'https://pacs.example.org/dicom-web');
    assert.equal(a.study, STUDY);
    assert.equal(a.series, SERIES);
    assert.equal(a.plainHttp, false);
    assert.equal(formatDicomWebUrl(a), ref);
    assert.equal(seriesUrl(a.root, STUDY, SERIES), ref);
  });

  test('addresses are made canonical: host case, default port, trailing slashes', () => {
    const a = parseDicomWebUrl(`dicomweb+HTTPS://PACS.Example.org:443/dicom-web//studies/${STUDY}/`);
    assert.equal(formatDicomWebUrl(a), `dicomweb+https://pacs.example.org/dicom-web/studies/${STUDY}`);
    assert.equal(
      formatDicomWebUrl(parseDicomWebUrl('dicomweb+http://127.0.0.1:8042/dicom-web/')),
      'dicomweb+http://127.0.0.1:8042/dicom-web',
    );
    assert.equal(parseDicomWebUrl('dicomweb+http://[::1]:8042/x').root, 'http://[::1]:8042/x');
    assert.equal(parseDicomWebUrl('dicomweb+http://localhost/').plainHttp, true);
  });

  test('user:password is taken out of the address and kept aside, decoded', () => {
    const a = parseDicomWebUrl(
      `dicomweb+https://alice:p%40ss%3Aword@pacs.example.org/dw/studies/${STUDY}/series/${SERIES}`,
    );
    assert.deepEqual(a.userinfo, { user: 'alice', password: 'p@ss:word' });
    assert.equal(formatDicomWebUrl(a), `dicomweb+https://pacs.example.org/dw/studies/${STUDY}/series/${SERIES}`);
    assert.equal(redactDicomWebUrl('dicomweb+https://alice:secret@pacs/dw'), 'dicomweb+https://pacs/dw');
  });

  test('malformed addresses are refused with the reason, and without the password', () => {
    const cases: [string, RegExp][] = [
      ['https://pacs/dw', /not a DICOMweb address; expected dicomweb\+https:\/\/HOST\/PATH/],
      ['dicomweb+https://', /not a valid URL/],
      ['dicomweb+https://u:hunter2@pacs/dw?key=1', /a query string is not part of a DICOMweb root/],
      ['dicomweb+https://u:hunter2@pacs/dw#x', /a fragment/],
      ['dicomweb+https://u:hunter2@pacs/dw/studies/1.2.03', /study '1.2.03' is not a DICOM UID/],
      [`dicomweb+https://pacs/dw/studies/${STUDY}/series/abc`, /series 'abc' is not a DICOM UID/],
      [`dicomweb+https://pacs/dw/studies/1.${'2'.repeat(64)}`, /at most 64 characters/],
    ];
    for (const [text, reason] of cases) {
      assert.throws(
        () => parseDicomWebUrl(text),
        (e: Error) => isHistoseekError(e, 'BAD_OPTION') && reason.test(e.message) && !e.message.includes('hunter2'),
        text,
      );
    }
    assert.throws(() => parseSeriesUrl(`dicomweb+https://pacs/dw/studies/${STUDY}`), /names no series/);
  });

  test('a patch source (series address #region=…) splits back into the series and the box', () => {
    const ref = seriesUrl('https://pacs.example.org:8443/dicom-web', STUDY, SERIES);
    const box = { x: 1024, y: -16, width: 448, height: 448 };
    const parsed = parseItemKey(formatItemKey({ kind: 'region', path: ref, box }));
    assert.deepEqual(parsed, { kind: 'region', path: ref, box });
    assert.equal(parseSeriesUrl(parsed.path).series, SERIES);
  });
});

describe('DICOMweb credentials', { timeout: TIMEOUT }, () => {
  let dir: string;
  before(async () => {
    dir = await temporaryFolder('histoseek-dicomweb-creds-');
  });

  test('flags, then the address, then the environment; none when nothing gives any', async () => {
    const env = { [TOKEN_ENV]: 'env-token' };
    assert.equal(
      (await resolveCredentials({ token: 'flag' }, { user: 'u', password: 'p' }, env)).source,
      'the token given',
    );
    assert.equal((await resolveCredentials({}, { user: 'u', password: 'p' }, env)).scheme, 'basic');
    const fromEnv = await resolveCredentials({}, undefined, env);
    assert.equal(fromEnv.authorization(), 'Bearer env-token');
    assert.equal(fromEnv.describe(), `a bearer token from ${TOKEN_ENV}`);
    const basic = await resolveCredentials({}, undefined, {
      HISTOSEEK_DICOMWEB_USER: 'alice',
      HISTOSEEK_DICOMWEB_PASSWORD: 'pw',
    });
    assert.equal(basic.authorization(), `Basic ${Buffer.from('alice:pw').toString('base64')}`);
    assert.equal(await resolveCredentials({}, undefined, {}), DicomWebCredentials.NONE);
  });

  test('contradictory or incomplete flags are refused, naming the flags', async () => {
    await assert.rejects(
      resolveCredentials({ token: 'a', tokenFile: 'b' }, undefined, {}),
      /a token or --dicomweb-token-file, not both/,
    );
    await assert.rejects(resolveCredentials({ token: 'a', user: 'b' }, undefined, {}), /not both/);
    await assert.rejects(resolveCredentials({ user: 'alice' }, undefined, {}), /--dicomweb-user needs a password/);
    await assert.rejects(
      resolveCredentials({ passwordFile: '/x' }, undefined, {}),
      /--dicomweb-password-file needs --dicomweb-user/,
    );
    await assert.rejects(resolveCredentials({ token: 'two words' }, undefined, {}), /white space/);
  });

  test('a secret file is read trimmed, and refused when others may read it (as ~/.pgpass)', async () => {
    const file = join(dir, 'token');
    await writeFile(file, `${SECRET}\n`);
    await chmod(file, 0o644);
    await assert.rejects(resolveCredentials({ tokenFile: file }, undefined, {}), (e: Error) => {
      assert.match(e.message, /the group or others may access this secret \(mode 644\); chmod 600 it/);
      assert.ok(!e.message.includes(SECRET));
      return true;
    });
    await chmod(file, 0o600);
    const c = await resolveCredentials({ tokenFile: file }, undefined, {});
    assert.equal(c.authorization(), `Bearer ${SECRET}`);
    assert.equal(c.source, `--dicomweb-token-file ${file}`);
    await assert.rejects(
      resolveCredentials({ tokenFile: join(dir, 'absent') }, undefined, {}),
      /cannot read \(ENOENT\)/,
    );
  });

  test('printing, inspecting or serialising credentials never shows the secret', () => {
    const c = DicomWebCredentials.bearer(SECRET, TOKEN_ENV);
    const shown = [String(c), inspect(c), inspect({ nested: c }, { depth: 5 }), JSON.stringify({ c }), `${c}`];
    for (const text of shown) assert.ok(!text.includes(SECRET), text);
    assert.equal(String(c), `DicomWebCredentials(a bearer token from ${TOKEN_ENV})`);
  });
});

describe('DICOMweb client', { timeout: TIMEOUT }, () => {
  const pacs = new FakePacs();
  before(() => pacs.start());
  after(() => pacs.stop());
  const client = (options: ConstructorParameters<typeof DicomWebClient>[1] = {}) =>
    new DicomWebClient(pacs.root, { backoffMs: 10, logger: quiet, ...options });

  test('QIDO-RS pages through limit/offset until a short page, filtering on SM', async () => {
    const all = Array.from({ length: 250 }, (_, i) => ({
      '0020000D': { vr: 'UI', Value: [STUDY] },
      '0020000E': { vr: 'UI', Value: [`${SERIES}.${i + 1}`] },
    }));
    pacs.reset((req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      assert.equal(q.get('Modality'), 'SM');
      const offset = Number(q.get('offset'));
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.end(JSON.stringify(all.slice(offset, offset + Number(q.get('limit')))));
    });
    const hits = await client({ pageSize: 100 }).searchSeries();
    assert.equal(hits.length, 250);
    assert.equal(hits[249]!.series, `${SERIES}.250`);
    assert.deepEqual(
      pacs.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('offset')),
      ['0', '100', '200'],
    );
    assert.ok(pacs.requests.every((r) => r.method === 'GET' && r.accept === 'application/dicom+json'));
  });

  test('a server that caps pages says so (Warning 299) and is read on at its own page size', async () => {
    const all = Array.from({ length: 95 }, (_, i) => ({
      '0020000D': { vr: 'UI', Value: [STUDY] },
      '0020000E': { vr: 'UI', Value: [`${SERIES}.${i + 1}`] },
    }));
    pacs.reset((req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      const offset = Number(q.get('offset'));
      const page = all.slice(offset, offset + 40);
      const more = offset + page.length < all.length;
      res.writeHead(200, {
        'content-type': 'application/dicom+json',
        ...(more ? { warning: '299 pacs: There are more results that can be requested' } : {}),
      });
      res.end(JSON.stringify(page));
    });
    assert.equal((await client({ pageSize: 100 }).searchSeries({ study: STUDY })).length, 95);
    assert.equal(pacs.requests.length, 3);
    assert.ok(pacs.requests.every((r) => r.url.startsWith(`/dicom-web/studies/${STUDY}/series?`)));
  });

  test('a server that ignores offset does not make the search loop; 204 is an empty result', async () => {
    pacs.reset((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.end(
        JSON.stringify([{ '0020000D': { vr: 'UI', Value: [STUDY] }, '0020000E': { vr: 'UI', Value: [SERIES] } }]),
      );
    });
    assert.equal((await client({ pageSize: 1 }).searchSeries()).length, 1);
    assert.equal(pacs.requests.length, 2);
    pacs.reset((_req, res) => void res.writeHead(204).end());
    assert.deepEqual(await client().searchSeries({ series: SERIES }), []);
    assert.equal(new URL(pacs.requests[0]!.url, 'http://x').searchParams.get('SeriesInstanceUID'), SERIES);
  });

  test('frames come out of multipart/related byte for byte, with the transfer syntax the part names', async () => {
    const boundary = 'b0undary-ab12';
    const jpeg = trickyBytes(5000, boundary);
    pacs.reset((req, res) => {
      res.writeHead(200, {
        'content-type': `multipart/related; type="application/octet-stream"; boundary="${boundary}"`,
      });
      res.end(multipartRelated([{ type: `image/jpeg; transfer-syntax=${JPEG_BASELINE}`, data: jpeg }], boundary));
    });
    const f = await client().frame(STUDY, SERIES, INSTANCE, 7);
    assert.equal(f.transferSyntaxUid, JPEG_BASELINE);
    assert.deepEqual(Buffer.from(f.data), Buffer.from(jpeg));
    const r = pacs.requests[0]!;
    assert.equal(r.url, `/dicom-web/studies/${STUDY}/series/${SERIES}/instances/${INSTANCE}/frames/7`);
    assert.equal(r.accept, 'multipart/related; type="application/octet-stream"; transfer-syntax=*');
  });

  test('the transfer syntax from the reply type (as Orthanc sends it), else the media type default', async () => {
    const data = new Uint8Array([1, 2, 3, 4]);
    let contentType = '';
    let partType: string | undefined;
    pacs.reset((_req, res) => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(multipartRelated([{ type: partType, data }], 'zz'));
    });
    contentType = `multipart/related; type="image/jp2; transfer-syntax=${JPEG_2000}"; boundary=zz`;
    partType = undefined;
    assert.equal((await client().frame(STUDY, SERIES, INSTANCE, 1)).transferSyntaxUid, JPEG_2000);
    contentType = 'multipart/related; type=application/octet-stream; boundary=zz';
    partType = 'application/octet-stream';
    assert.equal((await client().frame(STUDY, SERIES, INSTANCE, 1)).transferSyntaxUid, '1.2.840.10008.1.2.1');
    partType = 'image/jpeg';
    assert.equal((await client().frame(STUDY, SERIES, INSTANCE, 1)).transferSyntaxUid, JPEG_BASELINE);
    partType = 'text/html';
    await assert.rejects(
      client().frame(STUDY, SERIES, INSTANCE, 1),
      /media type 'text\/html', which is not a DICOM frame type/,
    );
  });

  test('a server that refuses transfer-syntax=* (406) is asked for the stored syntax, once', async () => {
    pacs.reset((req, res) => {
      if (req.headers.accept!.includes('transfer-syntax=*')) return void res.writeHead(406).end('no wildcard here');
      res.writeHead(200, { 'content-type': 'multipart/related; boundary=q' });
      res.end(multipartRelated([{ type: `image/jp2; transfer-syntax=${JPEG_2000}`, data: new Uint8Array(9) }], 'q'));
    });
    const c = client();
    assert.equal((await c.frame(STUDY, SERIES, INSTANCE, 1, JPEG_2000)).transferSyntaxUid, JPEG_2000);
    assert.equal((await c.frame(STUDY, SERIES, INSTANCE, 2, JPEG_2000)).data.length, 9);
    assert.deepEqual(
      pacs.requests.map((r) => r.accept),
      [
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        `multipart/related; type="image/jp2"; transfer-syntax=${JPEG_2000}`,
        `multipart/related; type="image/jp2"; transfer-syntax=${JPEG_2000}`,
      ],
    );
  });

  test('503 with Retry-After is waited out and retried; 502 backs off; each retry is heard', async () => {
    let calls = 0;
    pacs.reset((_req, res) => {
      calls++;
      if (calls === 1) return void res.writeHead(503, { 'retry-after': '1' }).end();
      if (calls === 2) return void res.writeHead(502).end();
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.end('[{}]');
    });
    const heard: string[] = [];
    const started = performance.now();
    const meta = await client({ logger: { warn: (m) => heard.push(m), info: () => undefined } }).seriesMetadata(
      STUDY,
      SERIES,
    );
    const elapsed = performance.now() - started;
    assert.deepEqual(meta, [{}]);
    assert.equal(calls, 3);
    assert.ok(elapsed >= 1000 && elapsed < 5000, `waited ${elapsed.toFixed(0)} ms for Retry-After: 1`);
    assert.equal(heard.length, 2);
    assert.match(heard[0]!, /503 Service Unavailable; trying again in 1\.0 s \(try 2 of 6\)/);
    assert.match(heard[1]!, /502 Bad Gateway; trying again in 0\.0 s \(try 3 of 6\)/);
  });

  test('retries stop after the last try, and a Retry-After beyond the limit is not waited for', async () => {
    pacs.reset((_req, res) => void res.writeHead(429).end('slow down'));
    await assert.rejects(
      client({ retries: 2 }).seriesMetadata(STUDY, SERIES),
      (e: Error) =>
        isHistoseekError(e, 'UNAVAILABLE') && /429 Too Many Requests after 3 tries: slow down/.test(e.message),
    );
    assert.equal(pacs.requests.length, 3);
    pacs.reset((_req, res) => void res.writeHead(503, { 'retry-after': '3600' }).end());
    await assert.rejects(
      client().seriesMetadata(STUDY, SERIES),
      /asks to wait 3600 s \(more than the 120 s histoseek waits\)/,
    );
    assert.equal(pacs.requests.length, 1);
  });

  test('401 says the credentials were refused and where they came from, never the secret', async () => {
    pacs.reset((req, res) => {
      res.writeHead(req.headers.authorization === 'Bearer right' ? 200 : 401, { 'www-authenticate': 'Bearer' });
      res.end(`denied ${req.headers.authorization ?? ''}`);
    });
    const address = parseDicomWebUrl(`dicomweb+http://alice:${SECRET}@127.0.0.1:${pacs.port}/dicom-web`);
    const fromUrl = await resolveCredentials({}, address.userinfo, {});
    const fromEnv = await resolveCredentials({}, undefined, { [TOKEN_ENV]: SECRET });
    for (const credentials of [fromUrl, fromEnv]) {
      const err = await client({ credentials })
        .seriesMetadata(STUDY, SERIES)
        .catch((e: Error) => e);
      assert.ok(isHistoseekError(err, 'BAD_OPTION'), String(err));
      assert.match(
        err.message,
        new RegExp(
          `^dicomweb\\+http://127\\.0\\.0\\.1:${pacs.port}/dicom-web: the server refused the credentials \\(401 Unauthorized\\): `,
        ),
      );
      assert.ok(err.message.endsWith(credentials.describe()), err.message);
      assert.ok(!err.message.includes(SECRET) && !inspect(err).includes(SECRET), err.message);
    }
    assert.equal(pacs.requests.length, 2, 'a refusal is not retried');
    assert.equal(pacs.requests[1]!.authorization, `Bearer ${SECRET}`);
    const none = await client()
      .searchSeries()
      .catch((e: Error) => e);
    assert.match(
      String(none),
      /the server asks for credentials \(401 Unauthorized\) and none were given: --dicomweb-token-file/,
    );
  });

  test('403 and 404 name what was asked for', async () => {
    pacs.reset((_req, res) => void res.writeHead(403).end());
    await assert.rejects(
      client({ credentials: DicomWebCredentials.bearer(SECRET, '--token') }).frame(STUDY, SERIES, INSTANCE, 3),
      (e: Error) =>
        /refused access \(403 Forbidden\) with a bearer token from --token to frame 3 of instance .* in series .* of study /.test(
          e.message,
        ) && !e.message.includes(SECRET),
    );
    pacs.reset((_req, res) => void res.writeHead(404).end());
    await assert.rejects(client().seriesMetadata(STUDY, SERIES), (e: Error) => {
      assert.ok(isHistoseekError(e, 'NOT_FOUND'));
      assert.match(
        e.message,
        new RegExp(
          `: series ${SERIES} of study ${STUDY} not found \\(404 Not Found, GET http://127.0.0.1:${pacs.port}/dicom-web/studies/`,
        ),
      );
      return true;
    });
  });

  test('a request without an answer is cut at the time limit, retried, then reported', async () => {
    pacs.reset(() => undefined); // never answers
    const started = performance.now();
    await assert.rejects(
      client({ timeoutMs: 200, retries: 1 }).seriesMetadata(STUDY, SERIES),
      /metadata: no answer within 0\.2 s \(after 2 tries\)/,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 400 && elapsed < 3000, `took ${elapsed.toFixed(0)} ms for two 200 ms tries`);
    assert.equal(pacs.requests.length, 2);
  });

  test('a refused connection is retried, then named with its code', async () => {
    const closed = await freePort();
    const c = new DicomWebClient(`http://127.0.0.1:${closed}/dw`, { retries: 2, backoffMs: 5, logger: quiet });
    // UNAVAILABLE: a run over many patches stops on it, rather than record each one as unreadable.
    await assert.rejects(
      c.seriesMetadata(STUDY, SERIES),
      (e: Error) =>
        isHistoseekError(e, 'UNAVAILABLE') &&
        new RegExp(`metadata: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed} \\(after 3 tries\\)$`).test(e.message),
    );
  });

  test('at most `concurrency` requests are in flight', async () => {
    pacs.reset((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.end(Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
      }, 20);
    });
    const c = client({ concurrency: 3 });
    const frames = await Promise.all(Array.from({ length: 24 }, (_, i) => c.frame(STUDY, SERIES, INSTANCE, i + 1)));
    assert.equal(frames.length, 24);
    assert.equal(frames[0]!.transferSyntaxUid, JPEG_BASELINE, 'a bare image/jpeg reply is one frame');
    assert.equal(pacs.maxInFlight, 3);
    assert.ok(pacs.requests.every((r) => r.method === 'GET'));
  });

  test("the caller's signal stops waits and requests with ABORTED", async () => {
    pacs.reset((_req, res) => void res.writeHead(503, { 'retry-after': '30' }).end());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    await assert.rejects(client({ signal: controller.signal }).seriesMetadata(STUDY, SERIES), (e: Error) =>
      isHistoseekError(e, 'ABORTED'),
    );
    assert.ok(performance.now() - started < 2000);
  });
});

/** Four 32-px frames of a 64×48 level (TILED_FULL; the bottom row half padding) in four colours, and a label. */
const LEVEL_COLOURS: readonly [number, number, number][] = [
  [200, 40, 40],
  [40, 200, 40],
  [40, 40, 200],
  [220, 200, 60],
];
const LABEL = `${INSTANCE}.9`;

function wsiMetadata(root: string): object[] {
  const common = (sop: string) => ({
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.77.1.6'] },
    '00080018': { vr: 'UI', Value: [sop] },
    '0020000D': { vr: 'UI', Value: [STUDY] },
    '0020000E': { vr: 'UI', Value: [SERIES] },
    '00100020': { vr: 'LO', Value: ['PAT-7'] },
    '00280002': { vr: 'US', Value: [3] },
    '00280004': { vr: 'CS', Value: ['YBR_FULL_422'] },
    '00280100': { vr: 'US', Value: [8] },
    '00281041': { vr: 'UR', Value: [root] },
  });
  return [
    {
      ...common(INSTANCE),
      '00080008': { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY', 'VOLUME', 'NONE'] },
      '00209311': { vr: 'CS', Value: ['TILED_FULL'] },
      '00280008': { vr: 'IS', Value: [4] },
      '00280010': { vr: 'US', Value: [32] },
      '00280011': { vr: 'US', Value: [32] },
      '00480006': { vr: 'UL', Value: [64] },
      '00480007': { vr: 'UL', Value: [48] },
      '52009229': {
        vr: 'SQ',
        Value: [{ '00289110': { vr: 'SQ', Value: [{ '00280030': { vr: 'DS', Value: [0.00025, 0.00025] } }] } }],
      },
    },
    {
      ...common(LABEL),
      '00080008': { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY', 'LABEL', 'NONE'] },
      '00280008': { vr: 'IS', Value: [1] },
      '00280010': { vr: 'US', Value: [10] },
      '00280011': { vr: 'US', Value: [20] },
    },
  ];
}

const solidJpeg = (width: number, height: number, [r, g, b]: readonly number[]) =>
  sharp({ create: { width, height, channels: 3, background: { r: r!, g: g!, b: b! } } })
    .jpeg({ quality: 95 })
    .toBuffer();

describe('DICOMweb slides', { timeout: TIMEOUT }, () => {
  const pacs = new FakePacs();
  let frames: Buffer[];
  let label: Buffer;
  let ref: string;
  before(async () => {
    await pacs.start();
    frames = await Promise.all(LEVEL_COLOURS.map((c) => solidJpeg(32, 32, c)));
    label = await solidJpeg(20, 10, [255, 255, 255]);
    ref = seriesUrl(pacs.root, STUDY, SERIES);
    useDicomWebCredentials(`dicomweb+${pacs.root}`, DicomWebCredentials.bearer(SECRET, 'the test'));
    pacs.reset((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (req.headers.authorization !== `Bearer ${SECRET}`) return void res.writeHead(401).end();
      if (url.pathname.endsWith('/series')) {
        const wanted = url.searchParams.get('SeriesInstanceUID') ?? SERIES;
        const found = url.searchParams.get('offset') === '0' && wanted === SERIES;
        res.writeHead(200, { 'content-type': 'application/dicom+json' });
        return void res.end(JSON.stringify(found ? wsiMetadata(pacs.root).slice(0, 1) : []));
      }
      if (url.pathname.endsWith('/metadata')) {
        res.writeHead(200, { 'content-type': 'application/dicom+json' });
        return void res.end(JSON.stringify(wsiMetadata(pacs.root)));
      }
      const m = /\/instances\/([0-9.]+)\/frames\/([0-9,]+)$/.exec(url.pathname);
      if (!m) return void res.writeHead(404).end();
      const parts = m[2]!.split(',').map((n) => ({
        type: `image/jpeg; transfer-syntax=${JPEG_BASELINE}`,
        data: m[1] === LABEL ? label : frames[Number(n) - 1]!,
      }));
      res.writeHead(200, { 'content-type': 'multipart/related; type="application/octet-stream"; boundary=fr' });
      res.end(multipartRelated(parts, 'fr'));
    });
  });
  after(() => pacs.stop());

  test('listSeries finds the SM series and gives its address, credentials from useDicomWebCredentials', async () => {
    assert.deepEqual(await listSeries(`dicomweb+${pacs.root}`), [ref]);
    const said: string[] = [];
    const withUser = `dicomweb+http://alice:${SECRET}@127.0.0.1:${pacs.port}/dicom-web`;
    const logger = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m) };
    const credentials = DicomWebCredentials.bearer(SECRET, 'the test');
    assert.deepEqual(await listSeries(withUser, { credentials, logger }), [ref], 'the stored address has no user');
    assert.equal(said.length, 1);
    assert.match(said[0]!, /the user and password in the address are used to connect, and kept out of the index/);
    assert.ok(!said[0]!.includes(SECRET) && !said[0]!.includes('alice'));
    await assert.rejects(
      listSeries(`dicomweb+${pacs.root}`, { series: `${SERIES}.5`, study: STUDY }),
      (e: Error) => isHistoseekError(e, 'NOT_FOUND') && /no slide-microscopy \(SM\) series/.test(e.message),
    );
  });

  test('openSlide reads the series over WADO-RS: levels, spacing, label, and regions in their colours', async () => {
    pacs.requests.length = 0;
    const slide = await openSlide(ref);
    try {
      assert.equal(slide.backend, 'dicomweb');
      assert.equal(slide.path, ref);
      assert.deepEqual(slide.levels, [{ width: 64, height: 48, downsample: 1 }]);
      assert.deepEqual(slide.mpp, { x: 0.25, y: 0.25 });
      assert.deepEqual(slide.associatedImages(), ['label']);
      assert.equal(slide.properties['dicom.PatientID'], 'PAT-7');
      assert.equal(slide.properties['dicom.TransferSyntaxUID'], JPEG_BASELINE, 'learnt from the first frames');
      // Metadata, then frame 1 of each instance (their transfer syntax): three requests to open.
      assert.equal(pacs.requests.length, 3);
      const rgb = await slide.readRegion(0, 0, 0, 64, 48);
      const at = (x: number, y: number) => [...rgb.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)];
      const worst = LEVEL_COLOURS.map((colour, i) => {
        const got = at((i % 2) * 32 + 16, Math.floor(i / 2) * 32 + 8);
        return Math.max(...got.map((v, c) => Math.abs(v - colour[c]!)));
      });
      assert.ok(Math.max(...worst) <= 3, `frame colours off by ${worst.join(', ')}`);
      // The three frames not yet kept came in one request.
      const frameRequests = pacs.requests.slice(3).map((r) => r.url.replace(/.*\/frames\//, ''));
      assert.deepEqual(frameRequests, ['2,3,4']);
      await slide.readRegion(8, 8, 0, 40, 30);
      assert.equal(pacs.requests.length, 4, 'frames already read are not fetched again');
      assert.ok(pacs.requests.every((r) => r.method === 'GET'));
      const labelImage = await slide.readAssociated('label');
      assert.deepEqual([labelImage.width, labelImage.height], [20, 10]);
    } finally {
      slide.close();
    }
  });

  test('credentials over plain http to another host are warned about; loopback and https are not', () => {
    const token = DicomWebCredentials.bearer(SECRET, TOKEN_ENV);
    const warning = plainHttpWarning('dicomweb+http://pacs.example.org/dw', token);
    assert.equal(
      warning,
      `dicomweb+http://pacs.example.org/dw: plain http, so a bearer token from ${TOKEN_ENV} crosses the network readable by anyone on the way; use https`,
    );
    assert.equal(plainHttpWarning('dicomweb+https://pacs.example.org/dw', token), null);
    assert.equal(plainHttpWarning('dicomweb+http://127.0.0.1:8042/dw', token), null);
    assert.equal(plainHttpWarning('dicomweb+http://pacs.example.org/dw', DicomWebCredentials.NONE), null);
  });

  test('a PACS refusing the credentials fails the open with the 401 wording', async () => {
    const other = `dicomweb+http://127.0.0.1:${pacs.port}/dicom-web`;
    const refused = seriesUrl(`http://localhost:${pacs.port}/dicom-web`, STUDY, SERIES);
    assert.notEqual(parseDicomWebUrl(refused).root, parseDicomWebUrl(other).root);
    await assert.rejects(
      openSlide(refused),
      (e: Error) =>
        isHistoseekError(e, 'BAD_OPTION') &&
        /the server asks for credentials \(401 Unauthorized\) and none were given/.test(e.message),
    );
  });

  // After the test above: the credentials registered for no root reach every root not yet read.
  test('credentials registered for no root serve every PACS without its own (serve --dicomweb-token-file)', async () => {
    const alias = `dicomweb+http://127.0.0.1:${pacs.port}/alias/dicom-web`;
    useDicomWebCredentials(null, DicomWebCredentials.bearer(SECRET, 'the test'));
    assert.deepEqual(await listSeries(alias), [
      seriesUrl(`http://127.0.0.1:${pacs.port}/alias/dicom-web`, STUDY, SERIES),
    ]);
    assert.equal(pacs.requests.at(-1)!.authorization, `Bearer ${SECRET}`);
  });
});

describe('header values', { timeout: TIMEOUT }, () => {
  test('media types with quoted, unquoted and nested parameters', () => {
    assert.deepEqual(parseMediaType('multipart/related; type="image/jpeg; transfer-syntax=1.2"; boundary=abc'), {
      type: 'multipart/related',
      params: { type: 'image/jpeg; transfer-syntax=1.2', boundary: 'abc' },
    });
    assert.deepEqual(parseMediaType('Image/JPEG;Transfer-Syntax=1.2.840.10008.1.2.4.50'), {
      type: 'image/jpeg',
      params: { 'transfer-syntax': '1.2.840.10008.1.2.4.50' },
    });
  });

  test('Retry-After as seconds or as a date', () => {
    assert.equal(retryAfterMs('7'), 7000);
    assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });
});
