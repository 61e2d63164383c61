/**
 * The token file of `serve --token-file`: one `name:token[:scope]` per line. Tokens are kept only as
 * SHA-256 digests and compared in constant time over those fixed-length digests, so neither a
 * token's characters nor its length can be learnt from how long a refusal takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** `search`: search, items and thumbnails (and the index summary the page needs); `all`: also slides, the report and the map. */
export type Scope = 'search' | 'all';

export interface TokenHolder {
  name: string;
  scope: Scope;
}

interface Entry extends TokenHolder {
  digest: Buffer;
}

/** Shorter tokens can be guessed; 16 characters of a random token are ~96 bits. */
export const MIN_TOKEN_LENGTH = 16;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const SCOPES: readonly Scope[] = ['search', 'all'];

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class AccessTokens {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** Reads and checks a token file; every problem is an error that names the file and the line. */
  static load(file: string): AccessTokens {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the token file ${file}: ${(err as Error).message}`, { cause: err });
    }
    return AccessTokens.parse(text, file);
  }

  static parse(text: string, file: string): AccessTokens {
    const entries: Entry[] = [];
    const lineOf = new Map<string, number>();
    const tokenLine = new Map<string, number>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      // Never quote the line itself: it holds a secret.
      const where = `${file}:${i + 1}`;
      const fields = line.split(':');
      if (fields.length < 2 || fields.length > 3)
        throw new Error(
          `${where}: expected 'name:token' or 'name:token:scope', found ${fields.length} field${fields.length === 1 ? '' : 's'} separated by ':'`,
        );
      const [name, token, scope = 'all'] = fields.map((f) => f.trim());
      if (!NAME.test(name))
        throw new Error(`${where}: the name must be 1–64 letters, digits or . _ @ - (starting with a letter or digit)`);
      if (token.length < MIN_TOKEN_LENGTH)
        throw new Error(
          `${where}: the token of '${name}' is ${token.length} characters; at least ${MIN_TOKEN_LENGTH} are required (e.g. openssl rand -hex 24)`,
        );
      if (/\s/.test(token)) throw new Error(`${where}: the token of '${name}' contains white space`);
      if (!SCOPES.includes(scope as Scope))
        throw new Error(`${where}: unknown scope '${scope.slice(0, 32)}' for '${name}'; use ${SCOPES.join(' or ')}`);
      if (lineOf.has(name)) throw new Error(`${where}: the name '${name}' is already used on line ${lineOf.get(name)}`);
      const hex = digest(token).toString('hex');
      // Two people sharing a token could not be told apart in the audit log.
      if (tokenLine.has(hex))
        throw new Error(`${where}: the token of '${name}' is the same as the one on line ${tokenLine.get(hex)}`);
      lineOf.set(name, i + 1);
      tokenLine.set(hex, i + 1);
      entries.push({ name, scope: scope as Scope, digest: digest(token) });
    });
    if (entries.length === 0) throw new Error(`${file}: no tokens (one 'name:token[:scope]' per line)`);
    return new AccessTokens(entries);
  }

  /** The holder of `token`, or null. Every entry is compared, so the time taken does not say which one matched. */
  holder(token: string): TokenHolder | null {
    const given = digest(token);
    let found: Entry | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, given) && !found) found = entry;
    }
    return found && { name: found.name, scope: found.scope };
  }
}

/** Whether a token of `scope` may use a route that needs `needed`. */
export const allows = (scope: Scope, needed: Scope): boolean => scope === 'all' || needed === 'search';
