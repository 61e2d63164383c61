/**
 * The one reader of WSI attributes: a VL Whole Slide Microscopy instance in the DICOM JSON model
 * (a Part 10 header as dcmjs reads it, or WADO-RS metadata) to a WsiInstance. Everything tiling
 * needs — tile and level sizes, where each frame sits, spacing, the patient and the series — is read
 * here and nowhere else, so a file and a PACS can never disagree on what an attribute means.
 */
import type { DicomJson, DicomJsonElement, WsiFlavor, WsiInstance } from './instance.js';

export const VL_WHOLE_SLIDE_MICROSCOPY = '1.2.840.10008.5.1.4.1.1.77.1.6';

const FLAVORS: ReadonlySet<string> = new Set<WsiFlavor>(['VOLUME', 'THUMBNAIL', 'LABEL', 'OVERVIEW']);

/** Attributes shown by `slide info` (by keyword), when the instance has them. */
const SHOWN: Readonly<Record<string, string>> = {
  Manufacturer: '00080070',
  ManufacturerModelName: '00081090',
  SoftwareVersions: '00181020',
  StudyDate: '00080020',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  AccessionNumber: '00080050',
  StudyID: '00200010',
};

/** The element at `tag` (8 hex digits, upper case), tolerating lower-case keys. */
export function element(json: DicomJson, tag: string): DicomJsonElement | undefined {
  return json[tag] ?? json[tag.toLowerCase()];
}

/** The first value of `tag`, or undefined when the element is absent or empty. */
export function firstValue(json: DicomJson, tag: string): unknown {
  return element(json, tag)?.Value?.[0];
}

/** The items of a sequence at `tag` (empty when absent). */
function items(json: DicomJson, tag: string): DicomJson[] {
  return (element(json, tag)?.Value ?? []) as DicomJson[];
}

/** A string value; PN values in the JSON model are objects, whose Alphabetic form is taken. */
export function stringValue(json: DicomJson, tag: string): string | null {
  const v = firstValue(json, tag);
  if (v === undefined || v === null) return null;
  const s = typeof v === 'object' && 'Alphabetic' in v ? String((v as { Alphabetic: unknown }).Alphabetic) : String(v);
  return s.trim() || null;
}

/** Reads attributes of one instance, every error naming the instance and the attribute. */
class AttributeReader {
  constructor(
    readonly json: DicomJson,
    readonly where: string,
  ) {}

  fail(tag: string, name: string, problem: string): never {
    throw new Error(`${this.where}: ${name} (${tag.slice(0, 4)},${tag.slice(4)}) ${problem}`);
  }

  string(tag: string, name: string, json = this.json): string {
    return stringValue(json, tag) ?? this.fail(tag, name, 'is missing');
  }

  /** A number (DS and IS may come as strings), or `fallback` when absent; never NaN. */
  number(tag: string, name: string, fallback?: number, json = this.json): number {
    const v = firstValue(json, tag);
    if (v === undefined || v === null || v === '') return fallback ?? this.fail(tag, name, 'is missing');
    const n = Number(v);
    return Number.isFinite(n) ? n : this.fail(tag, name, `is not a number ('${String(v)}')`);
  }

  positiveInt(tag: string, name: string, fallback?: number, json = this.json): number {
    const n = this.number(tag, name, fallback, json);
    return Number.isInteger(n) && n >= 1 ? n : this.fail(tag, name, `must be a positive integer, got ${n}`);
  }

  /** Two positive numbers (Pixel Spacing), or null when absent. */
  pair(tag: string, name: string, json: DicomJson): readonly [number, number] | null {
    const values = element(json, tag)?.Value;
    if (!values || values.length === 0) return null;
    const [a, b] = values.map(Number);
    if (values.length !== 2 || !(a! > 0) || !(b! > 0))
      this.fail(tag, name, `must be two positive numbers, got ${JSON.stringify(values)}`);
    return [a!, b!];
  }
}

