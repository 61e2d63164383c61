/**
 * Who histoseek is to a PACS: a bearer token or a user and password (HTTP basic), found the way the
 * PostgreSQL store finds its password: what the command line says (--dicomweb-token-file, --dicomweb-user with
 * --dicomweb-password-file; a library caller may also pass a `token`), else `user:password` in the address, else the environment
 * (HISTOSEEK_DICOMWEB_TOKEN, or HISTOSEEK_DICOMWEB_USER with HISTOSEEK_DICOMWEB_PASSWORD). A file is
 * refused, as libpq refuses ~/.pgpass, when others may read it.
 *
 * The secret lives in a private field: printing, logging or serialising the credentials shows only
 * their kind and where they came from, so an error that carries them leaks nothing.
 */
import { readFile, stat } from 'node:fs/promises';
import { inspect } from 'node:util';
import { HistoseekError } from '../../util/errors.js';

export const TOKEN_ENV = 'HISTOSEEK_DICOMWEB_TOKEN';
export const USER_ENV = 'HISTOSEEK_DICOMWEB_USER';
export const PASSWORD_ENV = 'HISTOSEEK_DICOMWEB_PASSWORD';

/** What the command line passes: each is optional; a token and a user cannot go together. */
export interface CredentialFlags {
  token?: string;
  tokenFile?: string;
  user?: string;
  passwordFile?: string;
}

export type CredentialScheme = 'none' | 'bearer' | 'basic';

/** The credentials sent with every request. Holds the secret out of sight of inspect, JSON and string conversion. */
export class DicomWebCredentials {
  readonly #authorization: string | undefined;

  private constructor(
    readonly scheme: CredentialScheme,
    /** Where they came from, for messages: '--dicomweb-token-file /run/secrets/pacs', 'HISTOSEEK_DICOMWEB_TOKEN', … */
    readonly source: string,
    authorization: string | undefined,
  ) {
    this.#authorization = authorization;
  }

  static readonly NONE = new DicomWebCredentials('none', 'no credentials', undefined);

  static bearer(token: string, source: string): DicomWebCredentials {
    if (!token) throw new HistoseekError('BAD_OPTION', `the bearer token from ${source} is empty`);
    if (/[\s]/.test(token))
      throw new HistoseekError('BAD_OPTION', `the bearer token from ${source} contains white space`);
    return new DicomWebCredentials('bearer', source, `Bearer ${token}`);
  }

  static basic(user: string, password: string, source: string): DicomWebCredentials {
    // RFC 7617: the user id of basic authentication cannot contain a colon.
    if (!user || user.includes(':'))
      throw new HistoseekError('BAD_OPTION', `the user name from ${source} is empty or contains ':'`);
    return new DicomWebCredentials('basic', source, `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
  }

  /** The Authorization header's value, or undefined for none. Only the HTTP client calls this. */
  authorization(): string | undefined {
    return this.#authorization;
  }

  /** 'a bearer token from HISTOSEEK_DICOMWEB_TOKEN', 'no credentials' … */
  describe(): string {
    switch (this.scheme) {
      case 'none':
        return this.source;
      case 'bearer':
        return `a bearer token from ${this.source}`;
      case 'basic':
        return `a user and password from ${this.source}`;
    }
  }

  toString(): string {
    return `DicomWebCredentials(${this.describe()})`;
  }

  toJSON(): { scheme: CredentialScheme; source: string } {
    return { scheme: this.scheme, source: this.source };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * The credentials for a PACS, from the flags, else the address's `user:password`, else the
 * environment; none when nothing gives any. Throws BAD_OPTION naming the flag, variable or file at
 * fault (never its content).
 */
export async function resolveCredentials(
  flags: CredentialFlags = {},
  userinfo?: { user: string; password: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<DicomWebCredentials> {
  if (flags.token !== undefined && flags.tokenFile !== undefined)
    throw new HistoseekError('BAD_OPTION', 'give a token or --dicomweb-token-file, not both');
  const tokenFlag = flags.token !== undefined || flags.tokenFile !== undefined;
  if (tokenFlag && (flags.user !== undefined || flags.passwordFile !== undefined))
    throw new HistoseekError(
      'BAD_OPTION',
      'give a token (--dicomweb-token-file) or a user (--dicomweb-user, --dicomweb-password-file), not both',
    );
  if (flags.token !== undefined) return DicomWebCredentials.bearer(flags.token, 'the token given');
  if (flags.tokenFile !== undefined)
    return DicomWebCredentials.bearer(
      await readSecretFile(flags.tokenFile),
      `--dicomweb-token-file ${flags.tokenFile}`,
    );
  if (flags.passwordFile !== undefined && flags.user === undefined && env[USER_ENV] === undefined)
    throw new HistoseekError('BAD_OPTION', `--dicomweb-password-file needs --dicomweb-user (or ${USER_ENV})`);
  if (flags.user !== undefined) {
    if (flags.passwordFile !== undefined)
      return DicomWebCredentials.basic(
        flags.user,
        await readSecretFile(flags.passwordFile),
        `--dicomweb-user and --dicomweb-password-file ${flags.passwordFile}`,
      );
    const password = env[PASSWORD_ENV];
    if (password === undefined)
      throw new HistoseekError(
        'BAD_OPTION',
        `--dicomweb-user needs a password: --dicomweb-password-file FILE or ${PASSWORD_ENV}`,
      );
    return DicomWebCredentials.basic(flags.user, password, `--dicomweb-user and ${PASSWORD_ENV}`);
  }
  if (userinfo) return DicomWebCredentials.basic(userinfo.user, userinfo.password, 'the address (user:password@)');
  const token = env[TOKEN_ENV];
  const user = env[USER_ENV];
  if (token !== undefined && user !== undefined)
    throw new HistoseekError('BAD_OPTION', `${TOKEN_ENV} and ${USER_ENV} are both set: unset one`);
  if (token !== undefined) return DicomWebCredentials.bearer(token, TOKEN_ENV);
  if (user !== undefined) {
    if (flags.passwordFile !== undefined)
      return DicomWebCredentials.basic(
        user,
        await readSecretFile(flags.passwordFile),
        `${USER_ENV} and --dicomweb-password-file ${flags.passwordFile}`,
      );
    const password = env[PASSWORD_ENV];
    if (password === undefined)
      throw new HistoseekError(
        'BAD_OPTION',
        `${USER_ENV} is set but ${PASSWORD_ENV} is not (or give --dicomweb-password-file)`,
      );
    return DicomWebCredentials.basic(user, password, `${USER_ENV} and ${PASSWORD_ENV}`);
  }
  return DicomWebCredentials.NONE;
}

/**
 * A token or password kept in a file: its content without surrounding white space. Refused when the
 * group or others have any access to it, as libpq refuses such a ~/.pgpass (POSIX only: Windows has no
 * such mode bits).
 */
async function readSecretFile(path: string): Promise<string> {
  let mode: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new HistoseekError('BAD_OPTION', `${path}: not a file`);
    mode = s.mode;
  } catch (e) {
    if (e instanceof HistoseekError) throw e;
    throw new HistoseekError('BAD_OPTION', `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0)
    throw new HistoseekError(
      'BAD_OPTION',
      `${path}: the group or others may access this secret (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  const secret = (await readFile(path, 'utf8')).trim();
  if (!secret) throw new HistoseekError('BAD_OPTION', `${path}: the file is empty`);
  return secret;
}
