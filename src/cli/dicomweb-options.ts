/**
 * The options that reach a PACS over DICOMweb, the same in every command that reads slides: where
 * (`--dicomweb URL`, or a `dicomweb+https://…` address given as the collection or slide), which
 * study or series (`--study`, `--series`), and who histoseek is to it. Secrets come from files or the
 * environment only, never from the command line, where `ps` would show them to every user.
 */
import { parseDicomWebUrl, formatDicomWebUrl, isDicomWebUrl } from '../wsi/dicomweb/dicomweb-url.js';
import { resolveCredentials, PASSWORD_ENV, TOKEN_ENV, USER_ENV } from '../wsi/dicomweb/credentials.js';
import { listSeries, plainHttpWarning, useDicomWebCredentials } from '../wsi/dicomweb/dicomweb-slide.js';
import { STDERR_LOGGER } from '../util/logger.js';
import { usageRow } from './args.js';

export const DICOMWEB_OPTIONS = {
  'dicomweb-token-file': { type: 'string' },
  'dicomweb-user': { type: 'string' },
  'dicomweb-password-file': { type: 'string' },
} as const;

/** `index` also takes the PACS as a flag, and narrows it to a study or a series. */
export const DICOMWEB_INDEX_OPTIONS = {
  dicomweb: { type: 'string' },
  study: { type: 'string' },
  series: { type: 'string' },
  ...DICOMWEB_OPTIONS,
} as const;

export const DICOMWEB_AUTH_USAGE =
  usageRow('--dicomweb-token-file F', `a PACS: bearer token in file F (or ${TOKEN_ENV})`) +
  usageRow('--dicomweb-user U', `a PACS: HTTP basic user U, password from --dicomweb-password-file F`) +
  usageRow('', `or ${PASSWORD_ENV} (or ${USER_ENV}); user:password@ in the address works too`);

export const DICOMWEB_INDEX_USAGE =
  usageRow('--dicomweb URL', 'index the slide-microscopy series of a PACS (also: give URL as DIR):') +
  usageRow('', 'dicomweb+https://HOST/PATH (the DICOMweb root); implies --layout slides') +
  usageRow('--study UID', 'a PACS: only this study’s series') +
  usageRow('--series UID', 'a PACS: only this series') +
  DICOMWEB_AUTH_USAGE;

const DICOMWEB_FLAGS = ['dicomweb-token-file', 'dicomweb-user', 'dicomweb-password-file'] as const;

interface DicomWebFlags {
  'dicomweb-token-file'?: string;
  'dicomweb-user'?: string;
  'dicomweb-password-file'?: string;
}

/**
 * Makes the credentials the flags (else the address or the environment) give the ones every slide
 * under `address`'s DICOMweb root is read with — those indexing, search and the viewer open later
 * by their stored address included. Without a `dicomweb+` address, flags that were given apply to
 * every PACS (the slides an index refers to, say); with neither, nothing changes.
 */
export async function useDicomWebFlags(address: string | undefined, values: DicomWebFlags): Promise<void> {
  const pacs = address !== undefined && isDicomWebUrl(address);
  const flagged = DICOMWEB_FLAGS.some((flag) => values[flag] !== undefined);
  if (!pacs && !flagged) return;
  const credentials = await resolveCredentials(
    {
      tokenFile: values['dicomweb-token-file'],
      user: values['dicomweb-user'],
      passwordFile: values['dicomweb-password-file'],
    },
    pacs ? parseDicomWebUrl(address).userinfo : undefined,
  );
  useDicomWebCredentials(pacs ? address : null, credentials);
  const warning = pacs ? plainHttpWarning(address, credentials) : null;
  if (warning) STDERR_LOGGER.warn(`histoseek: warning: ${warning}`);
}

/**
 * The collection `index` reads: DIR as given, or the PACS of `--dicomweb` / a `dicomweb+` DIR
 * narrowed by `--study` and `--series` into one address (a series asked for without its study is
 * looked up), after registering the credentials to read it with. The address returned holds no
 * credential: it is what the index records.
 */
export async function collectionAddress(
  positional: string | undefined,
  values: DicomWebFlags & { dicomweb?: string; study?: string; series?: string },
): Promise<string | undefined> {
  if (values.dicomweb !== undefined && positional !== undefined)
    throw new Error(`give a collection folder or --dicomweb URL, not both (got ${positional} and --dicomweb)`);
  const given = values.dicomweb ?? positional;
  if (given === undefined || !isDicomWebUrl(given)) {
    if (values.study !== undefined || values.series !== undefined)
      throw new Error('--study and --series apply to a PACS (--dicomweb URL or a dicomweb+ address)');
    return given;
  }
  await useDicomWebFlags(given, values);
  const address = parseDicomWebUrl(given);
  if (values.series !== undefined) {
    const [series] = await listSeries(given, { study: values.study, series: values.series, logger: STDERR_LOGGER });
    return series;
  }
  if (values.study !== undefined && address.study !== undefined && values.study !== address.study)
    throw new Error(`--study ${values.study} disagrees with the address's study ${address.study}`);
  return formatDicomWebUrl({ ...address, study: values.study ?? address.study });
}