/**
 * The WsiInstance the JSON model describes. `transferSyntaxUid` is the file's (meta header) or the
 * one the PACS serves; when undefined, (0002,0010) in `json` is used. `where` names the file or request
 * in errors.
 */
export function instanceFromJsonModel(
  json: DicomJson,
  transferSyntaxUid: string | undefined,
  where: string,
): WsiInstance {
  const r = new AttributeReader(json, where);
  const flavor = flavorOf(r);
  const tileWidth = r.positiveInt('00280011', 'Columns');
  const tileHeight = r.positiveInt('00280010', 'Rows');
  const numberOfFrames = r.positiveInt('00280008', 'Number of Frames', 1);
  // A label or overview is often a single frame with no total pixel matrix: the frame is the image.
  const single = numberOfFrames === 1;
  const totalWidth = r.positiveInt('00480006', 'Total Pixel Matrix Columns', single ? tileWidth : undefined);
  const totalHeight = r.positiveInt('00480007', 'Total Pixel Matrix Rows', single ? tileHeight : undefined);
  const { tiling, framePositions } = frameLayout(r, { tileWidth, tileHeight, totalWidth, totalHeight, numberOfFrames });
  const volumeWidth = r.number('00480001', 'Imaged Volume Width', 0);
  const volumeHeight = r.number('00480002', 'Imaged Volume Height', 0);
  const properties: Record<string, string> = {};
  for (const [keyword, tag] of Object.entries(SHOWN)) {
    const v = stringValue(json, tag);
    if (v) properties[keyword] = v;
  }
  return {
    sopInstanceUid: r.string('00080018', 'SOP Instance UID'),
    seriesInstanceUid: r.string('0020000E', 'Series Instance UID'),
    studyInstanceUid: r.string('0020000D', 'Study Instance UID'),
    patientId: stringValue(json, '00100020'),
    containerIdentifier: stringValue(json, '00400512'),
    flavor,
    transferSyntaxUid: transferSyntaxUid ?? r.string('00020010', 'Transfer Syntax UID'),
    photometricInterpretation: r.string('00280004', 'Photometric Interpretation'),
    samplesPerPixel: r.positiveInt('00280002', 'Samples per Pixel'),
    bitsAllocated: r.positiveInt('00280100', 'Bits Allocated'),
    planarConfiguration: r.number('00280006', 'Planar Configuration', 0),
    tileWidth,
    tileHeight,
    totalWidth,
    totalHeight,
    numberOfFrames,
    tiling,
    framePositions,
    pixelSpacingMm: pixelSpacing(r),
    imagedVolumeMm: volumeWidth > 0 && volumeHeight > 0 ? { width: volumeWidth, height: volumeHeight } : null,
    properties,
  };
}

/** Image Type's third value; a WSI instance without Image Type (some converters omit it) is a level. */
function flavorOf(r: AttributeReader): WsiFlavor {
  const values = element(r.json, '00080008')?.Value;
  if (!values || values.length === 0) return 'VOLUME';
  const third = String(values[2] ?? '').trim();
  if (!FLAVORS.has(third))
    r.fail('00080008', 'Image Type', `value 3 must be VOLUME, THUMBNAIL, LABEL or OVERVIEW, got '${third}'`);
  return third as WsiFlavor;
}

type Geometry = Pick<WsiInstance, 'tileWidth' | 'tileHeight' | 'totalWidth' | 'totalHeight' | 'numberOfFrames'>;

function frameLayout(r: AttributeReader, g: Geometry): Pick<WsiInstance, 'tiling' | 'framePositions'> {
  const organization = stringValue(r.json, '00209311');
  const perFrame = items(r.json, '52009230');
  const hasPositions = perFrame.some((item) => items(item, '0048021A').length > 0);
  if (organization === 'TILED_SPARSE' || (organization === null && hasPositions))
    return { tiling: 'sparse', framePositions: sparsePositions(r, perFrame, g) };
  if (organization !== null && organization !== 'TILED_FULL')
    r.fail('00209311', 'Dimension Organization Type', `'${organization}' is neither TILED_FULL nor TILED_SPARSE`);
  return { tiling: 'full', framePositions: fullPositions(r, g) };
}

