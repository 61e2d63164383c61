/**
 * Frames of one series by WADO-RS, as few requests as will do: frames asked for in the same turn of
 * the event loop go out as one request per instance (`/frames/3,4,9`), a frame missed brings the
 * next few of its instance along (read-ahead: TILED_FULL frames run along rows, so these are its
 * neighbours), and the encoded bytes of recent frames are kept within a byte bound.
 *
 * A request costs a PACS far more than a frame's bytes: Orthanc answers 130 frames in one request
 * in about the time of 15 requests for one, and a hospital's PACS behind a gateway more so.
 */
import { LRUCache } from 'lru-cache';
import type { EncodedFrame, FrameSource, WsiInstance } from '../dicom/instance.js';
import type { DicomWebClient } from './client.js';

export interface FrameSourceOptions {
  /** Bytes of encoded frames kept. */
  cacheBytes: number;
  /** Frames after a missed one fetched with it (default 7). */
  readAhead?: number;
  /** Most frames in one request (default 32). */
  maxBatch?: number;
}

/** The instance a frame belongs to, as a request needs it. */
interface InstanceRef {
  study: string;
  series: string;
  sop: string;
  numberOfFrames: number;
  /** The stored transfer syntax when known (only a hint for servers that refuse `transfer-syntax=*`). */
  syntax?: string;
}

/** Frames of one instance waiting for the next request. */
interface Queued {
  instance: InstanceRef;
  frames: Map<number, { resolve: (f: EncodedFrame) => void; reject: (e: unknown) => void }>;
}

export class DicomWebFrameSource implements FrameSource {
  /** Frames by `sop/frame`, kept or on their way: asked twice, fetched once (lru-cache's fetch). */
  private readonly cache: LRUCache<string, EncodedFrame, { instance: InstanceRef; frame: number }>;
  private readonly queued = new Map<string, Queued>();
  private flushScheduled = false;
  private readonly readAhead: number;
  private readonly maxBatch: number;
  private closed = false;

  constructor(
    private readonly client: DicomWebClient,
    readonly where: string,
    options: FrameSourceOptions,
  ) {
    if (!(options.cacheBytes > 0)) throw new RangeError(`cacheBytes must be positive, got ${options.cacheBytes}`);
    this.cache = new LRUCache<string, EncodedFrame, { instance: InstanceRef; frame: number }>({
      maxSize: options.cacheBytes,
      sizeCalculation: (f) => Math.max(1, f.data.byteLength),
      fetchMethod: (_key, _stale, { context }) => this.enqueue(context.instance, context.frame),
      // close() clears the cache: requests in flight still answer their readers.
      ignoreFetchAbort: true,
    });
    this.readAhead = options.readAhead ?? 7;
    this.maxBatch = options.maxBatch ?? 32;
  }

  readFrame(instance: WsiInstance, frame: number): Promise<EncodedFrame> {
    if (!Number.isInteger(frame) || frame < 1 || frame > instance.numberOfFrames)
      return Promise.reject(
        new RangeError(
          `${this.where}: no frame ${frame} in instance ${instance.sopInstanceUid} (it has ${instance.numberOfFrames})`,
        ),
      );
    return this.get(
      {
        study: instance.studyInstanceUid,
        series: instance.seriesInstanceUid,
        sop: instance.sopInstanceUid,
        numberOfFrames: instance.numberOfFrames,
        syntax: instance.transferSyntaxUid,
      },
      frame,
    );
  }

  /** Frame 1 of an instance not yet described (to learn its transfer syntax); kept for the reads to come. */
  firstFrame(study: string, series: string, sop: string): Promise<EncodedFrame> {
    return this.get({ study, series, sop, numberOfFrames: 1 }, 1);
  }

  private get(instance: InstanceRef, frame: number): Promise<EncodedFrame> {
    if (this.closed) return Promise.reject(new Error(`${this.where}: slide is closed`));
    const kept = this.cache.has(`${instance.sop}/${frame}`);
    const wanted = this.load(instance, frame);
    if (!kept) {
      for (let next = frame + 1; next <= Math.min(instance.numberOfFrames, frame + this.readAhead); next++) {
        // Read ahead only on a miss; a failure there surfaces when the frame is asked for.
        this.load(instance, next).catch(() => undefined);
      }
    }
    return wanted;
  }

  private async load(instance: InstanceRef, frame: number): Promise<EncodedFrame> {
    return (await this.cache.fetch(`${instance.sop}/${frame}`, { context: { instance, frame } }))!;
  }

  /** Queues a frame for the next request for its instance: sent when the batch is full, else at the end of this turn. */
  private enqueue(instance: InstanceRef, frame: number): Promise<EncodedFrame> {
    return new Promise<EncodedFrame>((resolve, reject) => {
      let queue = this.queued.get(instance.sop);
      if (!queue) this.queued.set(instance.sop, (queue = { instance, frames: new Map() }));
      queue.frames.set(frame, { resolve, reject });
      if (queue.frames.size >= this.maxBatch) this.send(instance.sop);
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          for (const sop of [...this.queued.keys()]) this.send(sop);
        });
      }
    });
  }

  /** One request for the frames queued for an instance (the client bounds how many run at once). */
  private send(sop: string): void {
    const queue = this.queued.get(sop);
    if (!queue) return;
    this.queued.delete(sop);
    const numbers = [...queue.frames.keys()].sort((a, b) => a - b);
    const { study, series, syntax } = queue.instance;
    this.client.frames(study, series, sop, numbers, syntax).then(
      (frames) => numbers.forEach((n, i) => queue.frames.get(n)!.resolve(frames[i]!)),
      (e: unknown) => {
        for (const waiter of queue.frames.values()) waiter.reject(e);
      },
    );
  }

  /** Drops the kept frames; requests in flight still answer their readers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
  }
}
