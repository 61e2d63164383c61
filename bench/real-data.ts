/**
 * bench:real's tiles: the real H&E sets in ../shared/data (see its NOTICE.md), read from their
 * manifests. Each tile carries the group its fold is made of: the source specimen where the
 * manifest names one (Kather 2016), else the tile itself (the NCT sets name no specimen).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR } from './common.js';

export const SHARED = path.resolve(BENCH_DIR, '../../shared');
export const SHARED_DATA = path.join(SHARED, 'data');
export const SHARED_MODELS = path.join(SHARED, 'models');
export const KATHER2016 = path.join(SHARED_DATA, 'kather2016-samples');
export const NCT_CRC_HE = path.join(SHARED_DATA, 'nct-crc-he-samples');
/** ImageNet MobileNetV2, int8 (../shared/models/NOTICE.md). */
export const MOBILENET = path.join(SHARED_MODELS, 'mobilenetv2-12-int8.onnx');

/** How a set's folds are made: by source specimen, or one tile at a time where no specimen is named. */
export type Protocol = 'leave-one-specimen-out' | 'leave-one-tile-out';

export interface Tile {
  /** Absolute path of the image file. */
  path: string;
  label: string;
  /** Tiles of one group are queried together and never searched for each other. */
  group: string;
}

export interface TileSet {
  name: string;
  protocol: Protocol;
  tiles: Tile[];
}

/** Why bench:real cannot run here (what is missing), or null when the shared data and models are present. */
export function missingShared(needed: readonly string[] = [KATHER2016, NCT_CRC_HE, MOBILENET]): string | null {
  const absent = needed.filter((p) => !existsSync(p));
  return absent.length ? `absent: ${absent.join(', ')} (../shared is kept beside the repository)` : null;
}

/**
 * The rows of a manifest.csv as objects keyed by its header. The manifests have no quoted fields;
 * a row with another number of fields than the header is an error naming the file and line.
 */
export async function readManifest(file: string): Promise<Record<string, string>[]> {
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new Error(`${file}: empty manifest`);
  const header = lines[0].split(',');
  return lines.slice(1).map((line, i) => {
    const fields = line.split(',');
    if (fields.length !== header.length) {
      throw new Error(`${file}:${i + 2}: ${fields.length} fields, the header has ${header.length}`);
    }
    return Object.fromEntries(header.map((name, j) => [name, fields[j]]));
  });
}

function field(row: Record<string, string>, name: string, file: string): string {
  const value = row[name];
  if (!value) throw new Error(`${file}: a row has no '${name}' (${JSON.stringify(row)})`);
  return value;
}

/** The manifest's tiles under `root`, each checked against its SHA-256, grouped by `groupOf`. */
async function manifestTiles(
  root: string,
  groupOf: (row: Record<string, string>, tile: string, file: string) => string,
): Promise<Tile[]> {
  const file = path.join(root, 'manifest.csv');
  return Promise.all(
    (await readManifest(file)).map(async (row) => {
      const tile = path.join(root, field(row, 'path', file));
      const digest = createHash('sha256')
        .update(await readFile(tile))
        .digest('hex');
      if (digest !== field(row, 'sha256', file)) throw new Error(`${tile}: SHA-256 ${digest} is not the manifest's`);
      return { path: tile, label: field(row, 'label', file), group: groupOf(row, tile, file) };
    }),
  );
}

/** `CRC-Prim-HE-07_022` → `CRC-Prim-HE-07`: the source image's specimen (the NOTICE counts ten). */
export function specimenOf(sourceImage: string): string {
  const specimen = /^CRC-Prim-HE-\d+/.exec(sourceImage)?.[0];
  if (!specimen) throw new Error(`source image '${sourceImage}' does not name a CRC-Prim-HE-NN specimen`);
  return specimen;
}

/** Kather 2016: 24 tiles of 150 px, 8 classes; folds by source specimen. */
export async function readKather2016(root = KATHER2016): Promise<TileSet> {
  const tiles = await manifestTiles(root, (row, _tile, file) => specimenOf(field(row, 'source_image', file)));
  return { name: 'kather2016-samples', protocol: 'leave-one-specimen-out', tiles };
}

/** The NCT-CRC-HE tiles of both cohorts (224 px): no specimen is named, so each tile is its own group. */
export async function readNctCrcHe(root = NCT_CRC_HE): Promise<TileSet> {
  const cohorts = ['crc-val-he-7k', 'nct-crc-he-100k'];
  const perCohort = await Promise.all(
    cohorts.map((cohort) => manifestTiles(path.join(root, cohort), (_row, tile) => path.relative(root, tile))),
  );
  const tiles = perCohort.flat();
  return { name: 'nct-crc-he-samples', protocol: 'leave-one-tile-out', tiles };
}
