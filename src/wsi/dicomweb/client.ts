/**
 * A read-only DICOMweb client (PS3.18) over Node's fetch: QIDO-RS to find slide series, WADO-RS for a
 * series' metadata and single frames. It only ever sends GET: histoseek never writes to a PACS.
 *
 * A PACS is a shared hospital service, so the client is polite and patient: a few requests in flight
 * at most, a time limit on each, and retries with exponential back-off and jitter on network errors,
 * time-outs, 429 and 502/503/504 (waiting what Retry-After asks). Errors name the request (its URL
 * never holds credentials) and, for 401/403, where the refused credentials came from.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { getMultipartBoundary, parseMultipart } from '@remix-run/multipart-parser';
import pLimit, { type LimitFunction } from 'p-limit';
import { HistoseekError } from '../../util/errors.js';
import { SILENT_LOGGER, type Logger } from '../../util/logger.js';
import type { DicomJson, EncodedFrame } from '../dicom/instance.js';
import { DicomWebCredentials, PASSWORD_ENV, TOKEN_ENV, USER_ENV } from './credentials.js';
import { TransferSyntax } from '../dicom/transfer-syntax.js';
import { formatDicomWebUrl } from './dicomweb-url.js';

export interface DicomWebClientOptions {
  credentials?: DicomWebCredentials;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Time limit of one request, body included, in ms (default 30 s). */
  timeoutMs?: number;
  /** Tries after the first one for a transient failure (default 5). */
  retries?: number;
  /** Back-off before the first retry in ms (default 250), doubled for each next one. */
  backoffMs?: number;
  /** Longest back-off between two tries in ms (default 15 s). */
  maxBackoffMs?: number;
  /** A Retry-After longer than this (ms, default 2 min) is not waited for: the request fails instead. */
  maxRetryAfterMs?: number;
  /** QIDO-RS page size (`limit`, default 100). */
  pageSize?: number;
  /** Hears about retries. */
  logger?: Logger;
  /** Stops every request and wait (the error is a HistoseekError ABORTED). */
  signal?: AbortSignal;
}

/** One series a QIDO-RS search found. */
export interface SeriesHit {
  study: string;
  series: string;
  /** The attributes the server returned for it. */
  attributes: DicomJson;
}

/** What a request was about, to name it in an error. */
interface Target {
  study?: string;
  series?: string;
  instance?: string;
  frames?: readonly number[];
}

interface Reply {
  status: number;
  statusText: string;
  headers: Headers;
  body: Uint8Array;
}

export const DICOM_JSON = 'application/dicom+json';
/** Asks for each frame in the syntax it is stored in (no transcoding, no loss), whatever that is. */
const ANY_SYNTAX = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
/** Statuses worth another try: too many requests, and a gateway or server that is momentarily away. */
const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Network errors that trying again will not mend (unknown host, a TLS certificate refused). */
const PERMANENT_NETWORK = /^(ENOTFOUND|ERR_INVALID_URL|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED)/;
/** Frames as large as an uncompressed 4096² RGB tile pass; anything larger is not a tile. */
const MAX_FRAME_BYTES = 64 * 2 ** 20;

/**
 * Media types of frames and the transfer syntax each stands for when the server names none (PS3.18
 * Table 8.7.3-5: the default transfer syntax of each media type).
 */
const DEFAULT_SYNTAX: Readonly<Record<string, string>> = {
  'application/octet-stream': TransferSyntax.explicitLittle,
  'image/jpeg': TransferSyntax.jpegBaseline,
  'image/jls': TransferSyntax.jpegLsLossless,
  'image/jp2': TransferSyntax.jpeg2000Lossless,
  'image/jpx': TransferSyntax.jpeg2000Part2Lossless,
  'image/dicom-rle': TransferSyntax.rleLossless,
};

