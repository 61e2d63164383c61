/**
 * Tissue detection on a slide thumbnail. A pixel is tissue when it is saturated (HSV saturation above
 * Otsu's threshold, clamped to the narrow band where glass noise ends and pale eosin begins: a slide
 * that is nearly all glass, or all tissue, or whose dark nuclei form a third mode, still gets a sensible
 * cut), darker than the glass (glass is bright and unsaturated: its brightness is the median of the
 * unsaturated pixels), and not ink — marker pens and tissue dyes are green, cyan or vivid blue, or black,
 * where H&E is pink to purple. The raw mask is then cleaned with an opening and a closing by a small
 * disk and cleared of specks.
 */
import sharp from 'sharp';
import { readThumbnail } from './slide.js';
import type { Slide } from './types.js';

export interface TissueMask {
  width: number;
  height: number;
  /** Level-0 pixels per mask pixel (both axes). */
  downsample: number;
  /** width × height, row-major: 1 tissue, 0 background. */
  mask: Uint8Array;
  /** Share of the mask's pixels that are tissue. */
  tissueFraction: number;
}

export interface TissueMaskOptions {
  /** Longer side of the mask in pixels (default 2048); slides smaller than that are masked at full resolution. */
  maxSide?: number;
}

/** Otsu's saturation threshold (0–255 scale) is clamped to this band: ≈0.05–0.1 in HSV terms. */
const SATURATION_BAND: readonly [number, number] = [12, 25];
/** Brightness (HSV value) from which a pixel is glass at the latest; the measured glass brightness, when lower, cuts first. */
const MAX_VALUE = 250;
/** Saturation above the greyest pixels' that still counts as glass (dust, scanner tint). */
const GLASS_MARGIN = 10;
/** Darker than this (HSV value) is black ink or debris, not stained tissue. */
const MIN_VALUE = 50;
/** H&E hues, degrees: eosin pink through haematoxylin purple to violet-blue. Saturated pixels outside are ink. */
const HE_HUE: readonly [number, number] = [215, 40];
/** Violet-blue up to this hue is haematoxylin only when moderately saturated; a vivid one is blue ink. */
const BLUE_INK_HUE = 250;
const BLUE_INK_SATURATION = 0.7 * 255;
/** Radius in mask pixels of the disk used for the opening and closing. */
const DISK_RADIUS = 2;
/** Components smaller than this share of the mask (and at least MIN_COMPONENT_PX pixels) are dropped. */
const MIN_COMPONENT_SHARE = 1e-4;
const MIN_COMPONENT_PX = 16;

/** The slide's tissue, detected on a thumbnail of at most `maxSide` pixels a side. */
export async function tissueMask(slide: Slide, options: TissueMaskOptions = {}): Promise<TissueMask> {
  const thumb = await readThumbnail(slide, options.maxSide ?? 2048);
  const { width, height, downsample } = thumb;
  const mask = classifyPixels(thumb.rgb);
  openAndClose(mask, width, height, DISK_RADIUS);
  removeSmallComponents(
    mask,
    width,
    height,
    Math.max(MIN_COMPONENT_PX, Math.round(MIN_COMPONENT_SHARE * width * height)),
  );
  let tissue = 0;
  for (let i = 0; i < mask.length; i++) tissue += mask[i]!;
  return { width, height, downsample, mask, tissueFraction: tissue / mask.length };
}

/** The raw per-pixel decision; see the module comment. */
function classifyPixels(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const saturation = new Uint8Array(n);
  const histogram = new Float64Array(256);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = rgb[j]!;
    const g = rgb[j + 1]!;
    const b = rgb[j + 2]!;
    const max = Math.max(r, g, b);
    const s = max === 0 ? 0 : Math.round(((max - Math.min(r, g, b)) * 255) / max);
    saturation[i] = s;
    histogram[s]!++;
  }
  // Otsu splits glass from tissue when both are common; on a slide mostly covered with tissue it
  // splits pale stroma from nuclei instead, so the cut never goes far above the glass's own
  // saturation (its 5th percentile: the greyest pixels) plus a margin.
  const greyest = percentile(histogram, n, 0.05);
  const threshold = Math.min(SATURATION_BAND[1], greyest + GLASS_MARGIN, Math.max(SATURATION_BAND[0], otsu(histogram)));
  const glass = Math.min(MAX_VALUE, glassBrightness(rgb, saturation, threshold));
  const mask = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const s = saturation[i]!;
    if (s <= threshold) continue;
    const r = rgb[j]!;
    const g = rgb[j + 1]!;
    const b = rgb[j + 2]!;
    const max = Math.max(r, g, b);
    if (max >= glass || max < MIN_VALUE) continue;
    const h = hue(r, g, b);
    const inHe = h >= HE_HUE[0] || h < HE_HUE[1];
    if (!inHe || (h < BLUE_INK_HUE && s > BLUE_INK_SATURATION)) continue;
    mask[i] = 1;
  }
  return mask;
}

