/**
 * A DICOM WSI series as a Slide. The VOLUME instances are the pyramid: instances of one size (a
 * concatenation, or a level split into several files) are one level with one frame map; label,
 * overview and thumbnail are associated images, kept out of tiling. Regions are composed from the
 * frames that cover them, read through a FrameSource (Part 10 files or WADO-RS), a few at a time,
 * and decoded frames are kept in a byte-bounded LRU so neighbouring patches reuse them. A level is
 * never held whole.
 */
import { LRUCache } from 'lru-cache';
import pLimit, { type LimitFunction } from 'p-limit';
import { bestLevel, levelRegion, plausibleMpp } from '../slide-checks.js';
import type { RgbRaster, Slide, SlideLevel } from '../types.js';
import { FrameDecodeError } from './frame-error.js';
import type { EncodedFrame, FrameSource, WsiInstance } from './instance.js';

/** Decodes one frame to interleaved RGB, tileWidth × tileHeight × 3 bytes. */
export type DecodeFrame = (frame: EncodedFrame, instance: WsiInstance) => Promise<Uint8Array>;

export interface DicomSlideOptions {
  /** 'dicom' for Part 10 files, 'dicomweb' for a PACS. */
  backend: 'dicom' | 'dicomweb';
  decode: DecodeFrame;
  /** Bytes of decoded frames kept (default 128 MiB: a row of 512-px tiles across an 80 000-px slide). */
  cacheBytes?: number;
  /** Frames read and decoded at once (default 8). */
  concurrency?: number;
}

/** What the index and `slide info` tell about the series. */
export interface DicomSeriesInfo {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  patientId: string | null;
  containerIdentifier: string | null;
  transferSyntaxUids: string[];
  tiling: ('full' | 'sparse')[];
}

/** One frame of one instance, placed in its level. */
interface FrameRef {
  instance: WsiInstance;
  /** 1-based. */
  frame: number;
  x: number;
  y: number;
}

/** The frames of one level, bucketed by the tile grid so a region finds its frames without a scan. */
class FrameMap {
  private readonly buckets = new Map<number, FrameRef[]>();
  readonly tileWidth: number;
  readonly tileHeight: number;
  private readonly columns: number;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly instances: readonly WsiInstance[],
  ) {
    this.tileWidth = instances[0]!.tileWidth;
    this.tileHeight = instances[0]!.tileHeight;
    this.columns = Math.ceil(width / this.tileWidth) + 1;
    for (const instance of instances) {
      for (let frame = 1; frame <= instance.numberOfFrames; frame++) {
        const x = instance.framePositions[2 * (frame - 1)]!;
        const y = instance.framePositions[2 * (frame - 1) + 1]!;
        // A sparse frame may start left of or above the matrix: it is filed under the first column or row.
        const key = this.key(Math.max(0, Math.floor(x / this.tileWidth)), Math.max(0, Math.floor(y / this.tileHeight)));
        const bucket = this.buckets.get(key);
        if (bucket) bucket.push({ instance, frame, x, y });
        else this.buckets.set(key, [{ instance, frame, x, y }]);
      }
    }
  }

  private key(column: number, row: number): number {
    return row * this.columns + column;
  }

  /** Frames overlapping [x, x+w) × [y, y+h) in level pixels. A frame off the grid reaches into the next bucket, so one more is looked at. */
  covering(x: number, y: number, w: number, h: number): FrameRef[] {
    const out: FrameRef[] = [];
    const c0 = Math.max(0, Math.floor(x / this.tileWidth) - 1);
    const r0 = Math.max(0, Math.floor(y / this.tileHeight) - 1);
    const c1 = Math.min(this.columns - 1, Math.floor((x + w - 1) / this.tileWidth));
    const r1 = Math.floor((y + h - 1) / this.tileHeight);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        for (const ref of this.buckets.get(this.key(c, r)) ?? []) {
          if (ref.x < x + w && ref.x + this.tileWidth > x && ref.y < y + h && ref.y + this.tileHeight > y)
            out.push(ref);
        }
      }
    }
    return out;
  }
}

/**
 * Microns per pixel from Pixel Spacing (mm, between rows then between columns), else from the imaged
 * volume. The volume's width and height run along the slide's axes, which Image Orientation (Slide)
 * may turn a quarter from the image's (the dicomizer's orientation 0,-1,0,-1,0,0 does): of the two pairings, the
 * one giving the squarer pixels is taken.
 */
