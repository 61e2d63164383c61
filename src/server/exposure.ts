/**
 * Whether `serve` may start on an address, decided before anything is opened: beyond loopback it
 * needs tokens (or an explicit `--insecure-no-auth`), and it warns about what is still exposed.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Exposure {
  host: string;
  /** A token file was given. */
  tokens: boolean;
  insecureNoAuth: boolean;
  tls: boolean;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const v4 = h.startsWith('::ffff:') && isIPv4(h.slice(7)) ? h.slice(7) : h;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return isIPv6(h) && /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(h);
}

/** Either a refusal (the server must not start) or the warnings to print before it does. */
export type ExposureVerdict = { refusal: string } | { warnings: string[] };

export function judgeExposure(o: Exposure): ExposureVerdict {
  if (isLoopback(o.host)) return { warnings: [] };
  const warnings: string[] = [];
  if (!o.tokens) {
    if (!o.insecureNoAuth) {
      return {
        refusal:
          `refusing to serve on ${o.host} without access control: any machine that can reach it could search the index and see its images. ` +
          `Give --token-file FILE (one 'name:token' per line; or set HISTOSEEK_TOKEN_FILE), bind to 127.0.0.1, ` +
          `or, on a network you trust completely, --insecure-no-auth`,
      };
    }
    warnings.push(
      `warning: serving on ${o.host} with no access control (--insecure-no-auth): anyone who can reach it can search the index and see its images`,
    );
  }
  if (!o.tls)
    warnings.push(
      `warning: serving plain HTTP on ${o.host}: ${o.tokens ? 'tokens, ' : ''}queries and images cross the network unencrypted; give --tls-cert FILE --tls-key FILE`,
    );
  return { warnings };
}
