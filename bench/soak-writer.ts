/**
 * The soak test's writer, one process at a time running the real command: it appends a few of the
 * demo's slides (`histoseek index DIR --layout slides --db DB`), lets them be searched for a while,
 * removes them one by one (`histoseek index --db DB --remove-slide S`), pauses, and again, until the
 * deadline. Each cycle links the slides under new names (c<cycle>-<slide>), so a removed slide never
 * comes back and any answer holding it after its removal is an error. A removal counts as done when
 * its command's process has exited: that time goes into the ledger the clients check against.
 */
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HISTOSEEK, info, numberField, runJsonChild } from './common.js';
import type { RemovalLedger } from './soak-load.js';

/** Seconds appended slides stay in the index before their removal, and between a removal and the next append. */
const HOLD_MS = 10_000;
const PAUSE_MS = 5_000;
const SLIDES_PER_CYCLE = 2;
/** A command that runs longer is killed and counted as a failure: the writer's loop ends by itself. */
const COMMAND_TIMEOUT_MS = 120_000;

export interface WriterOutcome {
  cycles: number;
  appendedSlides: number;
  appendedItems: number;
  removedSlides: number;
  removedItems: number;
  /** Wall time of each index command (append) and each removal command, ms. */
  appendMs: number[];
  removeMs: number[];
  /** Commands that failed, with their error: each is a finding. */
  failures: string[];
}

/** `histoseek index …` with --json; resolves with its answer and its wall time once its process has exited. */
async function histoseekIndex(args: string[]): Promise<{ answer: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  const answer = await runJsonChild(process.execPath, [HISTOSEEK, 'index', ...args, '--json'], COMMAND_TIMEOUT_MS);
  return { answer, ms: performance.now() - started };
}

/** Appends and removes slides on and off until `deadline` (performance.now() ms); a command running then is finished, none is started. */
export async function runWriter(o: {
  db: string;
  slides: string[];
  workDir: string;
  deadline: number;
  ledger: RemovalLedger;
}): Promise<WriterOutcome> {
  const outcome: WriterOutcome = {
    cycles: 0,
    appendedSlides: 0,
    appendedItems: 0,
    removedSlides: 0,
    removedItems: 0,
    appendMs: [],
    removeMs: [],
    failures: [],
  };
  const remaining = () => o.deadline - performance.now();
  for (let cycle = 0; remaining() > 0; cycle++) {
    const folder = path.join(o.workDir, `cycle-${cycle}`);
    await mkdir(folder, { recursive: true });
    const ids: string[] = [];
    for (let i = 0; i < SLIDES_PER_CYCLE; i++) {
      const slide = o.slides[(cycle * SLIDES_PER_CYCLE + i) % o.slides.length];
      const id = `c${cycle}-${path.basename(slide, path.extname(slide))}`;
      await symlink(slide, path.join(folder, `${id}${path.extname(slide)}`));
      ids.push(id);
    }
    try {
      const { answer, ms } = await histoseekIndex([folder, '--layout', 'slides', '--db', o.db, '--threads', '1']);
      // A slide the index named as giving no patch (an adipose one, pale as glass) added nothing.
      const empty = new Set((answer.slides_without_patches as { slide: string }[]).map((s) => s.slide));
      const appended = ids.filter((id) => !empty.has(id));
      outcome.appendMs.push(ms);
      outcome.appendedItems += numberField(answer, 'added');
      outcome.appendedSlides += appended.length;
      for (const id of appended) o.ledger.appended.add(id);
      info(
        `writer: cycle ${cycle}: appended ${appended.join(', ') || 'nothing'} (${numberField(answer, 'added')} items, ${(ms / 1000).toFixed(1)} s)`,
      );
      await sleep(Math.max(0, Math.min(HOLD_MS, remaining())));
      const removed: string[] = [];
      for (const id of appended) {
        if (remaining() <= 0) break;
        const removal = await histoseekIndex(['--db', o.db, '--remove-slide', id]);
        o.ledger.removedAt.set(id, performance.now());
        outcome.removeMs.push(removal.ms);
        outcome.removedItems += numberField(removal.answer, 'removed');
        removed.push(id);
      }
      outcome.removedSlides += removed.length;
      if (removed.length) info(`writer: cycle ${cycle}: removed ${removed.join(', ')}`);
    } catch (err) {
      outcome.failures.push(err instanceof Error ? err.message : String(err));
      info(`writer: cycle ${cycle} failed: ${outcome.failures.at(-1)}`);
    }
    outcome.cycles++;
    await sleep(Math.max(0, Math.min(PAUSE_MS, remaining())));
  }
  return outcome;
}
