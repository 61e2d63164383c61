/**
 * Maps in every page of a file this process has memory-mapped, before the first use.
 *
 * A reader maps the search graph (usearch's view) instead of loading it: opening is far quicker,
 * and processes share the page cache. But each page is mapped into the process only when first
 * touched, and on virtual machines those faults can be slow: with a large graph already in the page
 * cache, the first queries after opening took nearly twice as long as warm ones.
 * madvise(MADV_POPULATE_READ) maps the whole file at once, for a small part of what those faults
 * cost. Linux 5.14 and later, through glibc and koffi; elsewhere nothing is done and pages are
 * mapped on first touch as before.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Koffi from 'koffi';

const MADV_POPULATE_READ = 22;

type Madvise = (address: bigint, length: bigint, advice: number) => number;

let madviseFunction: Madvise | null | undefined;

/** libc's madvise, or null where there is no glibc to call (not Linux, musl, koffi missing). */
function madvise(): Madvise | null {
  if (madviseFunction !== undefined) return madviseFunction;
  madviseFunction = null;
  if (process.platform === 'linux') {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
      const libc = koffi.load('libc.so.6');
      madviseFunction = libc.func('int madvise(uintptr_t address, size_t length, int advice)') as Madvise;
    } catch {
      // Pages are then mapped on first touch, as without this module.
    }
  }
  return madviseFunction;
}

/**
 * Maps in every page of this process's mappings of `path` (read from /proc/self/maps); returns the
 * bytes mapped in, 0 where the platform cannot (the mappings then fill in on first touch).
 */
export function populateMappings(path: string): number {
  const call = madvise();
  if (!call) return 0;
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 0; // no /proc (a sandbox): pages fill in on first touch
  }
  const target = realpathSync(path);
  let bytes = 0;
  for (const line of maps.split('\n')) {
    // address perms offset device inode pathname (a pathname may hold spaces)
    const fields = line.split(/ +/);
    if (fields.length < 6 || fields.slice(5).join(' ') !== target) continue;
    const [start, end] = fields[0].split('-').map((hex) => BigInt(`0x${hex}`));
    if (call(start, end - start, MADV_POPULATE_READ) === 0) bytes += Number(end - start);
  }
  return bytes;
}
