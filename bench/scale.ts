/**
 * Scale benchmark (issue #12 item 4): histoseek's index from 10⁵ to 10⁷ items against FAISS, on
 * the same vectors, queries and exact ground truth, 2 threads each.
 *
 * Vectors resembling real descriptors (scale-bases.ts, scale-space.ts): a few thousand synthetic
 * H&E patches are embedded with the default model (d = 256; for d = 2048 a seeded random `tiny`
 * model at 64 px on a few hundred patches) and cached; row r is then drawn around one of these bases,
 * picked by a PRNG seeded by r, with Gaussian noise of scale σ chosen so that a row lies from its
 * base at about the bases' own median nearest-neighbour distance (both printed), and renormalised.
 * 1000 queries come from a separate seed stream and are never indexed.
 *
 * Ground truth (scale-truth.ts): the exact float32 top-10 of every query over each case's N rows,
 * streamed chunk by chunk in one pass per d, which also writes the rows to one float32 file in the
 * work folder for FAISS (smaller cases read a prefix).
 *
 * Methods per case (N, d):
 * - histoseek `two-stage` and `exact` on an f16 index (the default), and at 10⁶ × 256 also on i8
 *   and f32 indexes. Indexes are built by scale-build.ts in its own process (resumable: a rerun
 *   continues a killed build), with archive-like metadata per item. For N > 2·10⁵ the exact scan
 *   times EXACT_SINGLES single queries only (and fewer batches): see queries_timed/queries_batched.
 * - FAISS IndexFlatL2, IndexHNSWFlat (M 16, efConstruction 40), IndexIVFScalarQuantizer SQ8 and
 *   IndexIVFPQ (d/4 bytes a row, no re-rank), both IVF with nlist = 4√N: see faiss_scale.py. Each is
 *   built once and served once, sweeping its search knob (--ef-search, --nprobe) in that process:
 *   one line per setting. FAISS HNSW at 10⁷ would take hours; its figures there are extrapolated
 *   from 10⁶ and 3·10⁶, setting by setting ("extrapolated": true).
 *
 * Recall curves: per case, each method's lines across its knob (histoseek's --candidates, FAISS's
 * efSearch and nprobe) are read at recall@10 = 0.90, 0.95 and 0.99 on their Pareto frontiers
 * (scale-curves.ts), one `"case": "at-recall"` line per (method, recall) with p50_ms and
 * batch64_ms_per_query, and drawn (p50 and batch throughput against recall@10) in
 * bench/results/scale-<time>Z.recall-<case>.png.
 * Every index is served by a fresh child process (scale-serve.ts, faiss_scale.py serve) that only
 * opens it and searches: its peak RSS is rss_mib. histoseek's lines also give graph_bytes_per_item,
 * the graph file's share of bytes_per_item: what serving maps into memory (the stored rows are read
 * through the page cache), so RSS grows by about that much per item; rss_file_mib and rss_anon_mib
 * split the resident memory after the last query into mapped files and private memory.
 *
 * Output: one JSON line per (case, method, knob setting) on stdout and in bench/results/scale-<time>Z.json, and
 * bench/results/scale-<time>Z.png (p50 latency and RSS against N, d = 256, log–log).
 *
 *   npm run bench:scale                          # everything (5–6 h; ≈ 40 GB free in --work)
 *   npm run bench:scale -- --max-n 1000000       # the cases up to 10⁶
 *   npm run bench:scale -- --cases d256-n1e5 --no-faiss
 *   npm run bench:scale -- --cases d2048-n1e6 --n 20000   # a smoke run: every selected case at N = 20 000
 *   npm run bench:scale -- --cases d256-n1e5 --candidates 20,40,80,160,320,640
 *                                                # recall curves at 10⁵ (≈ 3 min once the inputs are cached)
 * Options: --vectors f16,i8 (stored precisions built for every case; default f16), --faiss flat,hnsw,ivfsq8,ivfpq
 * (the FAISS indexes run; default all), --ef-search 16,32,64,128,256 and --nprobe 4,8,16,32,64 (FAISS's knob
 * settings served; these by default), --work DIR (default $TMPDIR/histoseek-scale: inputs, ground truth and indexes; reused by
 * reruns), --queries 1000, --keep-indexes, --candidates 160,320 (two-stage served once per count; default
 * once, at the searcher's default for the size), --no-precisions (no i8/f32 indexes at 10⁶ × 256: two
 * builds of 10⁶ items fewer), --plot A.json,B.json (no run: the growth figure from earlier runs'
 * results, bench/results/scale-growth-<time>Z.png).
 *
 * Run times, estimated from runs up to N = 2·10⁵ on 2 AMD EPYC cores shared with other work (the
 * histoseek build ran at ≈ 4000 rows/s at 2·10⁵, FAISS HNSW at ≈ 3400 rows/s at 10⁵ (d = 256) and
 * ≈ 650 rows/s at 2·10⁴ (d = 2048)): --max-n 1000000 ≈ 2 h, of which 10⁶ × 2048 ≈ 75 min (FAISS
 * HNSW's build ≈ 35 min) and 10⁶ × 256 ≈ 35 min (three histoseek builds ≈ 6 min each);
 * `--max-n 1000000 --cases d256-n1e5,d256-n1e6 --no-precisions` ≈ 25 min. The full run ≈ 5–6 h
 * (the 10⁷ histoseek build ≈ 1.5 h). Disk: ≈ 40 GB in --work at 10⁷.
 */
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCandidates } from '../src/store/folder/search.js';
import { GRAPH_FILE } from '../src/store/vectors/graph.js';
import { VECTOR_KINDS, type VectorKind } from '../src/store/types.js';
import {
  BENCH_DIR,
  ChildError,
  info,
  type JsonRecord,
  numberField,
  Results,
  runJsonChild,
  significant,
  SYSTEM_PYTHON,
} from './common.js';
import { baseDescriptors } from './scale-bases.js';
import { extrapolateHnsw, type Measured } from './scale-metrics.js';
import { atRecall, curves, RECALL_TARGETS, renderRecallPlot } from './scale-curves.js';
import { renderPanels, type Series } from './scale-plot.js';
import { medianNearestNeighbour, sigmaForDistance, SyntheticSpace } from './scale-space.js';
import { prepareInputs, type SharedInputs } from './scale-truth.js';

