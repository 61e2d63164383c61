/**
 * A TIFF whose JPEG tiles libtiff would decode in the wrong colour space (see ../tiff-colour.ts), read
 * tile by tile here: each tile's bytes, with the file's JPEGTables merged in and an Adobe marker naming
 * the colour space its stream declares, decoded by libjpeg-turbo (../jpeg-decoder.ts).
 */
import { decodeJpeg } from '../jpeg-decoder.js';
import { decodingColour, parseJpeg, standaloneJpeg, streamColour } from '../jpeg-stream.js';
import { bestLevel, levelRegion, plausibleMpp, type LevelRegion } from '../slide-checks.js';
import type { RgbRaster, Slide, SlideLevel } from '../types.js';
import { tileTags, type JpegTiffLevel, type TiffColourCheck } from '../tiff-colour.js';
import { tagNumber, tagNumbers, type TiffFile } from './tiff-file.js';

/** Decoded tiles kept (at 512×512, 48 MiB): a patch grid walks a row of tiles several times. */
const TILE_CACHE = 64;

/** Microns per unit of OME-XML's PhysicalSize units (µm when none is given). */
const OME_UNITS: Record<string, number> = { µm: 1, μm: 1, um: 1, nm: 1e-3, mm: 1e3, cm: 1e4, m: 1e6 };

type Recode = Extract<TiffColourCheck, { verdict: 'recode' }>;

interface TileArrays {
  offsets: ArrayLike<number>;
  counts: ArrayLike<number>;
}

