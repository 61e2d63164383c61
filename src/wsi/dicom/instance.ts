/**
 * One instance of a VL Whole Slide Microscopy Image series (DICOM Supplement 145), reduced to what
 * tiling needs. Both sources describe instances in the DICOM JSON model (PS3.18 F.2): a Part 10
 * file's header as dcmjs reads it, and WADO-RS metadata as a PACS sends it; one function turns that
 * model into a WsiInstance, so a file and a PACS can never disagree on what an attribute means.
 */

/** An element of the DICOM JSON model: `{ vr, Value?, BulkDataURI?, InlineBinary? }`, keyed by 8-hex tag. */
export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomJsonElement>;

/** Image Type's third value: the pyramid's levels are VOLUME (THUMBNAIL is a small level too, kept out of tiling). */
export type WsiFlavor = 'VOLUME' | 'THUMBNAIL' | 'LABEL' | 'OVERVIEW';

export interface WsiInstance {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  /** Patient ID (0010,0020), or null when empty. */
  patientId: string | null;
  /** Container Identifier (0040,0512): the slide's barcode or accession, or null. */
  containerIdentifier: string | null;
  flavor: WsiFlavor;
  transferSyntaxUid: string;
  /** RGB, YBR_FULL_422, YBR_FULL, YBR_ICT, YBR_RCT, MONOCHROME2 … */
  photometricInterpretation: string;
  samplesPerPixel: number;
  bitsAllocated: number;
  planarConfiguration: number;
  /** Size of one frame (tile). */
  tileWidth: number;
  tileHeight: number;
  /** Size of the whole level (Total Pixel Matrix Columns/Rows). */
  totalWidth: number;
  totalHeight: number;
  numberOfFrames: number;
  /** 'full' when frames are in TILED_FULL order, 'sparse' when each frame's place is given per frame. */
  tiling: 'full' | 'sparse';
  /**
   * Top-left corner of every frame in level pixels, 0-based: x of frame n (1-based) at [2(n−1)],
   * y at [2(n−1)+1]. Computed for TILED_FULL, read from Plane Position (Slide) for TILED_SPARSE.
   */
  framePositions: Int32Array;
  /** Pixel Spacing in mm: [between rows, between columns], or null when absent. */
  pixelSpacingMm: readonly [number, number] | null;
  /** Imaged Volume Width/Height in mm, or null. */
  imagedVolumeMm: { width: number; height: number } | null;
  /** A few attributes worth showing in `slide info` (manufacturer, model, dates…), by keyword. */
  properties: Readonly<Record<string, string>>;
}

/** The encoded bytes of one frame, with the transfer syntax they are in. */
export interface EncodedFrame {
  data: Uint8Array;
  transferSyntaxUid: string;
}

/** Where frames come from: the Part 10 files of a folder, or a PACS over WADO-RS. */
export interface FrameSource {
  /** A description for messages: the folder, or the series' DICOMweb address. */
  readonly where: string;
  /** Frame `frame` (1-based) of `instance`. */
  readFrame(instance: WsiInstance, frame: number): Promise<EncodedFrame>;
  /** Releases files or connections; reads in flight finish first. Idempotent. */
  close(): void;
}
