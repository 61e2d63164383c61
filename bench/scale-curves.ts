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
 * The curve's figures at `target` recall, each read off its own Pareto frontier (the settings that
 * no other beats with both a higher recall and a lower figure, as ann-benchmarks draws them):
 * linear in recall between the two frontier settings that bracket the target, or the lowest one's
 * figure when it reaches the target already. `upper_bound` marks a target below every setting's
 * recall (a smaller knob might be faster still); `reached: false` one above them all.
 */
export function atRecall(curve: Curve, target: number): JsonRecord {
  const recalls = curve.lines.map((r) => r.recall_at_10 as number);
  const head = { engine: curve.engine, method: curve.method, recall_at_10: target, knob: curve.knob };
  if (Math.max(...recalls) < target)
    return {
      ...head,
      reached: false,
      best_recall: Math.max(...recalls),
      ...Object.fromEntries(FIGURES.map((key) => [key, null])),
    };
  return {
    ...head,
    reached: true,
    ...(Math.min(...recalls) >= target ? { upper_bound: true } : {}),
    ...Object.fromEntries(FIGURES.flatMap((key) => readFigure(curve, key, target))),
  };
}

interface FrontierPoint {
  recall: number;
  value: number;
  setting: unknown;
}

/** The settings of `curve` on the Pareto frontier of recall (higher is better) against `key` (lower is better), by ascending recall. */
function frontier(curve: Curve, key: (typeof FIGURES)[number]): FrontierPoint[] {
  const points = curve.lines
    .filter((r) => typeof r[key] === 'number')
    .map((r) => ({ recall: r.recall_at_10 as number, value: r[key] as number, setting: r[curve.knob] }))
    .sort((a, b) => b.recall - a.recall || a.value - b.value);
  const kept: FrontierPoint[] = [];
  for (const p of points) if (p.value < (kept.at(-1)?.value ?? Infinity)) kept.push(p);
  return kept.reverse();
}

/** `key` at `target` recall and the settings it was read between, as [field, value] pairs (null when no setting with that figure reaches the target). */
function readFigure(curve: Curve, key: (typeof FIGURES)[number], target: number): [string, unknown][] {
  const points = frontier(curve, key);
  const i = points.findIndex((p) => p.recall >= target);
  if (i < 0) return [[key, null]];
  const [a, b] = i === 0 ? [points[0], points[0]] : [points[i - 1], points[i]];
  const t = b.recall === a.recall ? 0 : (target - a.recall) / (b.recall - a.recall);
  return [
    [key, Number((a.value + t * (b.value - a.value)).toPrecision(4))],
    [`${key}_between`, a === b ? [a.setting] : [a.setting, b.setting]],
  ];
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
