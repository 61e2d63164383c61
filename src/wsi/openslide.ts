/**
 * A koffi binding to the C library OpenSlide (Debian's libopenslide0, `libopenslide.so.0`): the
 * handle-level API, with every call that can put a handle into its error state followed by a check of
 * `openslide_get_error`, so a failure surfaces as an exception naming the file instead of silently
 * transparent pixels. The library is loaded on first use; a missing one is an OpenSlideUnavailableError
 * that says how to install it.
 */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

export const OPENSLIDE_LIBRARY = 'libopenslide.so.0';

export class OpenSlideUnavailableError extends Error {
  constructor(reason: string) {
    super(`cannot load ${OPENSLIDE_LIBRARY} (${reason}); install it with: apt-get install libopenslide0`);
    this.name = 'OpenSlideUnavailableError';
  }
}

/** OpenSlide could not open or read a file; the message names the file. */
export class OpenSlideError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'OpenSlideError';
  }
}

/**
 * An `openslide_t *`: koffi 3 hands pointers out as BigInt addresses that carry no C type, so koffi
 * would not catch a wrong one passed back; only this class holds them.
 */
type Handle = bigint;
type Fn = ReturnType<Koffi.LibraryHandle['func']>;

let koffiModule: typeof Koffi | undefined;
/** koffi loads with the first slide a command opens: commands that read no slide never load it. */
function koffi(): typeof Koffi {
  return (koffiModule ??= createRequire(import.meta.url)('koffi') as typeof Koffi);
}

interface Api {
  version: string;
  detectVendor: Fn;
  open: Fn;
  close: Fn;
  getError: Fn;
  levelCount: Fn;
  levelDimensions: Fn;
  levelDownsample: Fn;
  bestLevel: Fn;
  readRegion: Fn;
  propertyNames: Fn;
  propertyValue: Fn;
  associatedNames: Fn;
  associatedDimensions: Fn;
  readAssociated: Fn;
}

let api: Api | undefined;
let loadFailure: OpenSlideUnavailableError | undefined;

function load(): Api {
  let lib: Koffi.LibraryHandle;
  try {
    lib = koffi().load(OPENSLIDE_LIBRARY);
  } catch (e) {
    throw new OpenSlideUnavailableError((e as Error).message);
  }
  koffi().opaque('openslide_t');
  // Destination buffers are `void *` so that koffi passes the typed array's memory in place (no copy
  // back), which also holds for the asynchronous calls that run on libuv's worker threads.
  const f = (prototype: string) => lib.func(prototype);
  return {
    version: f('const char *openslide_get_version()')() as string,
    detectVendor: f('const char *openslide_detect_vendor(const char *filename)'),
    open: f('openslide_t *openslide_open(const char *filename)'),
    close: f('void openslide_close(openslide_t *osr)'),
    getError: f('const char *openslide_get_error(openslide_t *osr)'),
    levelCount: f('int32_t openslide_get_level_count(openslide_t *osr)'),
    levelDimensions: f(
      'void openslide_get_level_dimensions(openslide_t *osr, int32_t level, _Out_ int64_t *w, _Out_ int64_t *h)',
    ),
    levelDownsample: f('double openslide_get_level_downsample(openslide_t *osr, int32_t level)'),
    bestLevel: f('int32_t openslide_get_best_level_for_downsample(openslide_t *osr, double downsample)'),
    readRegion: f(
      'void openslide_read_region(openslide_t *osr, void *dest, int64_t x, int64_t y, int32_t level, int64_t w, int64_t h)',
    ),
    propertyNames: f('void *openslide_get_property_names(openslide_t *osr)'),
    propertyValue: f('const char *openslide_get_property_value(openslide_t *osr, const char *name)'),
    associatedNames: f('void *openslide_get_associated_image_names(openslide_t *osr)'),
    associatedDimensions: f(
      'void openslide_get_associated_image_dimensions(openslide_t *osr, const char *name, _Out_ int64_t *w, _Out_ int64_t *h)',
    ),
    readAssociated: f('void openslide_read_associated_image(openslide_t *osr, const char *name, void *dest)'),
  };
}

/** The loaded library; throws OpenSlideUnavailableError (every time, without retrying) when it is missing. */
function openslide(): Api {
  if (api) return api;
  if (loadFailure) throw loadFailure;
  try {
    return (api = load());
  } catch (e) {
    if (e instanceof OpenSlideUnavailableError) loadFailure = e;
    throw e;
  }
}

/** Whether libopenslide.so.0 can be loaded (loading it if not yet done). */
export function openslideAvailable(): boolean {
  try {
    openslide();
    return true;
  } catch (e) {
    if (e instanceof OpenSlideUnavailableError) return false;
    throw e;
  }
}

