/**
 * The DICOM sides of the slide benchmark (bench/slides.ts): a bench slide converted to a DICOM WSI
 * series by Debian's OrthancWSIDicomizer, kept as Part 10 files and uploaded to a real Orthanc with
 * DICOMweb on a loopback port, as the PACS tests do (test/orthanc-fixtures.ts); and the check that
 * the copies have the source's levels and µm/px, made before anything is timed.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { dicomize, startOrthanc, type DicomizeOptions, type RunningOrthanc } from '../test/orthanc-fixtures.js';
import { describeTransferSyntax } from '../src/wsi/dicom/frame-codecs.js';
import { DicomWebCredentials, PASSWORD_ENV, USER_ENV } from '../src/wsi/dicomweb/credentials.js';
import { listSeries, useDicomWebCredentials } from '../src/wsi/dicomweb/dicomweb-slide.js';
import { openSlide } from '../src/wsi/slide.js';

export { SKIP_ORTHANC } from '../test/orthanc-fixtures.js';

/** A PACS to read from, and what to tell about it in the rows. */
export interface Pacs {
  orthanc: RunningOrthanc;
  /** `dicomweb+http://127.0.0.1:PORT/dicom-web`. */
  root: string;
  /** Orthanc's version, from /system. */
  version: string;
  /** CPU time Orthanc has used so far, all its threads, in ms: what serving the frames costs the PACS. */
  cpuMs(): number;
}

/** The Orthanc this process started: the fixture keeps its child to itself, so it is found among this process's children. */
function orthancPid(): number {
  const pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  for (const pid of pids) {
    const stat = statFields(Number(pid));
    if (stat?.name === 'Orthanc' && stat.parent === process.pid) return Number(pid);
  }
  throw new Error(`no Orthanc among the children of process ${process.pid}`);
}

/** A process's name, parent, and user + system CPU time in clock ticks, from /proc/PID/stat; null once it has gone. */
function statFields(pid: number): { name: string; parent: number; ticks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The name is in parentheses and may hold spaces: the fields after it are counted from its end.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    name: text.slice(text.indexOf('(') + 1, close),
    parent: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]),
  };
}

/**
 * Starts Orthanc and makes its credentials reach every DICOMweb read: this process's through
 * useDicomWebCredentials, the workers' through the environment they inherit (never their arguments,
 * which any user of the machine can list).
 */
export async function startPacs(): Promise<Pacs> {
  const orthanc = await startOrthanc();
  const root = `dicomweb+${orthanc.dicomWeb}`;
  useDicomWebCredentials(root, DicomWebCredentials.basic(orthanc.user, orthanc.password, 'the bench'));
  process.env[USER_ENV] = orthanc.user;
  process.env[PASSWORD_ENV] = orthanc.password;
  const system = (await (await orthanc.fetch('/system')).json()) as { Version?: string };
  const pid = orthancPid();
  const msPerTick = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const cpuMs = () => {
    const stat = statFields(pid);
    if (!stat) throw new Error(`Orthanc (process ${pid}) has exited`);
    return stat.ticks * msPerTick;
  };
  return { orthanc, root, version: system.Version ?? 'unknown', cpuMs };
}

/** One slide as the DICOM sides read it. */
export interface DicomCopies {
  /** The folder of Part 10 files (the series alone). */
  folder: string;
  /** The series in the PACS, as `index` would find it (QIDO-RS). */
  dicomweb: string;
  /** "1.2.840.10008.1.2.4.50 (JPEG Baseline)", … */
  transferSyntax: string;
  /** TILED_FULL or TILED_SPARSE. */
  tiling: string;
  files: number;
}

/** Converts `source` into `folder` (created), uploads the files, and checks both copies' geometry against the source. */
export async function dicomCopies(
  source: string,
  folder: string,
  pacs: Pacs,
  options: DicomizeOptions,
): Promise<DicomCopies> {
  await mkdir(folder, { recursive: true });
  const files = await dicomize(source, folder, options);
  const stored = await pacs.orthanc.upload(files);
  if (stored.length !== 1) throw new Error(`${folder}: the dicomizer wrote ${stored.length} series, expected one`);
  const [dicomweb] = await listSeries(pacs.root, { series: stored[0]!.seriesInstanceUid });
  const slide = await openSlide(folder);
  const { properties } = slide;
  slide.close();
  await checkSameGeometry(source, [folder, dicomweb!]);
  return {
    folder,
    dicomweb: dicomweb!,
    transferSyntax: properties['dicom.TransferSyntaxUID']!.split(',').map(describeTransferSyntax).join(', '),
    tiling: properties['dicom.DimensionOrganizationType']!,
    files: files.length,
  };
}

/** Largest relative difference of µm/px between a copy and its source (the dicomizer writes spacing in mm, rounded). */
const MPP_TOLERANCE = 1e-5;

/**
 * Throws unless every copy has the source's levels (sizes, in order) and µm/px: a copy that differs
 * would be timed on another tiling, so the ratio would mean nothing.
 */
async function checkSameGeometry(source: string, copies: readonly string[]): Promise<void> {
  const describe = async (at: string) => {
    const slide = await openSlide(at);
    try {
      return { levels: slide.levels.map((l) => `${l.width}×${l.height}`), mpp: slide.mpp };
    } finally {
      slide.close();
    }
  };
  const expected = await describe(source);
  for (const copy of copies) {
    const got = await describe(copy);
    const sameMpp =
      expected.mpp && got.mpp
        ? Math.abs(got.mpp.x / expected.mpp.x - 1) <= MPP_TOLERANCE &&
          Math.abs(got.mpp.y / expected.mpp.y - 1) <= MPP_TOLERANCE
        : expected.mpp === got.mpp;
    if (got.levels.join(',') !== expected.levels.join(',') || !sameMpp)
      throw new Error(
        `${copy} is not ${path.basename(source)} in DICOM: levels ${got.levels.join(', ')} at ${JSON.stringify(got.mpp)} µm/px, the source has ${expected.levels.join(', ')} at ${JSON.stringify(expected.mpp)}`,
      );
  }
}
