/**
 * A search worker thread: opens the index folder read-only with the main side's snapshot of live
 * rows, then answers searches one message at a time, so that a long exact scan (SQLite, vector
 * file reads, onnxruntime's matrix products, all synchronous) holds this thread, never the server's
 * event loop. See worker-searcher.ts for the main side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HistoseekError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import {
  errorData,
  type FromWorker,
  packHits,
  type SearchWorkerData,
  type ToWorker,
} from './search-worker-protocol.js';
import { Searcher } from './search.js';
import { FolderIndex } from './folder-index.js';

const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
/** Notes go to the main side, whose logger hears them: this thread never writes to stderr itself. */
const notes: Logger = {
  info: (text) => post({ type: 'note', level: 'info', text }),
  warn: (text) => post({ type: 'note', level: 'warn', text }),
};

async function open({ dir, settings, active }: SearchWorkerData): Promise<{ index: FolderIndex; searcher: Searcher }> {
  const index = FolderIndex.open(dir);
  try {
    // Rows are only ever appended: an index with fewer rows than the snapshot is not the one it was.
    if (index.rows < active.length)
      throw new HistoseekError(
        'INDEX_DAMAGED',
        `${dir}: holds ${index.rows} rows, fewer than the ${active.length} it held when opened; the index was replaced or damaged`,
      );
    return { index, searcher: await Searcher.open(index, { ...settings, active, logger: notes }) };
  } catch (err) {
    index.close();
    throw err;
  }
}

/** Answers the main side's messages; it sends one search at a time and waits for its answer, and 'release' only when none is in flight. */
function serve(index: FolderIndex, searcher: Searcher): void {
  port.on('message', (message: ToWorker) => {
    if (message.type === 'release') {
      void searcher.release().finally(() => {
        index.close();
        port.close();
      });
      return;
    }
    const { queries, n, k, exclude } = message;
    searcher.search(queries, n, { k, exclude }).then(
      (hits) => {
        const packed = packHits(hits);
        const buffers = [packed.counts, packed.rows, packed.distances].map((a) => a.buffer as ArrayBuffer);
        post({ type: 'hits', hits: packed }, buffers);
      },
      (err: unknown) => post({ type: 'error', error: errorData(err) }),
    );
  });
  post({ type: 'ready', mode: searcher.mode });
}

try {
  const { index, searcher } = await open(workerData as SearchWorkerData);
  serve(index, searcher);
} catch (err) {
  // Closing the port ends the thread: the main side rejects the open with this error.
  post({ type: 'failed', error: errorData(err) });
  port.close();
}
