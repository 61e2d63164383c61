/**
 * Pretrained backbone weights for real users: timm ConvNeXt V2 (or V1) checkpoints from the
 * Hugging Face hub, downloaded once into a local cache with progress, resume (HTTP Range) and a
 * SHA-256 check against the hub's LFS ETag. Nothing in histoseek downloads at run time otherwise.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export const HUB_ENDPOINT = 'https://huggingface.co';
const FILE = 'model.safetensors';

export interface PullOptions {
  cacheDir?: string;
  /** The hub's base URL (tests point it at a local server). */
  endpoint?: string;
  /** Expected SHA-256; otherwise the hub's ETag for LFS files is used when it is one. */
  sha256?: string;
  onProgress?: (done: number, total: number | null) => void;
}

export interface CachedWeights {
  name: string;
  path: string;
  bytes: number;
  sha256: string;
  url: string;
  pulledAt: string;
}

export function weightsCacheDir(): string {
  return process.env.HISTOSEEK_CACHE
    ? join(process.env.HISTOSEEK_CACHE, 'weights')
    : join(homedir(), '.cache', 'histoseek', 'weights');
}

/** A timm model name as on the hub: `convnextv2_atto.fcmae_ft_in1k`, optionally with its `timm/` prefix. */
function modelName(name: string): string {
  const bare = name.replace(/^timm\//, '');
  if (!/^convnext(v2)?_[a-z]+(\.[\w-]+)?$/.test(bare))
    throw new Error(`'${name}' is not a timm ConvNeXt (V1/V2) model name, e.g. convnextv2_atto.fcmae_ft_in1k`);
  return bare;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The expected digest: given, or the hub's LFS ETag when it is a SHA-256. */
function expectedDigest(response: Response, given?: string): string | null {
  if (given) return given.toLowerCase();
  const tag = (response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? '')
    .replace(/^W\//, '')
    .replace(/"/g, '');
  return /^[0-9a-f]{64}$/i.test(tag) ? tag.toLowerCase() : null;
}

export async function pullWeights(name: string, o: PullOptions = {}): Promise<CachedWeights> {
  const model = modelName(name);
  const dir = join(o.cacheDir ?? weightsCacheDir(), model);
  const target = join(dir, FILE);
  const partial = `${target}.part`;
  const url = `${(o.endpoint ?? process.env.HF_ENDPOINT ?? HUB_ENDPOINT).replace(/\/$/, '')}/timm/${model}/resolve/main/${FILE}`;
  await mkdir(dir, { recursive: true });
  const have = (await stat(partial).catch(() => null))?.size ?? 0;
  let response: Response;
  try {
    response = await fetch(url, { headers: have ? { Range: `bytes=${have}-` } : {}, redirect: 'follow' });
  } catch (err) {
    throw new Error(
      `cannot reach ${url}: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`,
      { cause: err },
    );
  }
  if (response.status === 404)
    throw new Error(`${url}: not found — check the model name (e.g. convnextv2_atto.fcmae_ft_in1k)`);
  if (response.status !== 200 && response.status !== 206)
    throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  const resuming = response.status === 206;
  const offset = resuming ? have : 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? offset + length : null;
  const digest = expectedDigest(response, o.sha256);

  const file = await open(partial, resuming ? 'a' : 'w');
  let done = offset;
  try {
    for await (const chunk of Readable.fromWeb(response.body! as never)) {
      await file.write(chunk as Buffer);
      done += (chunk as Buffer).length;
      o.onProgress?.(done, total);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  if (total !== null && done !== total)
    throw new Error(`${url}: the transfer stopped at ${done} of ${total} bytes; run the same command again to resume`);
  const actual = await sha256Of(partial);
  if (digest && actual !== digest) {
    await rm(partial, { force: true });
    throw new Error(`${url}: checksum mismatch (SHA-256 ${actual}, expected ${digest}); the download was discarded`);
  }
  if (!(await tensorNames(partial)).includes('stem.0.weight'))
    throw new Error(`${url}: not a ConvNeXt checkpoint (no stem.0.weight)`);
  await rename(partial, target);
  const record: CachedWeights = {
    name: model,
    path: target,
    bytes: done,
    sha256: actual,
    url,
    pulledAt: new Date().toISOString(),
  };
  await writeFile(join(dir, 'meta.json'), JSON.stringify(record, null, 1));
  return record;
}

/** Tensor names from a safetensors header, without reading the tensors. */
async function tensorNames(path: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const size = Buffer.alloc(8);
    await file.read(size, 0, 8, 0);
    const length = Number(size.readBigUInt64LE(0));
    if (length <= 0 || length > 100_000_000) return [];
    const header = Buffer.alloc(length);
    await file.read(header, 0, length, 8);
    return Object.keys(JSON.parse(header.toString('utf8')) as object);
  } catch {
    return [];
  } finally {
    await file.close();
  }
}

export async function listWeights(cacheDir = weightsCacheDir()): Promise<CachedWeights[]> {
  if (!existsSync(cacheDir)) return [];
  const out: CachedWeights[] = [];
  for (const name of (await readdir(cacheDir)).sort()) {
    const meta = join(cacheDir, name, 'meta.json');
    if (existsSync(meta) && existsSync(join(cacheDir, name, FILE)))
      out.push(JSON.parse(await readFile(meta, 'utf8')) as CachedWeights);
  }
  return out;
}

/** A --backbone value: a file, or the name of cached weights. */
export function resolveBackbone(value: string, cacheDir = weightsCacheDir()): string {
  if (existsSync(value)) return value;
  const cached = join(cacheDir, value.replace(/^timm\//, ''), FILE);
  if (existsSync(cached)) return cached;
  throw new Error(
    `--backbone ${value}: no such file, and no cached weights of that name (see 'histoseek weights list')`,
  );
}