interface Case {
  name: string;
  d: number;
  n: number;
}

const CASES: Case[] = [
  { name: 'd256-n1e5', d: 256, n: 100_000 },
  { name: 'd256-n1e6', d: 256, n: 1_000_000 },
  { name: 'd256-n3e6', d: 256, n: 3_000_000 },
  { name: 'd256-n1e7', d: 256, n: 10_000_000 },
  { name: 'd2048-n1e6', d: 2048, n: 1_000_000 },
];
/** The case where the stored precisions are compared (to justify the default, f16). */
const PRECISION_CASE = 'd256-n1e6';
const FAISS_METHODS = ['flat', 'hnsw', 'ivfsq8', 'ivfpq'] as const;
type FaissMethod = (typeof FAISS_METHODS)[number];
const FAISS_NAMES: Record<FaissMethod, string> = {
  flat: 'IndexFlatL2',
  hnsw: 'IndexHNSWFlat',
  ivfsq8: 'IndexIVFScalarQuantizer-SQ8',
  ivfpq: 'IndexIVFPQ',
};
/** Each FAISS method's search knob, as its result lines name it; the growth figure draws the reference setting only. */
const FAISS_KNOBS: Partial<Record<FaissMethod, { key: 'ef_search' | 'nprobe'; reference: number }>> = {
  hnsw: { key: 'ef_search', reference: 128 },
  ivfsq8: { key: 'nprobe', reference: 32 },
  ivfpq: { key: 'nprobe', reference: 32 },
};
/** FAISS HNSW is extrapolated, not built, from this N on (hours of building). */
const HNSW_EXTRAPOLATED_FROM = 10_000_000;
const SEED = 2026;
const SINGLES = 200;
const BATCHES = 15;
/** Exhaustive scans above EXHAUSTIVE_SAMPLE_ABOVE items time a sample: each query reads every row. */
const EXHAUSTIVE_SAMPLE_ABOVE = 200_000;
const EXACT_SINGLES = 50;
const EXACT_BATCHES = 4;
const THREADS = 2;
const INSTALL = 'apt-get install python3-faiss';
/** Child processes are killed past these limits, far above any healthy run's: a build by items × d, a serving by settings. */
const BUILD_LIMIT_MS = (c: Case) => 10 * 60_000 + c.n * c.d * 4e-3;
const SERVE_LIMIT_MS = (c: Case, settings: number) => settings * (10 * 60_000 + c.n * c.d * 2e-4);

