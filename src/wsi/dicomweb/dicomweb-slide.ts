/**
 * A slide in a PACS: one DICOM WSI series read over DICOMweb. Its instances come from WADO-RS
 * metadata (through the same instanceFromJsonModel as a Part 10 file's header), its frames from
 * WADO-RS one at a time, only those a region needs, kept encoded in a byte-bounded LRU so the viewer
 * and region search do not fetch a frame twice (DicomSlide keeps the decoded ones, fewer of them).
 * Nothing is written to the PACS and nothing of it to disk.
 *
 * Credentials: those given, else those the command line registered for the root
 * (useDicomWebCredentials), else the address's or the environment's (resolveCredentials). The
 * index stores the series' address only, so a slide reopened later (the viewer, a search by region)
 * finds its credentials the same way.
 */
import { HistoseekError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { DicomSlide } from '../dicom/dicom-slide.js';
import { decodeFrame } from '../dicom/frame-codecs.js';
import type { DicomJson } from '../dicom/instance.js';
import { instanceFromJsonModel, stringValue } from '../dicom/json-model.js';
import { DicomWebClient } from './client.js';
import { DicomWebCredentials, resolveCredentials } from './credentials.js';
import { formatDicomWebUrl, parseDicomWebUrl, parseSeriesUrl, seriesUrl } from './dicomweb-url.js';
import { DicomWebFrameSource } from './frame-source.js';

/** Encoded frames kept per slide by default: some 8 000 JPEG tiles of 256 px, a few whole pyramids' worth. */
export const DEFAULT_FRAME_CACHE_BYTES = 32 * 2 ** 20;

export interface DicomWebOptions {
  /** Who to be to the PACS; see the module's comment for where they come from when absent. */
  credentials?: DicomWebCredentials;
  /** Hears about retries. */
  logger?: Logger;
}

export interface DicomWebSlideOptions extends DicomWebOptions {
  /** Bytes of encoded frames kept (default DEFAULT_FRAME_CACHE_BYTES). */
  cacheBytes?: number;
}

/** Credentials the command line resolved, by DICOMweb root, and those found once from the environment. */
const credentialsByRoot = new Map<string, Promise<DicomWebCredentials>>();
/** One client per root and credentials: the limit on requests in flight holds across the slides of one PACS. */
const clients = new WeakMap<DicomWebCredentials, Map<string, DicomWebClient>>();

/**
 * Makes every later DICOMweb read under `root` (a `dicomweb+` address; its study and series are
 * ignored; null: under any root without credentials of its own) use `credentials` unless the caller
 * gives others: how the command line's --dicomweb-token-file or
 * --dicomweb-user reaches the slides that indexing, search and the viewer open by their stored address.
 */
export function useDicomWebCredentials(root: string | null, credentials: DicomWebCredentials): void {
  if (root === null) defaultCredentials = credentials;
  else credentialsByRoot.set(parseDicomWebUrl(root).root, Promise.resolve(credentials));
}

/**
 * Those given with no root (null above): for every PACS no credentials were registered for, as
 * `serve --dicomweb-token-file F --db DB` reads the PACS slides the index refers to.
 */
let defaultCredentials: DicomWebCredentials | undefined;

async function clientFor(address: string, options: DicomWebOptions): Promise<DicomWebClient> {
  const { root, userinfo } = parseDicomWebUrl(address);
  let credentials = options.credentials;
  if (!credentials) {
    if (userinfo) credentials = await resolveCredentials({}, userinfo);
    else {
      let found = credentialsByRoot.get(root);
      if (!found) {
        found = defaultCredentials ? Promise.resolve(defaultCredentials) : resolveCredentials();
        credentialsByRoot.set(root, found);
        found.catch(() => credentialsByRoot.delete(root));
      }
      credentials = await found;
    }
  }
  let byRoot = clients.get(credentials);
  if (!byRoot) clients.set(credentials, (byRoot = new Map()));
  let client = byRoot.get(root);
  if (!client) {
    byRoot.set(root, (client = new DicomWebClient(root, { credentials, logger: options.logger })));
    const warning = plainHttpWarning(address, credentials);
    if (warning) options.logger?.warn(warning);
  }
  return client;
}

/** A warning when credentials would cross a network in clear text (plain http to a host other than this one), else null. */
export function plainHttpWarning(address: string, credentials: DicomWebCredentials): string | null {
  const { root, plainHttp } = parseDicomWebUrl(address);
  const host = new URL(root).hostname;
  const loopback = host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return plainHttp && credentials.scheme !== 'none' && !loopback
    ? `${formatDicomWebUrl({ root })}: plain http, so ${credentials.describe()} crosses the network readable by anyone on the way; use https`
    : null;
}

/**
 * The slide-microscopy series to index under a DICOMweb address, as slide addresses (sorted): every
 * SM series under the root, or in `study`, or the one `series` (also when the address itself names a
 * study or series). A series asked for by UID that the PACS does not have is a NOT_FOUND error.
 */
export async function listSeries(
  address: string,
  options: DicomWebOptions & { study?: string; series?: string } = {},
): Promise<string[]> {
  const parsed = parseDicomWebUrl(address);
  const study = options.study ?? parsed.study;
  const series = options.series ?? parsed.series;
  for (const [what, given, inAddress] of [
    ['study', options.study, parsed.study],
    ['series', options.series, parsed.series],
  ] as const) {
    if (given !== undefined && inAddress !== undefined && given !== inAddress)
      throw new HistoseekError('BAD_OPTION', `--${what} ${given} disagrees with the address's ${what} ${inAddress}`);
  }
  if (parsed.userinfo)
    options.logger?.info(
      `${formatDicomWebUrl(parsed)}: the user and password in the address are used to connect, and kept out of the index (it stores the address without them)`,
    );
  const client = await clientFor(address, options);
  const hits = await client.searchSeries({ study, series });
  if (series !== undefined && hits.length === 0)
    throw new HistoseekError(
      'NOT_FOUND',
      `${formatDicomWebUrl({ root: parsed.root, study })}: no slide-microscopy (SM) series ${series}`,
    );
  return hits.map((hit) => seriesUrl(parsed.root, hit.study, hit.series)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A slide's id in labels and results: its Series Instance UID. */
export function dicomWebSlideId(ref: string): string {
  return parseSeriesUrl(ref).series;
}

/**
 * Opens the series `ref` (`dicomweb+https://HOST/PATH/studies/S/series/SE`) as a slide whose path is
 * `ref` as given. The transfer syntax of an instance whose metadata lacks (0002,0010), as most
 * PACS' do, is the one its first frame comes in (that frame is kept for the reads to come).
 */
export async function openDicomWebSlide(ref: string, options: DicomWebSlideOptions = {}): Promise<DicomSlide> {
  const { root, study, series } = parseSeriesUrl(ref);
  const where = formatDicomWebUrl({ root, study, series });
  const client = await clientFor(ref, options);
  const metadata = await client.seriesMetadata(study, series);
  if (metadata.length === 0) throw new Error(`${where}: the series has no instances`);
  const source = new DicomWebFrameSource(client, where, {
    cacheBytes: options.cacheBytes ?? DEFAULT_FRAME_CACHE_BYTES,
  });
  try {
    const instances = await Promise.all(
      metadata.filter(isInSeries(series)).map(async (json) => {
        const sop = stringValue(json, '00080018') ?? '(no SOP Instance UID)';
        const at = `${where}, instance ${sop}`;
        const stored = stringValue(json, '00020010');
        if (stored) return instanceFromJsonModel(json, stored, at);
        const first = await source.firstFrame(study, series, sop);
        return instanceFromJsonModel(json, first.transferSyntaxUid, at);
      }),
    );
    return new DicomSlide(ref, instances, source, { backend: 'dicomweb', decode: decodeFrame });
  } catch (e) {
    source.close();
    throw e;
  }
}

/** Metadata of instances of other series (a server that answers too widely) is left out. */
function isInSeries(series: string): (json: DicomJson) => boolean {
  return (json) => (stringValue(json, '0020000E') ?? series) === series;
}
