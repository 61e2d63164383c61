/**
 * A real PACS for the tests: Debian's Orthanc 1.10 with its DICOMweb plugin, started from a
 * configuration of our own on a free loopback port, with its own temporary storage and HTTP basic
 * authentication on (the system's orthanc service, if any, is neither needed nor touched); and
 * Debian's OrthancWSIDicomizer (orthanc-wsi), which turns a slide into a DICOM WSI series.
 *
 * Orthanc 1.10 knows only basic authentication: bearer tokens need its authorization plugin, which
 * Debian does not ship, and its Lua request filter can only answer 403, where a token gateway answers
 * 401. So the bearer case runs through startBearerProxy, a loopback gateway in this process that
 * checks the token and forwards to Orthanc with the basic credentials, as a hospital's reverse proxy
 * or an OAuth-protected DICOMweb service stands in front of the archive. Being in this process, it
 * answers only while the event loop runs: drive it with children started asynchronously
 * (startHistoseekWith), never with spawnSync.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { renderSlide, writePyramidalTiff, type SlideOptions } from '../src/data/synthetic/index.js';
import { openSlide } from '../src/wsi/slide.js';
import { freePort, stopChild, temporaryFolder } from './helpers.js';

export const ORTHANC = '/usr/sbin/Orthanc';
export const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';
export const DICOMIZER = '/usr/bin/OrthancWSIDicomizer';
/** The dicomizer reads vendor formats (.svs) through OpenSlide, loaded from this path. */
export const LIBOPENSLIDE = '/usr/lib/x86_64-linux-gnu/libopenslide.so.0';

/** False where Orthanc, its DICOMweb plugin and the dicomizer are installed, else why the tests skip. */
export const SKIP_ORTHANC: string | false = (() => {
  const missing = [ORTHANC, DICOMWEB_PLUGIN, DICOMIZER, LIBOPENSLIDE].filter((p) => !existsSync(p));
  return missing.length === 0
    ? false
    : `${missing.join(', ')} absent (Debian packages orthanc, orthanc-dicomweb, orthanc-wsi, libopenslide0; .ci/run installs them)`;
})();

/** How long Orthanc may take to answer /system after it is started. */
const START_TIMEOUT_MS = 60_000;
/** How long Orthanc may run at all: a server a test forgot is killed then (a test file's limit). */
const LIFETIME_MS = 900_000;
/** How long one request to Orthanc, or one dicomizer run, may take. */
const REQUEST_TIMEOUT_MS = 60_000;
const DICOMIZER_TIMEOUT_MS = 120_000;
/** Orthanc's log kept for error messages (its tail). */
const LOG_KEEP = 16_384;

/** Every Orthanc started here, killed at exit should its caller end without stopping it. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface RunningOrthanc {
  port: number;
  /** The REST API's root: `http://127.0.0.1:PORT`. */
  url: string;
  /** The DICOMweb root (QIDO-RS, WADO-RS): `http://127.0.0.1:PORT/dicom-web`. */
  dicomWeb: string;
  user: string;
  password: string;
  /** The Authorization header's value for user and password. */
  authorization: string;
  /** A request to the REST API with the credentials, and a time limit. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stores DICOM files (POST /instances); returns each series stored, by its DICOM UIDs. */
  upload(files: readonly string[]): Promise<StoredSeries[]>;
  /** SIGTERM, then SIGKILL if it has not exited 10 s later. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage (stopping it first if it runs). */
  restart(): Promise<void>;
  /** The tail of what Orthanc has logged (warnings and errors). */
  log(): string;
}

export interface StoredSeries {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Instances stored in this call. */
  instances: number;
}

/**
 * Starts Orthanc with DICOMweb on a free loopback port (remote access refused, DICOM network server
 * off), its storage and index in a new temporary folder, basic authentication on for one user with a
 * random password; resolves once /system answers. The caller stops it (a test file: in an `after`
 * hook; no hook is registered here, so that a benchmark can use it too); one still running when
 * the process exits is killed.
 */