const { values: opts } = parseArgs({
  options: {
    'max-n': { type: 'string' },
    cases: { type: 'string' },
    'no-faiss': { type: 'boolean', default: false },
    'no-precisions': { type: 'boolean', default: false },
    n: { type: 'string' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'histoseek-scale') },
    queries: { type: 'string', default: '1000' },
    'keep-indexes': { type: 'boolean', default: false },
    vectors: { type: 'string', default: 'f16' },
    faiss: { type: 'string', default: FAISS_METHODS.join(',') },
    candidates: { type: 'string' },
    'ef-search': { type: 'string', default: '16,32,64,128,256' },
    nprobe: { type: 'string', default: '4,8,16,32,64' },
    plot: { type: 'string' },
  },
});

/** `--vectors f16,i8`: the stored precisions built for every case. */
function listOption<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(',');
  const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (unknown.length) throw new Error(`${flag}: unknown ${unknown.join(', ')}; choose from ${allowed.join(', ')}`);
  return items as T[];
}
const VECTOR_KINDS_BUILT = listOption(opts.vectors!, VECTOR_KINDS, '--vectors');
const FAISS_RUN = listOption(opts.faiss!, FAISS_METHODS, '--faiss');
/** `--candidates 160,320,640`: positive integers, comma-separated. */
function countsOption(value: string, flag: string): number[] {
  return value.split(',').map((item) => {
    const count = Number(item);
    if (!Number.isInteger(count) || count < 1) throw new Error(`${flag}: ${item} is not a positive integer`);
    return count;
  });
}
/** Two-stage search is served once per count, one line each; by default once, at the searcher's default for the size. */
const CANDIDATE_COUNTS: (number | undefined)[] = opts.candidates
  ? countsOption(opts.candidates, '--candidates')
  : [undefined];
const KNOB_SETTINGS = {
  ef_search: countsOption(opts['ef-search']!, '--ef-search'),
  nprobe: countsOption(opts.nprobe!, '--nprobe'),
};

function selectedCases(): Case[] {
  let cases = CASES;
  if (opts.cases) {
    const names = opts.cases.split(',');
    const unknown = names.filter((name) => !CASES.some((c) => c.name === name));
    if (unknown.length)
      throw new Error(`unknown case ${unknown.join(', ')}; the cases are ${CASES.map((c) => c.name).join(', ')}`);
    cases = CASES.filter((c) => names.includes(c.name));
  }
  if (opts['max-n']) cases = cases.filter((c) => c.n <= Number(opts['max-n']));
  if (opts.n)
    cases = cases.map((c) => ({
      ...c,
      name: `d${c.d}-n${opts.n}`,
      n: Number(opts.n),
      precisions: c.name === PRECISION_CASE,
    }));
  if (cases.length === 0) throw new Error('no case selected (see --cases and --max-n)');
  return cases;
}

function cpuModel(): string {
  return (
    /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
  );
}

/** Bytes of every file under `target` (a folder or one file). */
function bytesOnDisk(target: string): number {
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(target).reduce((sum, name) => sum + bytesOnDisk(path.join(target, name)), 0);
}