function mppOf(instance: WsiInstance): { x: number; y: number } | null {
  const spacing = instance.pixelSpacingMm;
  const volume = instance.imagedVolumeMm;
  let mpp: { x: number; y: number } | null = null;
  if (spacing) mpp = { x: spacing[1] * 1000, y: spacing[0] * 1000 };
  else if (volume) {
    const { totalWidth: w, totalHeight: h } = instance;
    const straight = { x: (volume.width * 1000) / w, y: (volume.height * 1000) / h };
    const turned = { x: (volume.height * 1000) / w, y: (volume.width * 1000) / h };
    const skew = (m: { x: number; y: number }) => Math.abs(Math.log(m.x / m.y));
    mpp = skew(turned) < skew(straight) ? turned : straight;
  }
  return mpp && plausibleMpp(mpp.x, mpp.y);
}

export class DicomSlide implements Slide {
  readonly backend: 'dicom' | 'dicomweb';
  readonly vendor = 'dicom';
  readonly levels: readonly SlideLevel[];
  readonly mpp: { x: number; y: number } | null;
  readonly objectivePower = null;
  readonly properties: Readonly<Record<string, string>>;
  readonly dicom: DicomSeriesInfo;
  private readonly maps: readonly FrameMap[];
  private readonly associated = new Map<string, WsiInstance>();
  /** Decoded frames by `sop/frame`; a frame asked for again while it decodes shares that decode (lru-cache's fetch). */
  private readonly decoded: LRUCache<string, Uint8Array, FrameRef>;
  private readonly limit: LimitFunction;
  private readonly decode: DecodeFrame;
  private closed = false;

  /**
   * `instances` are one series' (throws naming `path` when there is no VOLUME instance, or when
   * instances of one level disagree on the tile size). The slide owns `source` and closes it.
   */
  constructor(
    readonly path: string,
    instances: readonly WsiInstance[],
    private readonly source: FrameSource,
    options: DicomSlideOptions,
  ) {
    this.backend = options.backend;
    this.decode = options.decode;
    this.limit = pLimit(options.concurrency ?? 8);
    this.decoded = new LRUCache<string, Uint8Array, FrameRef>({
      maxSize: options.cacheBytes ?? 128 * 2 ** 20,
      sizeCalculation: (rgb) => Math.max(1, rgb.byteLength),
      fetchMethod: (_key, _stale, { context }) => this.limit(() => this.readFrameRgb(context)),
      // close() clears the cache: reads already in flight still get their frames.
      ignoreFetchAbort: true,
    });
    const bySize = new Map<string, WsiInstance[]>();
    for (const instance of instances) {
      if (instance.flavor === 'VOLUME') {
        const key = `${instance.totalWidth}×${instance.totalHeight}`;
        bySize.set(key, [...(bySize.get(key) ?? []), instance]);
      } else if (!this.associated.has(instance.flavor.toLowerCase())) {
        this.associated.set(instance.flavor.toLowerCase(), instance);
      }
    }
    if (bySize.size === 0)
      throw new Error(
        `${path}: the series has no VOLUME instance (only ${[...this.associated.keys()].join(', ') || 'nothing'})`,
      );
    this.maps = [...bySize.entries()]
      .map(([size, group]) => {
        const tile = `${group[0]!.tileWidth}×${group[0]!.tileHeight}`;
        const other = group.find((i) => `${i.tileWidth}×${i.tileHeight}` !== tile);
        if (other)
          throw new Error(
            `${path}: level ${size} has ${tile} tiles in ${group[0]!.sopInstanceUid} but ${other.tileWidth}×${other.tileHeight} in ${other.sopInstanceUid}`,
          );
        return new FrameMap(group[0]!.totalWidth, group[0]!.totalHeight, group);
      })
      .sort((a, b) => b.width * b.height - a.width * a.height);
    const [w0, h0] = [this.maps[0]!.width, this.maps[0]!.height];
    this.levels = this.maps.map((m) => ({
      width: m.width,
      height: m.height,
      downsample: (w0 / m.width + h0 / m.height) / 2,
    }));
    const base = this.maps[0]!.instances[0]!;
    this.mpp = mppOf(base);
    const all = [...instances];
    this.dicom = {
      studyInstanceUid: base.studyInstanceUid,
      seriesInstanceUid: base.seriesInstanceUid,
      patientId: all.find((i) => i.patientId)?.patientId ?? null,
      containerIdentifier: all.find((i) => i.containerIdentifier)?.containerIdentifier ?? null,
      transferSyntaxUids: [...new Set(all.map((i) => i.transferSyntaxUid))],
      tiling: [...new Set(this.maps.flatMap((m) => m.instances.map((i) => i.tiling)))],
    };
    const properties: Record<string, string> = {
      'dicom.StudyInstanceUID': this.dicom.studyInstanceUid,
      'dicom.SeriesInstanceUID': this.dicom.seriesInstanceUid,
      'dicom.TransferSyntaxUID': this.dicom.transferSyntaxUids.join(','),
      'dicom.DimensionOrganizationType': this.dicom.tiling.map((t) => `TILED_${t.toUpperCase()}`).join(','),
      'dicom.PhotometricInterpretation': [...new Set(all.map((i) => i.photometricInterpretation))].join(','),
    };
    if (this.dicom.patientId) properties['dicom.PatientID'] = this.dicom.patientId;
    if (this.dicom.containerIdentifier) properties['dicom.ContainerIdentifier'] = this.dicom.containerIdentifier;
    for (const [k, v] of Object.entries(base.properties)) properties[`dicom.${k}`] = v;
    this.properties = properties;
  }

