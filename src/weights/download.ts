/**
 * One file from the Hugging Face hub (or a mirror), streamed to disk: resumed with HTTP Range after
 * an interruption, hashed while it is written, checked against the hub's SHA-256, and renamed onto
 * its final path only when complete and checked. Files run to several GB, so nothing holds more
 * than a network chunk in memory, and a half-written file only ever lies at `<target>.part`.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';

export interface DownloadRequest {
  url: string;
  /** Where the complete file goes; the transfer writes `<target>.part` until then. */
  target: string;
  /** A hub access token, sent as `Authorization: Bearer` to the URL's own origin only (never to a CDN it redirects to). */
  token?: string;
  /** The expected SHA-256; otherwise the hub's LFS ETag (X-Linked-Etag) when it is one. */
  sha256?: string;
  onProgress?: (done: number, total: number | null) => void;
  /** The message for a 401 or 403 (with the hub's own X-Error-Message): which token to set, which page to accept terms on. */
  denied?: (status: number, hubMessage: string | null) => string;
  /** Checks the complete, checksummed file before it replaces the target; throws to refuse it. */
  check?: (path: string) => Promise<void>;
}

export interface Downloaded {
  bytes: number;
  sha256: string;
  /** Whether there was a digest to check against (the hub's, or the one given). */
  checked: boolean;
}

/** An HTTP answer that is not the file: its status lets callers try another file on a 404. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_REDIRECTS = 10;

/** The LFS object's SHA-256 from a hub response: X-Linked-Etag, or an ETag that is a SHA-256. */
function lfsDigest(headers: Headers): string | null {
  const tag = (headers.get('x-linked-etag') ?? headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  return /^[0-9a-f]{64}$/i.test(tag) ? tag.toLowerCase() : null;
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return (err.cause as Error | undefined)?.message ?? err.message;
}

/**
 * GET with redirects followed by hand: the hub answers /resolve/ with a redirect to its CDN that
 * carries the file's SHA-256 (X-Linked-Etag), which an automatic redirect would hide, and the token
 * must not travel to another origin.
 */
async function get(url: string, from: number, token?: string): Promise<{ response: Response; digest: string | null }> {
  const origin = new URL(url).origin;
  let current = new URL(url);
  let digest: string | null = null;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = {};
    if (from > 0) headers.Range = `bytes=${from}-`;
    if (token && current.origin === origin) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetch(current, { headers, redirect: 'manual' });
    } catch (err) {
      throw new Error(`cannot reach ${current.href}: ${reason(err)}`, { cause: err });
    }
    digest ??= lfsDigest(response.headers);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      current = new URL(location, current);
      continue;
    }
    return { response, digest };
  }
  throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => null))?.size ?? 0;
}

/** Hashes what an earlier, interrupted transfer left, so the digest covers the whole file. */
async function hashPrefix(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Where a 206 answer starts: a server may ignore the asked-for offset, and appending then would corrupt the file. */
function rangeStart(response: Response): number | null {
  const match = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : null;
}

export async function downloadFile(request: DownloadRequest): Promise<Downloaded> {
  const { url, target } = request;
  const partial = `${target}.part`;
  let have = await sizeOf(partial);
  let { response, digest } = await get(url, have, request.token);
  if (response.status === 416 && have > 0) {
    // The part file is no prefix of this file (it changed on the hub, or is complete already): start afresh.
    await response.body?.cancel();
    await rm(partial, { force: true });
    have = 0;
    ({ response, digest } = await get(url, 0, request.token));
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new HttpStatusError(
      response.status,
      request.denied?.(response.status, response.headers.get('x-error-message')) ??
        `${url}: HTTP ${response.status} ${response.statusText}`,
    );
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new HttpStatusError(response.status, `${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const resuming = response.status === 206 && have > 0;
  if (resuming && rangeStart(response) !== have) {
    await response.body?.cancel();
    throw new Error(`${url}: asked for bytes from ${have}, the server sent ${response.headers.get('content-range')}`);
  }
  const expected = request.sha256?.toLowerCase() ?? digest;
  const offset = resuming ? have : 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? offset + length : null;

  await mkdir(dirname(target), { recursive: true });
  const hash = createHash('sha256');
  if (resuming) await hashPrefix(hash, partial);
  const file = await open(partial, resuming ? 'a' : 'w');
  let done = offset;
  try {
    for await (const chunk of Readable.fromWeb(response.body! as never)) {
      await file.write(chunk as Buffer);
      hash.update(chunk as Buffer);
      done += (chunk as Buffer).length;
      request.onProgress?.(done, total);
    }
    await file.sync();
  } catch (err) {
    throw new Error(
      `${url}: the transfer stopped at ${done}${total === null ? '' : ` of ${total}`} bytes (${reason(err)}); run the same command again to resume`,
      { cause: err },
    );
  } finally {
    await file.close();
  }
  if (total !== null && done !== total)
    throw new Error(`${url}: the transfer stopped at ${done} of ${total} bytes; run the same command again to resume`);
  const actual = hash.digest('hex');
  if (expected && actual !== expected) {
    await rm(partial, { force: true });
    throw new Error(`${url}: checksum mismatch (SHA-256 ${actual}, expected ${expected}); the download was discarded`);
  }
  try {
    await request.check?.(partial);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, target);
  return { bytes: done, sha256: actual, checked: expected !== null };
}