const sampled = (n: number) => n > EXHAUSTIVE_SAMPLE_ABOVE;
/** What every serving child is given: the queries, the case's ground truth and how many queries to time. */
const servingArgs = (n: number, inputs: SharedInputs, exhaustive: boolean) => [
  '--queries',
  inputs.queriesFile,
  '--truth',
  inputs.truthFile(n),
  '--singles',
  String(exhaustive && sampled(n) ? EXACT_SINGLES : SINGLES),
  '--batches',
  String(exhaustive && sampled(n) ? EXACT_BATCHES : BATCHES),
];

/** The figures every result line carries, from a serving child's answer plus the build's. */
function figures(build: { build_s: number; bytes: number }, n: number, served: JsonRecord): JsonRecord {
  return {
    build_s: significant(build.build_s),
    bytes_per_item: significant(build.bytes / n),
    rss_mib: significant(numberField(served, 'rss_mib'), 4),
    p50_ms: significant(numberField(served, 'p50_ms')),
    p95_ms: significant(numberField(served, 'p95_ms')),
    batch64_ms_per_query:
      typeof served.batch64_ms_per_query === 'number' ? significant(served.batch64_ms_per_query) : null,
    recall_at_10: significant(numberField(served, 'recall_at_10')),
    queries_timed: served.queries_timed,
    queries_batched: served.queries_batched,
    queries_recall: served.queries_recall,
  };
}

async function measureHistoseek(
  c: Case & { precisions?: boolean },
  inputs: SharedInputs,
  emit: (r: JsonRecord) => void,
): Promise<void> {
  const kinds: VectorKind[] =
    (c.name === PRECISION_CASE || c.precisions) && !opts['no-precisions']
      ? [...new Set([...VECTOR_KINDS_BUILT, 'f16', 'i8', 'f32'] as VectorKind[])]
      : VECTOR_KINDS_BUILT;
  for (const kind of kinds) {
    const dir = path.join(opts.work!, `histoseek-d${c.d}-n${c.n}-${kind}`);
    info(`${c.name}: building the histoseek ${kind} index in ${dir}…`);
    const built = await nodeChild(
      'scale-build.ts',
      ['--space', inputs.specFile, '--dir', dir, '--n', String(c.n), '--vectors', kind],
      BUILD_LIMIT_MS(c),
    );
    const build = { build_s: numberField(built, 'build_s'), bytes: bytesOnDisk(dir) };
    // What serving maps into memory; the stored rows stay on disk, read through the page cache.
    const graphBytesPerItem = significant(bytesOnDisk(path.join(dir, GRAPH_FILE)) / c.n);
    const servings = [
      ...CANDIDATE_COUNTS.map((candidates) => ({ mode: 'two-stage' as const, candidates })),
      { mode: 'exact' as const, candidates: undefined },
    ];
    for (const { mode, candidates } of servings) {
      info(`${c.name}: serving histoseek ${mode}${candidates ? ` at ${candidates} candidates` : ''} (${kind})…`);
      const served = await nodeChild(
        'scale-serve.ts',
        [
          '--dir',
          dir,
          '--mode',
          mode,
          ...servingArgs(c.n, inputs, mode === 'exact'),
          ...(candidates ? ['--candidates', String(candidates)] : []),
        ],
        SERVE_LIMIT_MS(c, 1),
      );
      emit({
        method: kind === 'f16' ? mode : `${mode}-${kind}`,
        engine: 'histoseek',
        vectors: kind,
        ...figures(build, c.n, served),
        graph_bytes_per_item: graphBytesPerItem,
        // Resident memory after the last query: mapped files (the graph, libraries) and private memory.
        rss_file_mib: served.rss_file_mib,
        rss_anon_mib: served.rss_anon_mib,
        ...(typeof served.candidates === 'number' ? { candidates: served.candidates, reranked: served.reranked } : {}),
      });
    }
    if (!opts['keep-indexes']) {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}.build.json`, { force: true });
    }
  }
}

/** FAISS HNSW at 10⁷ from this run's 10⁶ and 3·10⁶ lines, at each efSearch both have. */
function extrapolateFaissHnsw(c: Case, emit: (r: JsonRecord) => void, measured: Map<string, Measured>): void {
  let emitted = 0;
  for (const ef of KNOB_SETTINGS.ef_search) {
    const [a, b] = [1_000_000, 3_000_000].map((n) => measured.get(`hnsw-d${c.d}-n${n}-${ef}`));
    if (!a || !b) continue;
    emit({
      method: FAISS_NAMES.hnsw,
      engine: 'faiss',
      ...extrapolateHnsw(a, b, c.n),
      ef_search: ef,
      extrapolated: true,
      extrapolated_from: [a.n, b.n],
    });
    emitted++;
  }
  if (!emitted)
    info(
      `${c.name}: FAISS HNSW skipped (hours to build) and not extrapolated: it needs this run's 10⁶ and 3·10⁶ figures at d = ${c.d}`,
    );
}

