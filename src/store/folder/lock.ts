/**
 * One writer per index folder, in this process and in others:
 * - in this thread, a registry of the folders whose lock is held, keyed by the folder's real path,
 *   so that a symlink or a `sub/..` spelling of a folder collides with the folder;
 * - across threads and processes, the file `index.lock` holding the writer's pid. It is written under a
 *   temporary name and linked into place, so it never exists without its pid, and two writers
 *   cannot both link it. A lock whose process has gone is taken over. One holding this process's
 *   own pid, not in the registry, belongs to another thread (or another copy of histoseek) when it
 *   was made after this process started, and to a dead process whose pid was reused (a restarted
 *   container's) when made before.
 *
 * Why a pid file rather than a locking library: proper-lockfile, the maintained choice, calls a lock
 * stale once its holder stops refreshing the file's mtime from a timer; a writer busy in a long
 * synchronous step (building the graph of millions of rows blocks the event loop for minutes)
 * cannot refresh it and would lose its lock to the next writer. A pid goes stale exactly when its
 * process ends, whatever the writer is doing, and earlier histoseek versions read the same file.
 */
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { HistoseekError } from '../../util/errors.js';

export const LOCK_FILE = 'index.lock';

/** Real paths of the index folders this thread holds the lock of. */
const held = new Set<string>();

/** When this process started, by the wall clock (file times are on it); taken at load, before the clocks drift apart. */
const PROCESS_STARTED_MS = Date.now() - process.uptime() * 1000;
/** A lock made this close before the process's start is taken for its own: refusing is safer than sharing. */
const START_SLACK_MS = 2000;

export class WriterLock {
  private released = false;

  private constructor(
    private readonly key: string,
    /** The lock file. */
    readonly path: string,
  ) {}

  /** Takes the writer lock of the index folder `dir` (which exists); INDEX_LOCKED while another writer holds it. */
  static acquire(dir: string): WriterLock {
    const key = realpathSync(dir);
    if (held.has(key)) throw lockedHere(dir);
    const path = join(dir, LOCK_FILE);
    takeFile(dir, path);
    held.add(key);
    return new WriterLock(key, path);
  }

  /** Gives the lock back (again: nothing). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.key);
    rmSync(this.path, { force: true });
  }
}

function lockedHere(dir: string, leftOver?: string): HistoseekError {
  return new HistoseekError(
    'INDEX_LOCKED',
    `${dir}: the index is being written by this process (another writer is open); close that writer first, or wait for it to finish${leftOver ? ` (if none is open, the lock is left over: delete ${leftOver})` : ''}`,
  );
}

/** Links a file holding this process's pid to `path`, taking over a lock left by a process that has gone. */
function takeFile(dir: string, path: string): void {
  const temporary = `${path}.${process.pid}.${threadId}.tmp`;
  writeFileSync(temporary, String(process.pid));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temporary, path);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = readHolder(path);
        if (!holder) continue;
        if (holder.pid === process.pid && holder.madeMs >= PROCESS_STARTED_MS - START_SLACK_MS)
          throw lockedHere(dir, path);
        if (holder.pid && holder.pid !== process.pid && isAlive(holder.pid))
          throw new HistoseekError(
            'INDEX_LOCKED',
            `${dir}: the index is being written by PID ${holder.pid} (another histoseek process); wait for it to finish`,
            { cause: err },
          );
        // Gone: drop that very file (not one another writer linked since it was read).
        if (sameFile(path, holder.ino)) rmSync(path, { force: true });
      }
    }
  } finally {
    rmSync(temporary, { force: true });
  }
  throw new HistoseekError('INDEX_LOCKED', `${dir}: cannot take the writer lock ${path}`);
}

/** The pid in a lock file, when it was made and its inode; null when it went away meanwhile. */
function readHolder(path: string): { pid: number; madeMs: number; ino: number } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    return { pid: Number(readFileSync(fd, 'utf8')), madeMs: stat.mtimeMs, ino: stat.ino };
  } finally {
    closeSync(fd);
  }
}

function sameFile(path: string, ino: number): boolean {
  try {
    return statSync(path).ino === ino;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