/** The value below which `fraction` of the histogram's `total` counts lie. */
function percentile(histogram: Float64Array, total: number, fraction: number): number {
  for (let v = 0, below = 0; v < histogram.length; v++) {
    below += histogram[v]!;
    if (below >= fraction * total) return v;
  }
  return histogram.length - 1;
}

/** Median brightness of the unsaturated pixels (mostly glass), or 255 when there are none. */
function glassBrightness(rgb: Uint8Array, saturation: Uint8Array, threshold: number): number {
  const histogram = new Float64Array(256);
  let count = 0;
  for (let i = 0, j = 0; i < saturation.length; i++, j += 3) {
    if (saturation[i]! > threshold) continue;
    histogram[Math.max(rgb[j]!, rgb[j + 1]!, rgb[j + 2]!)]!++;
    count++;
  }
  for (let v = 0, below = 0; v < 256; v++) {
    below += histogram[v]!;
    if (below > count / 2) return v;
  }
  return 255;
}

/** HSV hue in degrees, [0, 360); the caller guarantees a non-grey pixel. */
function hue(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  const h = max === r ? (g - b) / d : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (((h * 60) % 360) + 360) % 360;
}

/** Otsu's threshold of a 256-bin histogram: the t maximising between-class variance of ≤ t and > t. */
export function otsu(histogram: ArrayLike<number>): number {
  let total = 0;
  let sum = 0;
  for (let t = 0; t < 256; t++) {
    total += histogram[t]!;
    sum += t * histogram[t]!;
  }
  let best = 0;
  let bestVariance = -1;
  let below = 0;
  let sumBelow = 0;
  for (let t = 0; t < 255; t++) {
    below += histogram[t]!;
    sumBelow += t * histogram[t]!;
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const meanDiff = sumBelow / below - (sum - sumBelow) / above;
    const variance = below * above * meanDiff * meanDiff;
    if (variance > bestVariance) {
      bestVariance = variance;
      best = t;
    }
  }
  return best;
}

/**
 * Opening (removes specks and strands narrower than the disk) then closing (fills holes and gaps
 * narrower than it), in place. Erosion and dilation by a disk, windows clipped at the image border:
 * the disk is a stack of horizontal runs and per-row prefix counts answer each run in O(1), so a pass
 * costs O(pixels × (2r + 1)). The four passes share two buffers.
 */
function openAndClose(mask: Uint8Array, width: number, height: number, radius: number): void {
  const prefix = width < 0xffff ? new Uint16Array((width + 1) * height) : new Uint32Array((width + 1) * height);
  const half = Array.from({ length: 2 * radius + 1 }, (_, k) =>
    Math.floor(Math.sqrt(radius * radius - (k - radius) ** 2)),
  );
  const other = new Uint8Array(mask.length);
  const pass = (src: Uint8Array, dst: Uint8Array, erode: boolean) => {
    for (let y = 0; y < height; y++) {
      const row = y * (width + 1);
      for (let x = 0; x < width; x++) prefix[row + x + 1] = prefix[row + x]! + src[y * width + x]!;
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // Erosion keeps a pixel when every run is full; dilation sets it when any run has a pixel.
        let hit = erode ? 1 : 0;
        for (let k = 0; k <= 2 * radius; k++) {
          const yy = y + k - radius;
          if (yy < 0 || yy >= height) continue;
          const x0 = Math.max(0, x - half[k]!);
          const x1 = Math.min(width, x + half[k]! + 1);
          const row = yy * (width + 1);
          const count = prefix[row + x1]! - prefix[row + x0]!;
          if (erode ? count < x1 - x0 : count > 0) {
            hit = 1 - hit;
            break;
          }
        }
        dst[y * width + x] = hit;
      }
    }
  };
  pass(mask, other, true);
  pass(other, mask, false);
  pass(mask, other, false);
  pass(other, mask, true);
}

/**
 * Clears 8-connected components smaller than `minSize` pixels, in place. A breadth-first fill appends
 * each component's pixels to `queue`, which is then also the list of pixels to clear.
 */
function removeSmallComponents(mask: Uint8Array, width: number, height: number, minSize: number): void {
  const seen = new Uint8Array(mask.length);
  const queue = new Int32Array(mask.length);
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    seen[start] = 1;
    queue[0] = start;
    let end = 1;
    for (let head = 0; head < end; head++) {
      const p = queue[head]!;
      const px = p % width;
      const py = (p - px) / width;
      for (let y = Math.max(0, py - 1); y <= Math.min(height - 1, py + 1); y++) {
        for (let x = Math.max(0, px - 1); x <= Math.min(width - 1, px + 1); x++) {
          const q = y * width + x;
          if (!mask[q] || seen[q]) continue;
          seen[q] = 1;
          queue[end++] = q;
        }
      }
    }
    if (end < minSize) for (let k = 0; k < end; k++) mask[queue[k]!] = 0;
  }
}