/** Builds one FAISS index, then serves it in a fresh process across its knob's settings: one line per setting. */
async function measureFaissMethod(
  c: Case,
  method: FaissMethod,
  inputs: SharedInputs,
  emit: (r: JsonRecord) => void,
  measured: Map<string, Measured>,
): Promise<void> {
  const indexFile = path.join(opts.work!, `faiss-d${c.d}-n${c.n}-${method}.faiss`);
  const knob = FAISS_KNOBS[method];
  const settings = knob ? KNOB_SETTINGS[knob.key] : [];
  const common = ['--method', method, '--d', String(c.d), '--threads', String(THREADS)];
  try {
    info(`${c.name}: building FAISS ${FAISS_NAMES[method]}…`);
    const built = await pythonChild(
      ['build', ...common, '--data', inputs.dataFile!, '--n', String(c.n), '--out', indexFile],
      BUILD_LIMIT_MS(c),
    );
    info(`${c.name}: serving FAISS ${FAISS_NAMES[method]}${knob ? ` at ${knob.key} ${settings.join(', ')}` : ''}…`);
    const served = await pythonChild(
      [
        'serve',
        ...common,
        '--index',
        indexFile,
        ...servingArgs(c.n, inputs, method === 'flat'),
        ...(knob ? ['--sweep', settings.join(',')] : []),
      ],
      SERVE_LIMIT_MS(c, Math.max(1, settings.length)),
    );
    const build = { build_s: numberField(built, 'build_s'), bytes: numberField(built, 'bytes') };
    const buildSettings = Object.fromEntries(
      ['ef_construction', 'm', 'nlist', 'pq_m', 'train_rows']
        .filter((key) => key in built)
        .map((key) => [key, built[key]]),
    );
    for (const point of served.points as JsonRecord[]) {
      const record = figures(build, c.n, { ...point, rss_mib: served.rss_mib });
      const setting = knob ? { [knob.key]: point[knob.key] } : {};
      emit({
        method: FAISS_NAMES[method],
        engine: 'faiss',
        ...record,
        ...buildSettings,
        ...setting,
        faiss: built.faiss,
      });
      measured.set(`${method}-d${c.d}-n${c.n}-${knob ? String(point[knob.key]) : ''}`, {
        n: c.n,
        ...(record as Omit<Measured, 'n'>),
      });
    }
  } finally {
    rmSync(indexFile, { force: true });
  }
}

async function measureFaiss(
  c: Case,
  inputs: SharedInputs,
  emit: (r: JsonRecord) => void,
  measured: Map<string, Measured>,
): Promise<void> {
  for (const method of FAISS_RUN) {
    if (method === 'hnsw' && c.n >= HNSW_EXTRAPOLATED_FROM) extrapolateFaissHnsw(c, emit, measured);
    else await measureFaissMethod(c, method, inputs, emit, measured);
  }
}

/** A bench worker (scale-build.ts, scale-serve.ts) in a fresh node process with this one's loader flags, killed past `limitMs`. */
const nodeChild = (script: string, args: string[], limitMs: number) =>
  runJsonChild(process.execPath, [...process.execArgv, path.join(BENCH_DIR, script), ...args], limitMs);
