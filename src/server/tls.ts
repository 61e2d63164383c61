/** `serve --tls-cert FILE --tls-key FILE`: the PEM files for fastify's `https` option, read and checked before the server starts. */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
}

/** The certificate (chain) and key; an unreadable file, or a key that is not the certificate's, is an error naming the files. */
export function loadTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const cert = readPem(files.cert, '--tls-cert');
  const key = readPem(files.key, '--tls-key');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(
      `--tls-cert ${files.cert} with --tls-key ${files.key}: ${(err as Error).message} (both must be PEM, the key the certificate's own)`,
      { cause: err },
    );
  }
  return { cert, key };
}
