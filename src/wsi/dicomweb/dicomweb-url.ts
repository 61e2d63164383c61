/**
 * The one way histoseek writes a DICOMweb address: `dicomweb+https://HOST/PATH` names a DICOMweb
 * root (the service QIDO-RS and WADO-RS hang off), and
 * `dicomweb+https://HOST/PATH/studies/{study}/series/{series}` names one slide (a series): what the
 * index stores as the slide's path, so a patch's source is that followed by `#region=x,y,w,h`.
 *
 * Parsing puts every address in one canonical form (host in lower case, default port dropped, no
 * trailing slash) so that a rerun finds the slides it already indexed, and takes any `user:password`
 * out of it: the stored and printed address never holds a credential, the password goes to the
 * credentials (credentials.ts) instead.
 */
import { HistoseekError } from '../../util/errors.js';

const PREFIX = 'dicomweb+';
const SCHEME = /^dicomweb\+(https?):\/\//i;
/** A DICOM UID (PS3.5 9.1): numeric components separated by dots, at most 64 characters. */
const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;
const UID_MAX = 64;
/** `/studies/{uid}` or `/studies/{uid}/series/{uid}` at the end of the path. */
const STUDY_SERIES = /\/studies\/([^/]+)(?:\/series\/([^/]+))?\/?$/;
const EXPECTED = 'expected dicomweb+https://HOST/PATH[/studies/STUDY_UID[/series/SERIES_UID]]';

export interface DicomWebAddress {
  /** The DICOMweb root as an HTTP URL, without credentials or trailing slash: `https://host/path`. */
  readonly root: string;
  readonly study?: string;
  /** Only with `study`. */
  readonly series?: string;
  /** `user:password` that was in the URL, now out of it (decoded); absent when there was none. */
  readonly userinfo?: { user: string; password: string };
  /** True for plain `http`: anything sent, credentials included, travels in clear text. */
  readonly plainHttp: boolean;
}

/** True when `text` is meant as a DICOMweb address (it may still be malformed). */
export function isDicomWebUrl(text: string): boolean {
  return SCHEME.test(text);
}

/** True for a DICOM UID (digits and dots, at most 64 characters). */
export function isUid(text: string): boolean {
  return text.length <= UID_MAX && UID.test(text);
}

/**
 * The address with any `user:password@` taken out, for messages about an address that may not parse
 * (a parsed one prints as formatDicomWebUrl(address)).
 */
export function redactDicomWebUrl(text: string): string {
  return text.replace(/^(dicomweb\+https?:\/\/)[^/?#]*@/i, '$1');
}

/** Parses a DICOMweb address; throws a HistoseekError BAD_OPTION (without the credentials) naming what is wrong. */
export function parseDicomWebUrl(text: string): DicomWebAddress {
  const display = redactDicomWebUrl(text);
  const bad = (why: string) => new HistoseekError('BAD_OPTION', `${display}: ${why}`);
  const scheme = SCHEME.exec(text);
  if (!scheme) throw bad(`not a DICOMweb address; ${EXPECTED}`);
  let url: URL;
  try {
    // Parsed as http(s) so that the host is normalised as browsers do (the dicomweb+ scheme is not a special one).
    url = new URL(text.slice(PREFIX.length));
  } catch {
    throw bad(`not a valid URL; ${EXPECTED}`);
  }
  if (!url.hostname) throw bad(`the address names no host; ${EXPECTED}`);
  if (url.search)
    throw bad(
      'a query string is not part of a DICOMweb root (pass credentials with --dicomweb-token-file or --dicomweb-user)',
    );
  if (url.hash) throw bad(`a fragment (#…) is not part of a DICOMweb address; ${EXPECTED}`);
  const userinfo = url.username
    ? { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
    : undefined;
  url.username = '';
  url.password = '';
  let path = url.pathname;
  let study: string | undefined;
  let series: string | undefined;
  const tail = STUDY_SERIES.exec(path);
  if (tail) {
    [study, series] = [tail[1], tail[2]];
    for (const [what, uid] of [
      ['study', study],
      ['series', series],
    ] as const) {
      if (uid !== undefined && !isUid(uid))
        throw bad(`${what} '${uid}' is not a DICOM UID (digits and dots, at most ${UID_MAX} characters)`);
    }
    path = path.slice(0, tail.index);
  }
  const root = `${url.protocol}//${url.host}${path.replace(/\/+$/, '')}`;
  return { root, study, series, userinfo, plainHttp: scheme[1]!.toLowerCase() === 'http' };
}

/** The canonical `dicomweb+` address of a root, a study or a series; never with credentials. */
export function formatDicomWebUrl(address: Pick<DicomWebAddress, 'root' | 'study' | 'series'>): string {
  const { root, study, series } = address;
  if (series !== undefined && study === undefined) throw new Error('a DICOMweb series address needs its study');
  return `${PREFIX}${root}${study === undefined ? '' : `/studies/${study}`}${series === undefined ? '' : `/series/${series}`}`;
}

/** A slide's address, as the index stores it: its series under its study under the root. */
export function seriesUrl(root: string, study: string, series: string): string {
  return formatDicomWebUrl({ root, study, series });
}

/** The address of one series; throws BAD_OPTION when `text` names a root or a study rather than a series. */
export function parseSeriesUrl(text: string): DicomWebAddress & { study: string; series: string } {
  const address = parseDicomWebUrl(text);
  if (address.study === undefined || address.series === undefined)
    throw new HistoseekError(
      'BAD_OPTION',
      `${formatDicomWebUrl(address)}: names no series; a DICOMweb slide is …/studies/STUDY_UID/series/SERIES_UID`,
    );
  return address as DicomWebAddress & { study: string; series: string };
}