/** faiss_scale.py with Debian's python, killed past `limitMs`. */
const pythonChild = (args: string[], limitMs: number) =>
  runJsonChild(SYSTEM_PYTHON, [path.join(BENCH_DIR, 'faiss_scale.py'), ...args], limitMs);
const PROBE_LIMIT_MS = 60_000;

/** Whether FAISS can run here; emits why not when it cannot (never installed by this benchmark). */
async function faissAvailable(results: Results): Promise<boolean> {
  try {
    await runJsonChild(
      SYSTEM_PYTHON,
      ['-c', 'import faiss, numpy, json; print(json.dumps({"faiss": faiss.__version__}))'],
      PROBE_LIMIT_MS,
    );
    return true;
  } catch (e) {
    const reason = e instanceof ChildError && e.code === 'ENOENT' ? `${SYSTEM_PYTHON} not found` : (e as Error).message;
    results.emit({ error: `FAISS yardstick unavailable: ${reason}; install: ${INSTALL}` });
    return false;
  }
}

/** FAISS lines away from their method's reference setting are drawn in the recall figure only. */
function atReference(r: JsonRecord): boolean {
  const method = FAISS_METHODS.find((m) => FAISS_NAMES[m] === r.method);
  const knob = method && FAISS_KNOBS[method];
  return r.engine !== 'faiss' || !knob || r[knob.key] === knob.reference;
}

/** A two-stage line at other than the default candidates for its size is a series of its own. */
const seriesName = (r: JsonRecord) =>
  `${String(r.engine)} ${String(r.method)}${typeof r.candidates === 'number' && r.candidates !== defaultCandidates(r.n as number, r.d as number) ? ` (${r.candidates})` : ''}`;

/**
 * The figure: p50 latency and serving RSS against N (d = 256), one line per series; a later record
 * of the same series and N replaces an earlier one. The memory panel adds the default index's bytes
 * on disk (N × bytes per item), the line its resident memory would follow if every page were read.
 */
async function plot(records: JsonRecord[], file: string, title: string): Promise<void> {
  const latest = new Map<string, JsonRecord>();
  for (const r of records.filter(
    (r) => r.d === 256 && typeof r.n === 'number' && r.case !== 'at-recall' && atReference(r),
  ))
    latest.set(`${seriesName(r)}@${String(r.n)}`, r);
  const byMethod = (key: 'p50_ms' | 'rss_mib'): Series[] => {
    const series = new Map<string, Series>();
    for (const r of [...latest.values()].filter((r) => typeof r[key] === 'number')) {
      const name = seriesName(r);
      if (!series.has(name)) series.set(name, { name, points: [] });
      series
        .get(name)!
        .points.push({ x: r.n as number, value: r[key] as number, extrapolated: r.extrapolated === true });
    }
    return [...series.values()];
  };
  /** N × a per-item byte count of the default two-stage lines, in MiB: what RSS is compared with. */
  const perItem = (name: string, key: 'bytes_per_item' | 'graph_bytes_per_item'): Series => ({
    name,
    points: [...latest.values()]
      .filter((r) => seriesName(r) === 'histoseek two-stage' && typeof r[key] === 'number')
      .map((r) => ({ x: r.n as number, value: ((r.n as number) * (r[key] as number)) / 2 ** 20 })),
  });
  const memory = byMethod('rss_mib');
  for (const line of [
    perItem('histoseek on disk, N × bytes/item', 'bytes_per_item'),
    perItem('histoseek graph, N × bytes/item', 'graph_bytes_per_item'),
  ])
    if (line.points.length) memory.push(line);
  const panel = (title: string, yLabel: string, series: Series[]) => ({
    title,
    xLabel: 'N (items indexed)',
    xLog: true,
    yLabel,
    series,
  });
  writeFileSync(
    file,
    await renderPanels(
      [
        panel('single-query latency (p50)', 'ms per query', byMethod('p50_ms')),
        panel('resident memory while serving (peak RSS)', 'MiB', memory),
      ],
      title,
    ),
  );
}

