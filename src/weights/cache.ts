/**
 * The local weights cache: one folder per model, holding the checkpoint file and a meta.json that
 * says where it came from, its SHA-256 and its licence. meta.json is written last and atomically,
 * so a folder without one holds nothing complete.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

/** A licence as a model card names it, and the page to read (and, for gated models, accept) it on. */
export interface Licence {
  /** SPDX id where there is one (CC-BY-NC-ND-4.0, Apache-2.0), else the card's own name. */
  name: string;
  url: string;
}

export interface CachedWeights {
  /** The cache folder's name: a registry name (`uni`) or a timm model name. */
  name: string;
  /** Absolute path of the checkpoint file. */
  path: string;
  /** The checkpoint's file name in its repository (model.safetensors, pytorch_model.bin). */
  file: string;
  bytes: number;
  sha256: string;
  /** Whether the SHA-256 was checked against the hub's (or a given) digest when it was pulled. */
  checked?: boolean;
  url: string;
  pulledAt: string;
  /** The hub repository (`MahmoodLab/UNI`); absent in caches written before foundation models. */
  repo?: string;
  licence?: Licence;
}

const META = 'meta.json';
/** Caches written before foundation models held only timm's model.safetensors and no `file`. */
const LEGACY_FILE = 'model.safetensors';

export function weightsCacheDir(): string {
  return process.env.HISTOSEEK_CACHE
    ? join(process.env.HISTOSEEK_CACHE, 'weights')
    : join(homedir(), '.cache', 'histoseek', 'weights');
}

/** The complete cached checkpoint in `dir`, or null when there is none (never pulled, or interrupted). */
export async function readCacheRecord(dir: string): Promise<CachedWeights | null> {
  const metaPath = join(dir, META);
  if (!existsSync(metaPath)) return null;
  let record: CachedWeights;
  try {
    record = JSON.parse(await readFile(metaPath, 'utf8')) as CachedWeights;
  } catch (err) {
    throw new Error(
      `${metaPath}: unreadable cache record (${(err as Error).message}); delete the folder and pull again`,
      {
        cause: err,
      },
    );
  }
  const file = record.file ?? LEGACY_FILE;
  // The path is derived from where the cache is now, so a moved cache still resolves.
  const path = join(dir, file);
  return existsSync(path) ? { ...record, file, path } : null;
}

export async function writeCacheRecord(dir: string, record: CachedWeights): Promise<void> {
  await writeFileAtomic(join(dir, META), `${JSON.stringify(record, null, 1)}\n`);
}

export async function listWeights(cacheDir = weightsCacheDir()): Promise<CachedWeights[]> {
  if (!existsSync(cacheDir)) return [];
  const out: CachedWeights[] = [];
  for (const name of (await readdir(cacheDir)).sort()) {
    const record = await readCacheRecord(join(cacheDir, name));
    if (record) out.push(record);
  }
  return out;
}
