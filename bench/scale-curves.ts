/**
 * bench:scale's recall curves: each method's result lines across its search knob (histoseek's graph
 * candidates, FAISS HNSW's efSearch, IVF's nprobe), the figures read off them at given recalls, and
 * the figure that draws them.
 */
import type { JsonRecord } from './common.js';
import { type Panel, renderPanels, type Series } from './scale-plot.js';

/** The recalls@10 at which the curves are read: the figures engines are compared by. */
export const RECALL_TARGETS = [0.9, 0.95, 0.99];
/** The fields of a result line that set the search knob, whichever engine. */
const KNOBS = ['candidates', 'ef_search', 'nprobe'] as const;
const FIGURES = ['p50_ms', 'batch64_ms_per_query'] as const;

export interface Curve {
  engine: string;
  method: string;
  knob: (typeof KNOBS)[number];
  /** Measured lines, by ascending knob value. */
  lines: JsonRecord[];
}

const knobOf = (r: JsonRecord) => KNOBS.find((knob) => typeof r[knob] === 'number');

/** One case's measured lines grouped by (engine, method), for the methods that have a knob. */
export function curves(records: JsonRecord[]): Curve[] {
  const byName = new Map<string, Curve>();
  for (const r of records) {
    const knob = knobOf(r);
    if (!knob || r.extrapolated === true || typeof r.recall_at_10 !== 'number') continue;
    const name = `${String(r.engine)} ${String(r.method)}`;
    if (!byName.has(name)) byName.set(name, { engine: String(r.engine), method: String(r.method), knob, lines: [] });
    byName.get(name)!.lines.push(r);
  }
  for (const curve of byName.values())
    curve.lines.sort((a, b) => (a[curve.knob] as number) - (b[curve.knob] as number));
  return [...byName.values()];
}

/**
 * The curve's figures at `target` recall: linear in recall between the two neighbouring settings
 * whose recalls bracket it, the first such pair by ascending knob (recall grows with the knob, up to
 * noise). When even the lowest setting reaches the target, its figures stand as upper bounds; when
 * no setting does, the line says so and gives the best recall.
 */
export function atRecall(curve: Curve, target: number): JsonRecord {
  const { lines, knob } = curve;
  const recall = (i: number) => lines[i].recall_at_10 as number;
  const head = { engine: curve.engine, method: curve.method, recall_at_10: target, knob };
  if (recall(0) >= target)
    return { ...head, reached: true, upper_bound: true, ...pick(lines[0], lines[0], 0), between: [lines[0][knob]] };
  const i = lines.findIndex((_, j) => j > 0 && recall(j - 1) < target && recall(j) >= target);
  if (i < 0)
    return {
      ...head,
      reached: false,
      best_recall: Math.max(...lines.map((_, j) => recall(j))),
      ...Object.fromEntries(FIGURES.map((key) => [key, null])),
    };
  const t = (target - recall(i - 1)) / (recall(i) - recall(i - 1));
  return { ...head, reached: true, ...pick(lines[i - 1], lines[i], t), between: [lines[i - 1][knob], lines[i][knob]] };
}

/** Each figure interpolated a share `t` of the way from `a` to `b` (null where either lacks it). */
function pick(a: JsonRecord, b: JsonRecord, t: number): JsonRecord {
  return Object.fromEntries(
    FIGURES.map((key) => {
      const [va, vb] = [a[key], b[key]];
      return [
        key,
        typeof va === 'number' && typeof vb === 'number' ? Number((va + t * (vb - va)).toPrecision(4)) : null,
      ];
    }),
  );
}

/** p50 latency and batch throughput against recall@10, one line per curve, the target recalls marked. */
export function renderRecallPlot(found: Curve[], title: string): Promise<Buffer> {
  const series = (value: (r: JsonRecord) => number | undefined): Series[] =>
    found.map((curve) => ({
      name: `${curve.engine} ${curve.method}`,
      points: curve.lines.flatMap((r) => {
        const v = value(r);
        return v === undefined ? [] : [{ x: r.recall_at_10 as number, value: v }];
      }),
    }));
  const number = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const panel = (title: string, yLabel: string, s: Series[]): Panel => ({
    title,
    xLabel: 'recall@10',
    xLog: false,
    yLabel,
    series: s,
    guides: RECALL_TARGETS,
  });
  return renderPanels(
    [
      panel(
        'single-query latency (p50)',
        'ms per query',
        series((r) => number(r.p50_ms)),
      ),
      panel(
        'batch throughput (batches of 64)',
        'queries per second',
        series((r) => {
          const ms = number(r.batch64_ms_per_query);
          return ms ? 1000 / ms : undefined;
        }),
      ),
    ],
    title,
  );
}