  associatedImages(): string[] {
    return [...this.associated.keys()];
  }

  async readAssociated(name: string): Promise<RgbRaster> {
    const instance = this.associated.get(name);
    if (!instance)
      throw new Error(
        `${this.path}: no associated image '${name}' (it has ${this.associatedImages().join(', ') || 'none'})`,
      );
    const map = new FrameMap(instance.totalWidth, instance.totalHeight, [instance]);
    const { totalWidth: width, totalHeight: height } = instance;
    return { width, height, rgb: await this.compose(map, 0, 0, width, height) };
  }

  async readRegion(x0: number, y0: number, level: number, width: number, height: number): Promise<Uint8Array> {
    if (this.closed) throw new Error(`${this.path}: slide is closed`);
    const { x, y } = levelRegion(this, x0, y0, level, width, height);
    return this.compose(this.maps[level]!, x, y, width, height);
  }

  /** RGB of [x, x+w) × [y, y+h) of a level (level pixels), white where no frame covers it or outside. */
  private async compose(map: FrameMap, x: number, y: number, w: number, h: number): Promise<Uint8Array> {
    const out = new Uint8Array(w * h * 3).fill(255);
    // Pixels past the matrix's edge in the last row and column of frames are padding: never shown.
    const right = Math.min(x + w, map.width);
    const bottom = Math.min(y + h, map.height);
    const refs = map.covering(x, y, w, h);
    await Promise.all(
      refs.map(async (ref) => {
        const rgb = await this.frameRgb(ref);
        const left = Math.max(x, ref.x);
        const top = Math.max(y, ref.y);
        const cols = Math.min(right, ref.x + map.tileWidth) - left;
        if (cols <= 0) return;
        for (let row = top; row < Math.min(bottom, ref.y + map.tileHeight); row++) {
          const from = ((row - ref.y) * map.tileWidth + (left - ref.x)) * 3;
          out.set(rgb.subarray(from, from + cols * 3), ((row - y) * w + (left - x)) * 3);
        }
      }),
    );
    return out;
  }

  private async frameRgb(ref: FrameRef): Promise<Uint8Array> {
    return (await this.decoded.fetch(`${ref.instance.sopInstanceUid}/${ref.frame}`, { context: ref }))!;
  }

  /** Reads and decodes one frame; codecs say what failed, and where it failed is said here, once. */
  private async readFrameRgb({ instance, frame }: FrameRef): Promise<Uint8Array> {
    const where = `${this.path}: instance ${instance.sopInstanceUid}, frame ${frame}`;
    const encoded = await this.source.readFrame(instance, frame);
    const rgb = await this.decode(encoded, instance).catch((e: unknown) => {
      throw e instanceof FrameDecodeError
        ? new FrameDecodeError(e.kind, `${where}: ${e.message}`, { cause: e })
        : new Error(`${where}: ${(e as Error).message}`, { cause: e });
    });
    const expected = instance.tileWidth * instance.tileHeight * 3;
    if (rgb.length !== expected)
      throw new Error(
        `${where}: decoded to ${rgb.length} bytes, expected ${expected} (${instance.tileWidth}×${instance.tileHeight} RGB)`,
      );
    return rgb;
  }

  bestLevelForDownsample(downsample: number): number {
    return bestLevel(this.levels, downsample);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.decoded.clear();
    this.source.close();
  }
}