/** Summed-area tables of masks, (width + 1) × (height + 1), built on first use (masks have < 2³² pixels). */
const integrals = new WeakMap<TissueMask, Uint32Array>();

function integralOf(m: TissueMask): Uint32Array {
  let table = integrals.get(m);
  if (table) return table;
  const { width, height, mask } = m;
  const stride = width + 1;
  table = new Uint32Array(stride * (height + 1));
  for (let y = 0; y < height; y++) {
    let run = 0;
    for (let x = 0; x < width; x++) {
      run += mask[y * width + x]!;
      table[(y + 1) * stride + x + 1] = table[y * stride + x + 1]! + run;
    }
  }
  integrals.set(m, table);
  return table;
}

/**
 * Share of a box (level-0 pixels) covered by tissue, mask pixels weighted by how much of them the box
 * covers (the mask is piecewise constant, so its integral is bilinear within a pixel and the answer is
 * exact). Parts of the box outside the slide count as background.
 */
export function fractionInBox(m: TissueMask, x0: number, y0: number, width: number, height: number): number {
  if (!(width > 0) || !(height > 0)) throw new RangeError(`box size must be positive, got ${width}×${height}`);
  const table = integralOf(m);
  const stride = m.width + 1;
  const clampX = (x: number) => Math.min(m.width, Math.max(0, x / m.downsample));
  const clampY = (y: number) => Math.min(m.height, Math.max(0, y / m.downsample));
  /** Tissue area of [0, x) × [0, y) in mask pixels, for real x, y. */
  const area = (x: number, y: number): number => {
    const ix = Math.min(Math.floor(x), m.width - 1);
    const iy = Math.min(Math.floor(y), m.height - 1);
    const fx = x - ix;
    const fy = y - iy;
    const a = table[iy * stride + ix]!;
    const b = table[iy * stride + ix + 1]!;
    const c = table[(iy + 1) * stride + ix]!;
    const d = table[(iy + 1) * stride + ix + 1]!;
    return a * (1 - fx) * (1 - fy) + b * fx * (1 - fy) + c * (1 - fx) * fy + d * fx * fy;
  };
  const xa = clampX(x0);
  const xb = clampX(x0 + width);
  const ya = clampY(y0);
  const yb = clampY(y0 + height);
  const tissue = area(xb, yb) - area(xa, yb) - area(xb, ya) + area(xa, ya);
  return Math.min(1, Math.max(0, tissue / ((width * height) / (m.downsample * m.downsample))));
}

/** Writes the mask as a greyscale PNG: tissue white, background black. */
export async function writeMaskPng(m: TissueMask, path: string): Promise<void> {
  const grey = new Uint8Array(m.mask.length);
  for (let i = 0; i < grey.length; i++) grey[i] = m.mask[i]! * 255;
  await sharp(grey, { raw: { width: m.width, height: m.height, channels: 1 } })
    .png()
    .toFile(path);
}

/** Tint of tissue in the preview, and its blend weight; the mask's outline is drawn solid. */
const TINT: readonly [number, number, number] = [0, 190, 60];
const TINT_WEIGHT = 0.35;

/**
 * A PNG of the slide's thumbnail at the mask's size with the tissue tinted green and outlined, for
 * checking a mask by eye (`histoseek slide mask SLIDE --out PNG`).
 */
export async function renderMaskPreview(slide: Slide, m: TissueMask): Promise<Buffer> {
  const thumb = await readThumbnail(slide, Math.max(m.width, m.height));
  if (thumb.width !== m.width || thumb.height !== m.height) {
    throw new Error(
      `${slide.path}: the mask (${m.width}×${m.height}) was not made from this slide (thumbnail ${thumb.width}×${thumb.height})`,
    );
  }
  const { width, height, mask } = m;
  const rgb = thumb.rgb;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const edge =
        x === 0 ||
        y === 0 ||
        x === width - 1 ||
        y === height - 1 ||
        !mask[i - 1] ||
        !mask[i + 1] ||
        !mask[i - width] ||
        !mask[i + width];
      for (let c = 0; c < 3; c++) {
        rgb[3 * i + c] = edge ? TINT[c]! : Math.round(rgb[3 * i + c]! * (1 - TINT_WEIGHT) + TINT[c]! * TINT_WEIGHT);
      }
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}