/** The media type that carries frames of a transfer syntax, to ask for it by name. */
function mediaTypeOf(syntax: string): string | undefined {
  if (/^1\.2\.840\.10008\.1\.2\.4\.(50|51|57|70)$/.test(syntax)) return 'image/jpeg';
  if (/^1\.2\.840\.10008\.1\.2\.4\.8[01]$/.test(syntax)) return 'image/jls';
  if (/^1\.2\.840\.10008\.1\.2\.4\.9[01]$/.test(syntax)) return 'image/jp2';
  if (/^1\.2\.840\.10008\.1\.2\.4\.9[23]$/.test(syntax)) return 'image/jpx';
  if (syntax === TransferSyntax.rleLossless) return 'image/dicom-rle';
  if (/^1\.2\.840\.10008\.1\.2(\.1|\.2|\.1\.99)?$/.test(syntax)) return 'application/octet-stream';
  return undefined;
}

/**
 * A media type and its parameters, leniently: PACS are not all strict about quoting (`type=image/jpeg`
 * unquoted is common), which the strict parsers (the `content-type` package) refuse.
 */
export function parseMediaType(value: string): { type: string; params: Record<string, string> } {
  const pieces = value.match(/(?:[^;"]|"(?:[^"\\]|\\.)*")+/g) ?? [''];
  const params: Record<string, string> = {};
  for (const piece of pieces.slice(1)) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    const raw = piece.slice(eq + 1).trim();
    params[piece.slice(0, eq).trim().toLowerCase()] = raw.startsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
      : raw;
  }
  return { type: pieces[0]!.trim().toLowerCase(), params };
}

export class DicomWebClient {
  /** The root as printed in messages: `dicomweb+https://host/path`. */
  readonly display: string;
  readonly credentials: DicomWebCredentials;
  private readonly limit: LimitFunction;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly pageSize: number;
  private readonly logger: Logger;
  private readonly signal: AbortSignal | undefined;
  /** The Accept header the server answered frames with, once one has worked. */
  private frameAccept: string | undefined;

  /** `root`: the DICOMweb root as an http(s) URL without credentials (DicomWebAddress.root). */
  constructor(
    readonly root: string,
    options: DicomWebClientOptions = {},
  ) {
    this.display = formatDicomWebUrl({ root });
    this.credentials = options.credentials ?? DicomWebCredentials.NONE;
    this.limit = pLimit(positive(options.concurrency ?? 4, 'concurrency'));
    this.timeoutMs = positive(options.timeoutMs ?? 30_000, 'timeoutMs');
    this.retries = options.retries ?? 5;
    this.backoffMs = options.backoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 15_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000;
    this.pageSize = positive(options.pageSize ?? 100, 'pageSize');
    this.logger = options.logger ?? SILENT_LOGGER;
    this.signal = options.signal;
  }

  /**
   * The slide-microscopy (SM) series under the root, or in one study, or one series: QIDO-RS, page by
   * page until a page comes back short (a server that caps pages below `limit` says so with a 299
   * Warning, and is then read on at its own page size).
   */
  async searchSeries(filter: { study?: string; series?: string } = {}): Promise<SeriesHit[]> {
    const base = filter.study === undefined ? '/series' : `/studies/${filter.study}/series`;
    const hits = new Map<string, SeriesHit>();
    let pageSize = this.pageSize;
    for (let offset = 0; ;) {
      const query = new URLSearchParams({ Modality: 'SM', limit: String(this.pageSize), offset: String(offset) });
      if (filter.series !== undefined) query.set('SeriesInstanceUID', filter.series);
      const reply = await this.request(`${base}?${query}`, DICOM_JSON, filter);
      const page = reply.status === 204 ? [] : jsonArray(reply, `${this.url(base)} (QIDO-RS)`);
      const before = hits.size;
      for (const attributes of page) {
        const study = uidOf(attributes, '0020000D') ?? filter.study;
        const series = uidOf(attributes, '0020000E');
        if (study && series) hits.set(series, { study, series, attributes });
      }
      const more = /^\s*299\b/.test(reply.headers.get('warning') ?? '');
      if (more && page.length > 0 && page.length < pageSize) pageSize = page.length;
      // A server that ignores `offset` sends the same page again: stop rather than loop.
      if (page.length < pageSize || hits.size === before) break;
      offset += page.length;
    }
    return [...hits.values()];
  }

  /** WADO-RS metadata of a series: one DICOM JSON object per instance. */
  async seriesMetadata(study: string, series: string): Promise<DicomJson[]> {
    const path = `/studies/${study}/series/${series}/metadata`;
    const reply = await this.request(path, DICOM_JSON, { study, series });
    return jsonArray(reply, `${this.url(path)} (WADO-RS metadata)`);
  }

  /** Frame `frame` (1-based) of an instance: frames() for one. */
  async frame(
    study: string,
    series: string,
    instance: string,
    frame: number,
    storedSyntax?: string,
  ): Promise<EncodedFrame> {
    return (await this.frames(study, series, instance, [frame], storedSyntax))[0]!;
  }

  /**
   * Frames of an instance (1-based numbers, in one request: WADO-RS takes a frame list), in the order
   * asked, each in the syntax it is stored in when the server offers that (`transfer-syntax=*`); a
   * server that refuses that (406 Not Acceptable) is asked for the stored syntax by name
   * (`storedSyntax`, when known), then uncompressed, then JPEG. The Accept that worked is kept for the
   * next requests.
   */
  async frames(
    study: string,
    series: string,
    instance: string,
    frames: readonly number[],
    storedSyntax?: string,
  ): Promise<EncodedFrame[]> {
    const bad = frames.find((n) => !Number.isSafeInteger(n) || n < 1);
    if (frames.length === 0 || bad !== undefined)
      throw new RangeError(`frame numbers start at 1, got [${frames.join(', ')}]`);
    const path = `/studies/${study}/series/${series}/instances/${instance}/frames/${frames.join(',')}`;
    const target = { study, series, instance, frames };
    const accepts = this.frameAccept ? [this.frameAccept] : frameAccepts(storedSyntax);
    for (const [i, accept] of accepts.entries()) {
      let reply: Reply;
      try {
        reply = await this.request(path, accept, target);
      } catch (e) {
        const refused = e instanceof RefusedMediaType && i < accepts.length - 1;
        if (refused) continue;
        throw e instanceof RefusedMediaType ? e.error : e;
      }
      this.frameAccept = accept;
      const got = framesOf(reply, this.url(path));
      if (got.length !== frames.length)
        throw new Error(`${this.url(path)}: asked for ${frames.length} frames, the reply holds ${got.length}`);
      return got;
    }
    throw new Error('unreachable: the last Accept rethrows');
  }

  private url(path: string): string {
    return `${this.root}${path}`;
  }

  /** One GET, tried again on transient failures; resolves only with a 2xx reply. */
  private async request(path: string, accept: string, target: Target): Promise<Reply> {
    const url = this.url(path);
    for (let attempt = 0; ; attempt++) {
      let reply: Reply;
      try {
        reply = await this.limit(() => this.attempt(url, accept));
      } catch (e) {
        if (this.signal?.aborted) throw new HistoseekError('ABORTED', `${url}: stopped`, { cause: e });
        const why = networkReason(e, this.timeoutMs);
        if (!why.transient) throw new Error(`GET ${url}: ${why.text}`, { cause: e });
        if (attempt >= this.retries)
          throw new HistoseekError('UNAVAILABLE', `GET ${url}: ${why.text} (after ${attempt + 1} tries)`, { cause: e });
        await this.wait(this.backoff(attempt), url, why.text, attempt);
        continue;
      }
      if (reply.status >= 200 && reply.status < 300) return reply;
      if (RETRY_STATUSES.has(reply.status) && attempt < this.retries) {
        const after = retryAfterMs(reply.headers.get('retry-after'));
        if (after !== undefined && after > this.maxRetryAfterMs)
          throw new HistoseekError(
            'UNAVAILABLE',
            `GET ${url}: ${reply.status} ${reply.statusText}, and the server asks to wait ${Math.round(after / 1000)} s (more than the ${this.maxRetryAfterMs / 1000} s histoseek waits)`,
          );
        await this.wait(after ?? this.backoff(attempt), url, `${reply.status} ${reply.statusText}`, attempt);
        continue;
      }
      throw this.httpError(url, accept, reply, target, attempt);
    }
  }

  /** One try: the whole body is read inside the time limit and the concurrency slot. */
  private async attempt(url: string, accept: string): Promise<Reply> {
    const headers: Record<string, string> = { accept };
    const authorization = this.credentials.authorization();
    if (authorization) headers.authorization = authorization;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
    const response = await fetch(url, { method: 'GET', headers, signal, redirect: 'follow' });
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, statusText: response.statusText, headers: response.headers, body };
  }

  /** Exponential back-off with jitter: between half and all of backoffMs·2^attempt, capped. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  private async wait(ms: number, url: string, why: string, attempt: number): Promise<void> {
    this.logger.warn(
      `GET ${url}: ${why}; trying again in ${(ms / 1000).toFixed(1)} s (try ${attempt + 2} of ${this.retries + 1})`,
    );
    try {
      await sleep(ms, undefined, { signal: this.signal });
    } catch (e) {
      throw new HistoseekError('ABORTED', `${url}: stopped`, { cause: e });
    }
  }

  private httpError(url: string, accept: string, reply: Reply, target: Target, attempt: number): Error {
    const status = `${reply.status} ${reply.statusText}`.trim();
    switch (reply.status) {
      case 401:
        return new HistoseekError(
          'BAD_OPTION',
          this.credentials.scheme === 'none'
            ? `${this.display}: the server asks for credentials (${status}) and none were given: --dicomweb-token-file, --dicomweb-user with --dicomweb-password-file, or ${TOKEN_ENV} (${USER_ENV} with ${PASSWORD_ENV})`
            : `${this.display}: the server refused the credentials (${status}): ${this.credentials.describe()}`,
        );
      case 403:
        return new HistoseekError(
          'BAD_OPTION',
          `${this.display}: the server refused access (${status}) with ${this.credentials.describe()}${describeTarget(target) ? ` to ${describeTarget(target)}` : ''}`,
        );
      case 404:
        return new HistoseekError(
          'NOT_FOUND',
          `${this.display}: ${describeTarget(target) || 'the DICOMweb service'} not found (${status}, GET ${url})`,
        );
      case 406: {
        const error = new Error(`GET ${url}: the server cannot send ${accept} (${status})${serverSays(reply)}`);
        return target.frames === undefined ? error : new RefusedMediaType(error);
      }
    }
    const tries = attempt > 0 ? ` after ${attempt + 1} tries` : '';
    const message = `GET ${url}: ${status}${tries}${serverSays(reply)}`;
    // Busy or unreachable through every retry: the PACS, not this request, is the problem.
    return RETRY_STATUSES.has(reply.status) ? new HistoseekError('UNAVAILABLE', message) : new Error(message);
  }
}

/** A frame request refused for its Accept header: the next one is tried. */
class RefusedMediaType extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

/** The Accept headers to try for a frame, in order. */
function frameAccepts(storedSyntax: string | undefined): string[] {
  const stored = storedSyntax && mediaTypeOf(storedSyntax);
  return [
    ANY_SYNTAX,
    ...(stored ? [`multipart/related; type="${stored}"; transfer-syntax=${storedSyntax}`] : []),
    `multipart/related; type="application/octet-stream"; transfer-syntax=${TransferSyntax.explicitLittle}`,
    'multipart/related; type="image/jpeg"',
  ].filter((accept, i, all) => all.indexOf(accept) === i);
}

/**
 * The frames of a WADO-RS reply, each with its transfer syntax: the part's Content-Type parameter,
 * else the one in the reply's `type` parameter (where Orthanc puts it), else the media type's default.
 * A server that answers with a bare (not multipart) body sent one frame.
 */
function framesOf(reply: Reply, url: string): EncodedFrame[] {
  const contentType = reply.headers.get('content-type') ?? 'application/octet-stream';
  const outer = parseMediaType(contentType);
  if (!outer.type.startsWith('multipart/')) return [{ data: reply.body, transferSyntaxUid: syntaxOf(outer, url) }];
  const boundary = getMultipartBoundary(contentType);
  if (!boundary) throw new Error(`${url}: multipart reply without a boundary (Content-Type: ${contentType})`);
  const declared = outer.params.type ? parseMediaType(outer.params.type) : undefined;
  const frames: EncodedFrame[] = [];
  try {
    for (const part of parseMultipart(withoutPreamble(reply.body, boundary), {
      boundary,
      maxFileSize: MAX_FRAME_BYTES,
      maxTotalSize: Math.max(MAX_FRAME_BYTES, reply.body.length),
    })) {
      const partType = part.headers['content-type'];
      const own = partType ? parseMediaType(partType) : declared;
      const syntax = own?.params['transfer-syntax'] ?? declared?.params['transfer-syntax'];
      frames.push({
        data: part.bytes,
        transferSyntaxUid: syntax ?? syntaxOf(own ?? { type: 'application/octet-stream', params: {} }, url),
      });
    }
  } catch (e) {
    throw new Error(`${url}: malformed multipart reply: ${(e as Error).message}`, { cause: e });
  }
  return frames;
}

/**
 * The body from its first boundary on: RFC 2046 allows text before it (a preamble), which the
 * multipart parser does not skip.
 */
function withoutPreamble(body: Uint8Array, boundary: string): Uint8Array {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (bytes.subarray(0, boundary.length + 2).toString('latin1') === `--${boundary}`) return body;
  const at = bytes.indexOf(`\r\n--${boundary}`, 0, 'latin1');
  return at < 0 ? body : body.subarray(at + 2);
}

function syntaxOf(media: { type: string; params: Record<string, string> }, url: string): string {
  const syntax = media.params['transfer-syntax'] ?? DEFAULT_SYNTAX[media.type];
  if (!syntax) throw new Error(`${url}: a frame of media type '${media.type}', which is not a DICOM frame type`);
  return syntax;
}

function jsonArray(reply: Reply, what: string): DicomJson[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(reply.body));
  } catch (e) {
    throw new Error(`${what}: the reply is not JSON (${(e as Error).message})`, { cause: e });
  }
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'object' || v === null || Array.isArray(v)))
    throw new Error(`${what}: expected an array of DICOM JSON objects`);
  return value as DicomJson[];
}