/** The library's version string, e.g. '3.4.1'. */
export function openslideVersion(): string {
  return openslide().version;
}

/** The vendor OpenSlide recognises the file as ('aperio', 'generic-tiff', …), or null for none. */
export function detectVendor(path: string): string | null {
  return openslide().detectVendor(path) as string | null;
}

/** Reads a NULL-terminated `const char * const *` list. */
function stringList(list: unknown): string[] {
  const out: string[] = [];
  if (!list) return out;
  const step = koffi().sizeof('void *');
  for (let offset = 0; ; offset += step) {
    const s = koffi().decode(list, offset, 'const char *') as string | null;
    if (s === null) return out;
    out.push(s);
  }
}

/** Closes handles whose OpenSlide object was garbage-collected without close(). */
const finalizer = new FinalizationRegistry<Handle>((handle) => api?.close(handle));

/** An open slide file: thin, checked wrappers around the OpenSlide calls on one handle. */
export class OpenSlide {
  private handle: Handle | null;
  /** Asynchronous reads still running on worker threads; the handle must outlive them. */
  private pending = 0;
  private closeRequested = false;

  private constructor(
    readonly path: string,
    handle: Handle,
  ) {
    this.handle = handle;
    finalizer.register(this, handle, this);
  }

  /**
   * Opens `path`; returns null when OpenSlide does not recognise the format, and throws OpenSlideError
   * when it does but cannot read the file (truncated, corrupt, unsupported variant).
   */
  static open(path: string): OpenSlide | null {
    const lib = openslide();
    const handle = lib.open(path) as Handle | null;
    if (!handle) return null;
    const error = lib.getError(handle) as string | null;
    if (error !== null) {
      lib.close(handle);
      throw new OpenSlideError(path, error);
    }
    return new OpenSlide(path, handle);
  }

  private live(): Handle {
    if (!this.handle || this.closeRequested) throw new OpenSlideError(this.path, 'slide is closed');
    return this.handle;
  }

  /** Throws when the handle is in its (sticky) error state. */
  private check(what: string): void {
    const error = openslide().getError(this.live()) as string | null;
    if (error !== null) throw new OpenSlideError(this.path, `${what}: ${error}`);
  }

  levelCount(): number {
    const n = openslide().levelCount(this.live()) as number;
    if (n < 0) this.check('level count');
    return n;
  }

  levelDimensions(level: number): { width: number; height: number } {
    const w: [number | null] = [null];
    const h: [number | null] = [null];
    openslide().levelDimensions(this.live(), level, w, h);
    if (w[0] === null || h[0] === null || w[0] < 0 || h[0] < 0) this.check(`dimensions of level ${level}`);
    return { width: Number(w[0]), height: Number(h[0]) };
  }

  levelDownsample(level: number): number {
    const d = openslide().levelDownsample(this.live(), level) as number;
    if (!(d > 0)) this.check(`downsample of level ${level}`);
    return d;
  }

  /** The level to read for this downsample: the lowest resolution that is still at least as fine. */
  bestLevelForDownsample(downsample: number): number {
    const level = openslide().bestLevel(this.live(), downsample) as number;
    if (level < 0) this.check(`best level for downsample ${downsample}`);
    return level;
  }

  properties(): Record<string, string> {
    const lib = openslide();
    const handle = this.live();
    const out: Record<string, string> = {};
    for (const name of stringList(lib.propertyNames(handle))) {
      out[name] = (lib.propertyValue(handle, name) as string | null) ?? '';
    }
    return out;
  }

  associatedImageNames(): string[] {
    return stringList(openslide().associatedNames(this.live()));
  }

  associatedImageDimensions(name: string): { width: number; height: number } {
    const w: [number | null] = [null];
    const h: [number | null] = [null];
    openslide().associatedDimensions(this.live(), name, w, h);
    if (w[0] === null || h[0] === null || w[0] < 0) {
      this.check(`associated image '${name}'`);
      throw new OpenSlideError(this.path, `no associated image '${name}'`);
    }
    return { width: Number(w[0]), height: Number(h[0]) };
  }

  /** Premultiplied ARGB (one uint32 per pixel, native order) of an associated image. */
  readAssociatedArgb(name: string): { width: number; height: number; argb: Uint32Array } {
    const { width, height } = this.associatedImageDimensions(name);
    const argb = new Uint32Array(width * height);
    openslide().readAssociated(this.live(), name, argb);
    this.check(`reading associated image '${name}'`);
    return { width, height, argb };
  }

