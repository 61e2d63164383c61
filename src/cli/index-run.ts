/**
 * What `histoseek index DIR` (and the demo) print around the library's `add`: progress bars drawn from
 * its callbacks, its warnings on stderr, and a summary of the run and of the index after it.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { AddCollectionOptions, AddReport, ModelOptions, VectorKind } from '../api/library.js';
import { openIndex } from '../api/library.js';
import type { Logger } from '../util/logger.js';
import { describeSlides, describeSlidesWithoutPatches, folderBytes, formatBytes } from '../api/slide-summary.js';
import { isPostgresUrl, openStore } from '../store/open-store.js';
import { HistoseekError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { isDicomWebUrl } from '../wsi/dicomweb/dicomweb-url.js';
import { listSeries } from '../wsi/dicomweb/dicomweb-slide.js';
import { STDERR_LOGGER } from '../util/logger.js';

export interface IndexRun
  extends ModelOptions, Pick<AddCollectionOptions, 'layout' | 'labels' | 'patches' | 'leaseSeconds'> {
  root: string;
  db: string;
  batch: number;
  threads: number;
  /** Stored precision, for a new index (an existing one that stores another is BAD_OPTION). */
  vectors?: VectorKind;
}

/** Lines on stderr; on a terminal each first clears the progress bar being drawn, which redraws below it. */
function lineLogger(out: NodeJS.WriteStream): Logger {
  const line = (message: string) => void out.write(`${out.isTTY ? '\r\x1b[K' : ''}${message}\n`);
  return { info: line, warn: line };
}

/**
 * Refuses a collection folder that is not there, or cannot be listed, before the index is created:
 * a mistyped folder would otherwise leave an empty index at --db. The message is the collection
 * reader's (readCollection), which says the same later for a library caller.
 */
async function checkCollectionFolder(root: string): Promise<void> {
  const isFolder = (await stat(root).catch(() => null))?.isDirectory() ?? false;
  if (!isFolder) throw new HistoseekError('NOT_FOUND', `${root}: no such folder`);
  await access(root, constants.R_OK | constants.X_OK).catch((err: NodeJS.ErrnoException) => {
    throw new HistoseekError('NOT_FOUND', `${root}: the folder cannot be read (${err.code ?? err.message})`);
  });
}

/**
 * Asks the PACS for its slide-microscopy series before the index is created, as a folder is checked:
 * refused credentials or an address with no slides would otherwise leave an empty index at --db.
 */
async function checkPacs(root: string): Promise<void> {
  const series = await listSeries(root, { logger: STDERR_LOGGER });
  if (series.length === 0)
    throw new HistoseekError('NOT_FOUND', `${root}: the PACS holds no slide-microscopy (SM) series there`);
}

/**
 * Indexes a collection (resuming where a previous run stopped) with the model the options name (an
 * existing index built with another is WRONG_MODEL), drawing progress and a summary on stderr.
 */
export async function indexWithProgress(o: IndexRun): Promise<AddReport> {
  const started = performance.now();
  const out = process.stderr;
  const { root, db, batch, threads, vectors, layout, labels, patches, leaseSeconds, ...model } = o;
  if (isDicomWebUrl(root)) await checkPacs(root);
  else await checkCollectionFolder(root);
  const index = await openIndex(db, {
    ...model,
    threads,
    create: true,
    vectors,
    recordedModel: false,
    logger: lineLogger(out),
  });
  let report: AddReport;
  try {
    const planning = new Progress('finding tissue', 0, 'slides', out);
    const shared = isPostgresUrl(db);
    const progress = new Progress(shared ? 'indexing (this worker)' : 'indexing', 0, 'images', out);
    report = await index.add(root, {
      layout,
      labels,
      patches,
      batch,
      leaseSeconds,
      onSlide: (done, total) => {
        planning.total = total;
        planning.advance(1);
        if (done === total) planning.finish();
      },
      onProgress: (p) => {
        progress.total = p.total;
        progress.reach(p.done);
      },
      onShared: ({ stored, total, heldByOthers }) =>
        progress.advance(
          0,
          `all workers: ${stored}/${total} stored${heldByOthers ? `, ${heldByOthers} units held by other workers` : ''}`,
        ),
    });
    progress.finish();
  } finally {
    await index.close();
  }
  // Read from the store once the index is closed: SQLite has folded its write-ahead log into the
  // database (measured below), and the index's own reader need not be reopened for a summary.
  const store = await openStore(db);
  let slidesIndexed: number;
  try {
    const slides =
      layout === 'slides'
        ? `; ${describeSlides(report.slides, (performance.now() - started) / 1000)}${describeSlidesWithoutPatches(report.withoutPatches)}`
        : '';
    out.write(
      `${store.location}: ${report.added} added, ${report.skipped} already indexed, ${report.failures.length + report.unreadableSlides.length} unreadable (skipped); ${report.live} items in the index (${store.vectorKind} vectors)${slides}\n`,
    );
    slidesIndexed = layout === 'slides' ? (await store.slideCounts()).size : 0;
  } finally {
    await store.close();
  }
  if (slidesIndexed && !isPostgresUrl(db)) {
    const bytes = await folderBytes(db);
    out.write(
      `${db}: ${formatBytes(bytes)} on disk, ${formatBytes(bytes / slidesIndexed)} per slide (${slidesIndexed} slides in the index)\n`,
    );
  }
  return report;
}