/** A case's recall curves, read at RECALL_TARGETS (one at-recall line each) and drawn beside the results. */
async function recallCurves(
  c: Case,
  records: JsonRecord[],
  emit: (r: JsonRecord) => void,
  png: string,
  title: string,
): Promise<void> {
  const found = curves(records.filter((r) => r.case === c.name));
  if (found.length === 0) return;
  for (const curve of found)
    for (const target of RECALL_TARGETS) emit({ case: 'at-recall', of_case: c.name, ...atRecall(curve, target) });
  writeFileSync(png, await renderRecallPlot(found, title));
  info(`wrote ${png}`);
}

/** `--plot A.json,B.json`: one growth figure from the result lines of earlier runs, later files winning. */
async function plotEarlierRuns(files: string[]): Promise<void> {
  const records = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line, i) => {
        try {
          return JSON.parse(line) as JsonRecord;
        } catch {
          throw new Error(`${file}: line ${i + 1} is not JSON`);
        }
      }),
  );
  const cpus = [...new Set(records.map((r) => r.cpu).filter((cpu) => typeof cpu === 'string'))];
  const png = new Results('scale-growth').file('png');
  await plot(
    records,
    png,
    `bench:scale, d = 256, ${THREADS} threads, ${cpus.join(' / ')}; runs ${files.map((f) => path.basename(f, '.json').replace('scale-', '')).join(', ')}`,
  );
  info(`wrote ${png}`);
}

async function main(): Promise<void> {
  const cases = selectedCases();
  const results = new Results('scale');
  const records: JsonRecord[] = [];
  const cpu = cpuModel();
  await mkdir(opts.work!, { recursive: true });
  const withFaiss = !opts['no-faiss'] && (await faissAvailable(results));
  const nQueries = Number(opts.queries);
  const measured = new Map<string, Measured>();
  info(`cases ${cases.map((c) => c.name).join(', ')}; work folder ${opts.work}; CPU ${cpu}`);

  for (const d of [...new Set(cases.map((c) => c.d))]) {
    const bases = await baseDescriptors(d);
    const count = bases.labels.length;
    const nearest = medianNearestNeighbour(bases.vectors, d);
    const space = new SyntheticSpace(
      {
        d,
        basesFile: bases.file,
        count,
        labels: bases.labels,
        sigma: sigmaForDistance(nearest, d),
        seed: SEED,
        origin: bases.origin,
      },
      bases.vectors,
    );
    const toBase = space.medianDistanceToBase(2000);
    info(
      `d=${d}: ${count} bases, median nearest-neighbour distance ${nearest.toFixed(4)}; σ = ${space.spec.sigma.toPrecision(4)} puts drawn rows a median ${toBase.toFixed(4)} from their base`,
    );
    results.emit({
      case: `space-d${d}`,
      d,
      bases: count,
      bases_origin: bases.origin,
      bases_median_nn_distance: significant(nearest),
      sigma: significant(space.spec.sigma),
      drawn_median_distance_to_base: significant(toBase),
      queries: nQueries,
    });
    const dCases = cases.filter((c) => c.d === d);
    const inputs = await prepareInputs(
      space,
      dCases.map((c) => c.n),
      nQueries,
      opts.work!,
      withFaiss,
    );
    for (const c of dCases) {
      const emit = (r: JsonRecord) => {
        const record = { case: c.name, n: c.n, d: c.d, ...r, threads: THREADS, cpu };
        records.push(record);
        results.emit(record);
      };
      await measureHistoseek(c, inputs, emit);
      if (withFaiss) await measureFaiss(c, inputs, emit, measured);
      await recallCurves(
        c,
        records,
        emit,
        results.file(`recall-${c.name}.png`),
        `bench:scale, ${c.name}, ${THREADS} threads, ${cpu}`,
      );
    }
  }
  info(`wrote ${await results.save()}`);
  const png = results.file('png');
  await plot(records, png, `bench:scale, d = 256, ${THREADS} threads, ${cpu}`);
  info(`wrote ${png}`);
}

if (opts.plot) await plotEarlierRuns(opts.plot.split(','));
else await main();