/**
 * TILED_FULL: frames fill the matrix row by row. Only one focal plane and one optical path are read
 * (brightfield H&E); more would interleave planes the tiler cannot tell apart. An instance of a
 * concatenation starts at Concatenation Frame Offset Number.
 */
function fullPositions(r: AttributeReader, g: Geometry): Int32Array {
  const planes = r.positiveInt('00480303', 'Total Pixel Matrix Focal Planes', 1);
  const paths = r.positiveInt('00480302', 'Number of Optical Paths', 1);
  if (planes > 1) r.fail('00480303', 'Total Pixel Matrix Focal Planes', `is ${planes}: only one focal plane is read`);
  if (paths > 1) r.fail('00480302', 'Number of Optical Paths', `is ${paths}: only one optical path is read`);
  const across = Math.ceil(g.totalWidth / g.tileWidth);
  const down = Math.ceil(g.totalHeight / g.tileHeight);
  const offset = r.number('00209228', 'Concatenation Frame Offset Number', 0);
  if (offset + g.numberOfFrames > across * down)
    r.fail(
      '00280008',
      'Number of Frames',
      `is ${g.numberOfFrames} (from frame ${offset + 1}) but a ${g.totalWidth}×${g.totalHeight} matrix of ${g.tileWidth}×${g.tileHeight} tiles has ${across * down} (TILED_FULL)`,
    );
  const positions = new Int32Array(2 * g.numberOfFrames);
  for (let i = 0; i < g.numberOfFrames; i++) {
    const tile = offset + i;
    positions[2 * i] = (tile % across) * g.tileWidth;
    positions[2 * i + 1] = Math.floor(tile / across) * g.tileHeight;
  }
  return positions;
}

/** TILED_SPARSE: each frame's place from Plane Position (Slide), 1-based in the total pixel matrix. */
function sparsePositions(r: AttributeReader, perFrame: DicomJson[], g: Geometry): Int32Array {
  if (perFrame.length !== g.numberOfFrames)
    r.fail(
      '52009230',
      'Per-Frame Functional Groups Sequence',
      `has ${perFrame.length} items for ${g.numberOfFrames} frames`,
    );
  const positions = new Int32Array(2 * g.numberOfFrames);
  perFrame.forEach((item, i) => {
    const plane = items(item, '0048021A')[0];
    if (!plane) r.fail('0048021A', `Plane Position (Slide) Sequence of frame ${i + 1}`, 'is missing');
    const column = r.number(
      '0048021E',
      `Column Position In Total Image Pixel Matrix of frame ${i + 1}`,
      undefined,
      plane,
    );
    const row = r.number('0048021F', `Row Position In Total Image Pixel Matrix of frame ${i + 1}`, undefined, plane);
    if (!Number.isInteger(column) || !Number.isInteger(row) || column > g.totalWidth || row > g.totalHeight)
      r.fail(
        '0048021A',
        `Plane Position (Slide) of frame ${i + 1}`,
        `(${column}, ${row}) is outside the ${g.totalWidth}×${g.totalHeight} matrix`,
      );
    positions[2 * i] = column - 1;
    positions[2 * i + 1] = row - 1;
  });
  return positions;
}

/** Pixel Measures of the shared functional groups, else of the first frame, else the top level. */
function pixelSpacing(r: AttributeReader): readonly [number, number] | null {
  const measures = (group: DicomJson | undefined) => (group ? items(group, '00289110')[0] : undefined);
  for (const holder of [measures(items(r.json, '52009229')[0]), measures(items(r.json, '52009230')[0]), r.json]) {
    if (!holder) continue;
    const spacing = r.pair('00280030', 'Pixel Spacing', holder);
    if (spacing) return spacing;
  }
  return null;
}