export async function startOrthanc(): Promise<RunningOrthanc> {
  const dir = await temporaryFolder('histoseek-orthanc-');
  const port = await freePort();
  const user = 'histoseek';
  const password = randomBytes(12).toString('base64url');
  const config = join(dir, 'orthanc.json');
  await writeFile(
    config,
    JSON.stringify({
      Name: 'histoseek-test',
      StorageDirectory: join(dir, 'storage'),
      IndexDirectory: join(dir, 'storage'),
      HttpPort: port,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: true,
      RegisteredUsers: { [user]: password },
      DicomServerEnabled: false,
      OrthancExplorerEnabled: false,
      WebDavEnabled: false,
      SaveJobs: false,
      MetricsEnabled: false,
      HttpThreadsCount: 16,
      Plugins: [DICOMWEB_PLUGIN],
      DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false },
    }),
  );
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const url = `http://127.0.0.1:${port}`;
  const fetchOrthanc = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });

  let child: ChildProcess | null = null;
  let log = '';
  const start = async () => {
    log = '';
    const c = spawn(ORTHANC, [config], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: LIFETIME_MS,
      killSignal: 'SIGKILL',
    });
    child = c;
    running.add(c);
    c.once('exit', () => running.delete(c));
    c.stderr!.on('data', (d) => (log = (log + d).slice(-LOG_KEEP)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null)
        throw new Error(`Orthanc exited (${c.exitCode ?? c.signalCode}) before answering on port ${port}:\n${log}`);
      try {
        if ((await fetchOrthanc('/system')).ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline)
        throw new Error(`Orthanc did not answer on port ${port} within ${START_TIMEOUT_MS} ms:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = () => (child ? stopChild(child, 'SIGTERM') : Promise.resolve());
  await start();

  return {
    port,
    url,
    dicomWeb: `${url}/dicom-web`,
    user,
    password,
    authorization,
    fetch: fetchOrthanc,
    stop,
    async restart() {
      await stop();
      await start();
    },
    log: () => log,
    async upload(files) {
      const counts = new Map<string, number>();
      for (const file of files) {
        const r = await fetchOrthanc('/instances', { method: 'POST', body: await readFile(file) });
        const body = await r.text();
        assert.equal(r.status, 200, `uploading ${file} to Orthanc: ${r.status} ${body}`);
        const series = (JSON.parse(body) as { ParentSeries: string }).ParentSeries;
        counts.set(series, (counts.get(series) ?? 0) + 1);
      }
      const stored: StoredSeries[] = [];
      for (const [id, instances] of counts) {
        const tags = async (path: string) =>
          ((await (await fetchOrthanc(path)).json()) as { MainDicomTags: Record<string, string> }).MainDicomTags;
        stored.push({
          studyInstanceUid: (await tags(`/series/${id}/study`)).StudyInstanceUID!,
          seriesInstanceUid: (await tags(`/series/${id}`)).SeriesInstanceUID!,
          instances,
        });
      }
      return stored;
    },
  };
}

export interface BearerProxy {
  /** `http://127.0.0.1:PORT/dicom-web`: Orthanc's DICOMweb root behind the token check. */
  dicomWeb: string;
  /** Requests refused (no or wrong token) and forwarded so far. */
  counts: { refused: number; forwarded: number };
  /** The HTTP methods of the requests it forwarded. */
  methods: Set<string>;
  close(): Promise<void>;
}

/**
 * A loopback gateway that takes `Authorization: Bearer TOKEN` (and nothing else: 401 with a Bearer
 * challenge, as RFC 6750 has it) and forwards each request to Orthanc with its basic credentials.
 * The Host header goes through unchanged, so the URLs Orthanc writes into its answers point at the
 * gateway. The caller closes it; one left open does not keep the process alive.
 */
export async function startBearerProxy(orthanc: RunningOrthanc, token: string): Promise<BearerProxy> {
  const counts = { refused: 0, forwarded: 0 };
  const methods = new Set<string>();
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      counts.refused++;
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="pacs", error="${req.headers.authorization ? 'invalid_token' : 'invalid_request'}"`,
      });
      res.end(JSON.stringify({ error: 'a valid bearer token is required' }));
      return;
    }
    counts.forwarded++;
    methods.add(req.method!);
    const upstream = request(
      {
        host: '127.0.0.1',
        port: orthanc.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, authorization: orthanc.authorization },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('Orthanc did not answer in time')));
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `the gateway could not reach the archive: ${err.message}` }));
    });
    req.pipe(upstream);
  };
  const server = createServer(forward);
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.unref();
  const { port } = server.address() as { port: number };
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { dicomWeb: `http://127.0.0.1:${port}/dicom-web`, counts, methods, close };
}

export interface DicomizeOptions {
  /** The tiles' compression; default: the source's tiles copied as they are (JPEG here). */
  compression?: 'jpeg' | 'jpeg2000';
  /** Rebuild the pyramid from level 0 with this many levels (--pyramid 1 --levels N). */
  levels?: number;
}

/**
 * Converts a slide to a DICOM WSI series with OrthancWSIDicomizer, into `outDir`; returns the files.
 * Imaged Volume is given from the source's size and µm/px so that Pixel Spacing comes out right: the
 * dicomizer writes Image Orientation (Slide) 0\-1\0\-1\0\0, so the slide's x axis (the imaged
 * width) runs along the image's rows and Pixel Spacing's row spacing is imaged width / rows.
 */
export async function dicomize(source: string, outDir: string, o: DicomizeOptions = {}): Promise<string[]> {
  const slide = await openSlide(source);
  const { width, height } = slide.levels[0]!;
  const mpp = slide.mpp;
  slide.close();
  assert.ok(mpp, `${source} records no µm/px to give the dicomizer`);
  const args = [
    '--openslide',
    LIBOPENSLIDE,
    '--folder',
    outDir,
    '--imaged-width',
    String((height * mpp.y) / 1000),
    '--imaged-height',
    String((width * mpp.x) / 1000),
  ];
  if (o.compression) args.push('--compression', o.compression);
  if (o.levels) args.push('--pyramid', '1', '--levels', String(o.levels));
  try {
    await promisify(execFile)(DICOMIZER, [...args, source], {
      timeout: DICOMIZER_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`OrthancWSIDicomizer ${args.join(' ')} ${source} failed: ${e.message}\n${e.stderr ?? ''}`, {
      cause: err,
    });
  }
  return (await readdir(outDir))
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((f) => join(outDir, f));
}

/** Writes a synthetic H&E slide as the synthetic collections store theirs: pyramidal JPEG TIFF at 0.5 µm/px. */
export async function writeSyntheticSlide(file: string, options: SlideOptions): Promise<void> {
  const slide = renderSlide(options);
  await writePyramidalTiff(sharp(slide.rgb, { raw: { width: slide.width, height: slide.height, channels: 3 } }), file);
}
