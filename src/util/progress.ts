/** A progress bar on stderr: redrawn in place on a terminal, a line every few seconds otherwise (logs, CI). */
export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private lastDraw = 0;
  private drawnCount = -1;
  private readonly interactive: boolean;

  constructor(
    private readonly label: string,
    /** Adjustable while running, for jobs that learn their size as they go. */
    public total: number,
    private readonly unit = 'items',
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.interactive = Boolean(stream.isTTY);
  }

  private detail = '';

  /** Counts `n` more done; `detail` (e.g. the current loss) is shown after the rate. */
  advance(n = 1, detail?: string): void {
    this.done += n;
    if (detail !== undefined) this.detail = detail;
    const now = performance.now();
    const interval = this.interactive ? 100 : 5000;
    if (now - this.lastDraw >= interval || this.done >= this.total) {
      this.lastDraw = now;
      this.draw(now);
    }
  }

  /** Counts up to `done` in all: for callbacks that report a running total rather than what is new. */
  reach(done: number, detail?: string): void {
    this.advance(done - this.done, detail);
  }

  private draw(now: number): void {
    if (this.total === 0) return; // nothing to do, nothing to show
    this.drawnCount = this.done;
    const seconds = (now - this.start) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const fraction = this.total > 0 ? this.done / this.total : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const text = `${this.label} ${bar} ${this.done}/${this.total} ${this.unit} · ${rate.toFixed(1)}/s${this.detail ? ` · ${this.detail}` : ''} · ETA ${formatDuration(eta)}`;
    this.stream.write(this.interactive ? `\r${text}\x1b[K` : `${text}\n`);
  }

  finish(): void {
    if (this.drawnCount !== this.done) this.draw(performance.now());
    if (this.interactive) this.stream.write('\n');
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One bar per phase of a long job (caching, then each epoch…): a new phase closes the previous bar. */
export class PhaseProgress {
  private current: { phase: string; bar: Progress } | null = null;

  update(phase: string, done: number, total: number, unit: string, detail?: string): void {
    if (this.current?.phase !== phase) {
      this.finish();
      this.current = { phase, bar: new Progress(phase, total, unit) };
    }
    this.current.bar.reach(done, detail);
  }

  finish(): void {
    this.current?.bar.finish();
    this.current = null;
  }
}
