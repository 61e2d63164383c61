/**
 * An image as a library caller hands it over: a file, the bytes of an encoded file (PNG, JPEG,
 * TIFF, WebP: what sharp decodes), or raw 8-bit pixels with their size. Each is read to the
 * model's S × S RGB input as an indexed file is (same decoder, same resize).
 */
import { resolve } from 'node:path';
import type { ItemLoader } from '../collections/load.js';
import { decodeRgb, ImageError, resizeRgb, type RgbImage } from '../data/image.js';

/** Raw 8-bit pixels, row-major and interleaved: RGB (3 channels, the default) or RGBA (4; alpha is flattened onto white). */
export interface RawPixels {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels?: 3 | 4;
}

/** A file path, the bytes of an encoded image (a Buffer is a Uint8Array), or raw pixels. */
export type ImageInput = string | Uint8Array | RawPixels;

export type ImageInputKind = 'path' | 'encoded' | 'pixels';

/** What an image may be, for errors that refuse something else. */
export const IMAGE_INPUT_FORMS = [
  "an image file's path",
  'encoded image bytes (Buffer or Uint8Array)',
  'raw pixels { pixels: Uint8Array, width, height }',
];

/** "a, b or c". */
export function oneOf(forms: readonly string[]): string {
  return forms.length < 2 ? forms.join('') : `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`;
}

/**
 * What `value` is, for an error that refuses it: its type, the keys of a plain object (a misnamed
 * field shows: `{ data, width, height }`), or what its `pixels` are when they are no Uint8Array.
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return `a ${typeof value}`;
  if (Array.isArray(value)) return 'an array';
  if ('pixels' in value && !(value.pixels instanceof Uint8Array))
    return `an object whose pixels are ${describeValue(value.pixels)}, not a Uint8Array`;
  const type = (value.constructor as { name?: string } | undefined)?.name;
  if (type && type !== 'Object') return `a ${type}`;
  const keys = Object.keys(value);
  if (!keys.length) return 'an empty object';
  return `an object { ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''} }`;
}

/** Which kind of image `value` is, or null for anything else. */
export function imageInputKind(value: unknown): ImageInputKind | null {
  if (typeof value === 'string') return 'path';
  if (value instanceof Uint8Array) return 'encoded';
  if (typeof value === 'object' && value !== null && 'pixels' in value && value.pixels instanceof Uint8Array)
    return 'pixels';
  return null;
}

/** Raw pixels' size, checked: what sharp would refuse or misread is a BAD_IMAGE naming `label`. */
function checkedPixels(input: RawPixels, label: string): Required<RawPixels> {
  const { width, height, channels = 3 } = input;
  const positive = (n: unknown) => Number.isSafeInteger(n) && (n as number) > 0;
  if (!positive(width) || !positive(height))
    throw new ImageError(label, `raw pixels need a positive integer width and height, got ${width}×${height}`);
  if (channels !== 3 && channels !== 4)
    throw new ImageError(label, `raw pixels have 3 (RGB) or 4 (RGBA) channels, got ${String(channels)}`);
  return { pixels: input.pixels, width, height, channels };
}

/**
 * The image resized to size × size RGB. A path goes through `loader` (so `<slide>#region=…` and
 * array rows read as in an index); `label` names bytes and pixels in errors (BAD_IMAGE, or
 * NOT_FOUND for a missing file).
 */
export async function readImageInput(
  input: ImageInput,
  size: number,
  label: string,
  loader: ItemLoader,
): Promise<RgbImage> {
  if (typeof input === 'string') return loader.load(resolve(input), size);
  if (input instanceof Uint8Array) return decodeRgb(input, size, label);
  // A caller's plain-JS value (model.embed's) may be anything: say what an image is, not where reading it broke.
  if (imageInputKind(input) !== 'pixels')
    throw new ImageError(label, `expected ${oneOf(IMAGE_INPUT_FORMS)}; got ${describeValue(input)}`);
  const { pixels, width, height, channels } = checkedPixels(input, label);
  return resizeRgb(pixels, width, height, size, label, channels);
}