export class JpegTiffSlide implements Slide {
  readonly backend = 'jpeg-tiff' as const;
  readonly vendor: string;
  readonly levels: readonly SlideLevel[];
  readonly objectivePower = null;
  readonly properties: Readonly<Record<string, string>>;
  private readonly file: TiffFile;
  private readonly grids: readonly JpegTiffLevel[];
  private readonly arrays = new Map<number, Promise<TileArrays>>();
  /** Decoded tiles by 'level:index', least recently used first; null for a tile not stored (white). */
  private readonly tiles = new Map<string, Promise<Uint8Array | null>>();
  private inFlight = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    check: Recode,
    readonly mpp: { x: number; y: number } | null,
    ome: boolean,
  ) {
    this.file = check.file;
    this.grids = check.levels;
    const [w0, h0] = [check.levels[0]!.width, check.levels[0]!.height];
    this.levels = check.levels.map((l) => ({
      width: l.width,
      height: l.height,
      downsample: (w0 / l.width + h0 / l.height) / 2,
    }));
    this.vendor = ome ? 'ome-tiff' : 'generic-tiff';
    this.properties = {
      'histoseek.jpeg-colour': `decoded as the JPEG streams declare: ${check.finding}`,
      ...(check.description && !ome ? { 'tiff.ImageDescription': check.description } : {}),
    };
  }

  /** The slide over the file a recode verdict handed over (closed again if this fails). */
  static async open(path: string, check: Recode): Promise<JpegTiffSlide> {
    try {
      const ome = check.description?.includes('<OME') ?? false;
      const mpp = (ome ? omeMpp(check.description!) : null) ?? (await resolutionMpp(check.levels[0]!));
      return new JpegTiffSlide(path, check, mpp, ome);
    } catch (e) {
      await check.file.close();
      throw e;
    }
  }

  associatedImages(): string[] {
    return [];
  }

  async readAssociated(name: string): Promise<RgbRaster> {
    throw new Error(`${this.path}: no associated image '${name}'`);
  }

  bestLevelForDownsample(downsample: number): number {
    return bestLevel(this.levels, downsample);
  }

  async readRegion(x0: number, y0: number, level: number, width: number, height: number): Promise<Uint8Array> {
    if (this.closed) throw new Error(`${this.path}: slide is closed`);
    const region = levelRegion(this, x0, y0, level, width, height);
    this.inFlight++;
    try {
      return await this.compose(level, region, width, height);
    } finally {
      if (--this.inFlight === 0 && this.closed) await this.file.close();
    }
  }

  private async compose(level: number, region: LevelRegion, width: number, height: number): Promise<Uint8Array> {
    const grid = this.grids[level]!;
    const { x, y, left, top, right, bottom } = region;
    const out = new Uint8Array(width * height * 3).fill(255);
    if (right <= left || bottom <= top) return out;
    const { tileWidth: tw, tileHeight: th } = grid;
    const across = Math.ceil(grid.width / tw);
    const jobs: Promise<void>[] = [];
    for (let ty = Math.floor(top / th); ty * th < bottom; ty++) {
      for (let tx = Math.floor(left / tw); tx * tw < right; tx++) {
        jobs.push(
          this.tile(level, ty * across + tx).then((pixels) => {
            if (!pixels) return;
            const [c0, c1] = [Math.max(left, tx * tw), Math.min(right, (tx + 1) * tw)];
            for (let row = Math.max(top, ty * th); row < Math.min(bottom, (ty + 1) * th); row++) {
              const from = ((row - ty * th) * tw + c0 - tx * tw) * 3;
              out.set(pixels.subarray(from, from + (c1 - c0) * 3), ((row - y) * width + c0 - x) * 3);
            }
          }),
        );
      }
    }
    await Promise.all(jobs);
    return out;
  }

  private tile(level: number, index: number): Promise<Uint8Array | null> {
    const key = `${level}:${index}`;
    let tile = this.tiles.get(key);
    if (tile) {
      this.tiles.delete(key);
    } else {
      tile = this.decode(level, index);
      tile.catch(() => this.tiles.delete(key));
      if (this.tiles.size >= TILE_CACHE) this.tiles.delete(this.tiles.keys().next().value!);
    }
    this.tiles.set(key, tile);
    return tile;
  }

  private async decode(level: number, index: number): Promise<Uint8Array | null> {
    const grid = this.grids[level]!;
    const what = `${this.path}: ${grid.name}, tile ${index}`;
    const { offsets, counts } = await this.tileArrays(level);
    const count = Number(counts[index] ?? 0);
    if (count === 0) return null;
    const tile = parseJpeg(await this.file.read(Number(offsets[index]), count));
    const frame = tile.header.frame;
    if (!frame || frame.components.length !== 3) throw new Error(`${what}: not a 3-component JPEG stream`);
    // The level's colour space was judged on its first tile; it labels the others, and one that says
    // otherwise by the same rule is not guessed at.
    const said = streamColour(grid.tables ? [grid.tables.header, tile.header] : [tile.header], frame);
    const firstTile = `the level's first tile reads ${grid.colour === 'rgb' ? 'RGB' : 'YCbCr'}`;
    const decided = decodingColour(said, grid.colour, firstTile);
    if ('refuse' in decided) throw new Error(`${what}: ${decided.refuse}`);
    if (decided.colour !== grid.colour)
      throw new Error(`${what}: its JPEG stream differs in colour space from the level's first tile`);
    // Tiles are all full-size; strips too, but for the last one, which holds the rows left.
    const rows = grid.tiled ? grid.tileHeight : Math.min(grid.tileHeight, grid.height - index * grid.tileHeight);
    if (frame.width !== grid.tileWidth || frame.height !== rows)
      throw new Error(`${what}: its JPEG stream is ${frame.width}×${frame.height}, expected ${grid.tileWidth}×${rows}`);
    return decodeJpeg(standaloneJpeg(tile, grid.tables, grid.colour), frame.width, frame.height, 3).catch(
      (e: Error) => {
        throw new Error(`${what}: ${e.message}`, { cause: e });
      },
    );
  }

  private tileArrays(level: number): Promise<TileArrays> {
    let arrays = this.arrays.get(level);
    if (!arrays) {
      const grid = this.grids[level]!;
      const [offsetsTag, countsTag] = tileTags(grid);
      arrays = Promise.all([grid.ifd.loadValue(offsetsTag), grid.ifd.loadValue(countsTag)]).then(
        ([offsets, counts]) => ({
          offsets: offsets as ArrayLike<number>,
          counts: counts as ArrayLike<number>,
        }),
      );
      this.arrays.set(level, arrays);
    }
    return arrays;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tiles.clear();
    if (this.inFlight === 0) void this.file.close();
  }
}

/** PhysicalSizeX/Y of the first Pixels element of OME-XML, in µm. */
function omeMpp(xml: string): { x: number; y: number } | null {
  const pixels = /<(?:\w+:)?Pixels\b[^>]*>/.exec(xml)?.[0];
  if (!pixels) return null;
  const attribute = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(pixels)?.[1];
  const size = (axis: 'X' | 'Y') =>
    Number(attribute(`PhysicalSize${axis}`)) * (OME_UNITS[attribute(`PhysicalSize${axis}Unit`) ?? 'µm'] ?? NaN);
  return plausibleMpp(size('X'), size('Y'));
}

/** The TIFF resolution tags' µm per pixel, when their unit is physical (inch by default). */
async function resolutionMpp({ ifd }: JpegTiffLevel): Promise<{ x: number; y: number } | null> {
  const micronsPerUnit = ({ 2: 25_400, 3: 1e4 } as Record<number, number>)[await tagNumber(ifd, 'ResolutionUnit', 2)];
  const [xn, xd] = await tagNumbers(ifd, 'XResolution');
  const [yn, yd] = await tagNumbers(ifd, 'YResolution');
  if (!micronsPerUnit || !xn || !xd || !yn || !yd) return null;
  return plausibleMpp((micronsPerUnit * xd) / xn, (micronsPerUnit * yd) / yn);
}