  /**
   * Reads a width × height region of `level`, its top-left corner at (x, y) in level-0 pixels, into
   * `dest` as premultiplied ARGB (pixels outside the slide are transparent, 0). Runs on a libuv worker
   * thread: OpenSlide handles are thread-safe, so several reads may be in flight at once.
   */
  readRegionArgb(dest: Uint32Array, x: number, y: number, level: number, width: number, height: number): Promise<void> {
    if (dest.length < width * height)
      throw new RangeError(`destination holds ${dest.length} pixels, region needs ${width * height}`);
    const handle = this.live();
    this.pending++;
    return new Promise<void>((resolve, reject) => {
      openslide().readRegion.async(handle, dest, x, y, level, width, height, (err: unknown) => {
        try {
          if (err) reject(err);
          else {
            const error = openslide().getError(handle) as string | null;
            if (error !== null)
              reject(
                new OpenSlideError(this.path, `reading level ${level} at (${x}, ${y}), ${width}×${height}: ${error}`),
              );
            else resolve();
          }
        } finally {
          if (--this.pending === 0 && this.closeRequested) this.release();
        }
      });
    });
  }

  /** Closes the handle, once reads still in flight have finished. Further calls fail; closing twice is a no-op. */
  close(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    if (this.pending === 0) this.release();
  }

  private release(): void {
    if (!this.handle) return;
    finalizer.unregister(this);
    openslide().close(this.handle);
    this.handle = null;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Converts OpenSlide's premultiplied ARGB to packed RGB: opaque pixels (nearly all) are copied, partly
 * transparent ones un-premultiplied (as openslide-python does), and fully transparent ones — outside
 * the scanned area — become white, the colour of empty glass. On little-endian machines four pixels
 * go out as three 32-bit words, twice as fast as byte stores; a block with any non-opaque pixel is
 * then redone pixel by pixel.
 */
export function argbToRgb(argb: Uint32Array, rgb: Uint8Array = new Uint8Array(argb.length * 3)): Uint8Array {
  if (rgb.length < argb.length * 3)
    throw new RangeError(`RGB buffer holds ${rgb.length} bytes, needs ${argb.length * 3}`);
  const packed = LITTLE_ENDIAN && rgb.byteOffset % 4 === 0 ? argb.length & ~3 : 0;
  const words = new Uint32Array(rgb.buffer, rgb.byteOffset, (packed / 4) * 3);
  let alphas = 0xff000000; // the AND of every alpha: 255 only if all pixels are opaque
  for (let i = 0, o = 0; i < packed; i += 4, o += 3) {
    const p0 = argb[i]!;
    const p1 = argb[i + 1]!;
    const p2 = argb[i + 2]!;
    const p3 = argb[i + 3]!;
    alphas &= p0 & p1 & p2 & p3;
    // Each pixel's bytes R, G, B in memory order, i.e. the low three bytes of a little-endian word.
    const q0 = ((p0 >>> 16) & 0xff) | (p0 & 0xff00) | ((p0 & 0xff) << 16);
    const q1 = ((p1 >>> 16) & 0xff) | (p1 & 0xff00) | ((p1 & 0xff) << 16);
    const q2 = ((p2 >>> 16) & 0xff) | (p2 & 0xff00) | ((p2 & 0xff) << 16);
    const q3 = ((p3 >>> 16) & 0xff) | (p3 & 0xff00) | ((p3 & 0xff) << 16);
    words[o] = q0 | (q1 << 24);
    words[o + 1] = (q1 >>> 8) | (q2 << 16);
    words[o + 2] = (q2 >>> 16) | (q3 << 8);
  }
  convertPixels(argb, rgb, alphas >>> 24 === 255 ? packed : 0);
  return rgb;
}

/** The per-pixel conversion of pixels `from` onwards. */
function convertPixels(argb: Uint32Array, rgb: Uint8Array, from: number): void {
  for (let i = from, j = from * 3; i < argb.length; i++, j += 3) {
    const p = argb[i]!;
    const a = p >>> 24;
    if (a === 255) {
      rgb[j] = (p >>> 16) & 255;
      rgb[j + 1] = (p >>> 8) & 255;
      rgb[j + 2] = p & 255;
    } else if (a === 0) {
      rgb[j] = rgb[j + 1] = rgb[j + 2] = 255;
    } else {
      const half = a >>> 1;
      rgb[j] = Math.min(255, (((p >>> 16) & 255) * 255 + half) / a);
      rgb[j + 1] = Math.min(255, (((p >>> 8) & 255) * 255 + half) / a);
      rgb[j + 2] = Math.min(255, ((p & 255) * 255 + half) / a);
    }
  }
}