function uidOf(attributes: DicomJson, tag: string): string | undefined {
  const value = attributes[tag]?.Value?.[0];
  return typeof value === 'string' && value ? value : undefined;
}

/** Retry-After in ms: delay-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Why a fetch threw, and whether another try may succeed. */
function networkReason(e: unknown, timeoutMs: number): { text: string; transient: boolean } {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return { text: `no answer within ${timeoutMs / 1000} s`, transient: true };
  const code = err?.cause?.code;
  const message = err?.cause?.message ?? err?.message ?? String(e);
  const text = code && !message.includes(code) ? `${message} (${code})` : message;
  return { text, transient: !PERMANENT_NETWORK.test(code ?? '') };
}

function describeTarget(t: Target): string {
  const parts = [
    t.frames !== undefined && `frame${t.frames.length > 1 ? 's' : ''} ${t.frames.join(',')}`,
    t.instance !== undefined && `of instance ${t.instance}`,
    t.series !== undefined && `${t.instance !== undefined ? 'in ' : ''}series ${t.series}`,
    t.study !== undefined && `${t.series !== undefined ? 'of ' : ''}study ${t.study}`,
  ].filter((p): p is string => typeof p === 'string');
  return parts.join(' ');
}

/** The start of a server's error body, on one line: often the only hint of what it disliked. */
function serverSays(reply: Reply): string {
  const text = new TextDecoder().decode(reply.body.subarray(0, 300)).replace(/\s+/g, ' ').trim();
  return text ? `: ${text}` : '';
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new RangeError(`${name} must be positive, got ${value}`);
  return value;
}
