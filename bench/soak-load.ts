/**
 * The soak test's clients: each sends one request at a time, of a route picked at random by weight,
 * until the deadline, and keeps every status and latency (request sent to body read, ms) per route.
 * Search answers are checked against the removal ledger: an answer to a request that started after a
 * slide's removal command had exited must not hold an item of that slide.
 */
import { Random } from '../src/util/random.js';

export const ROUTES = ['search_by_upload', 'search_by_id', 'search_by_region', 'tile', 'thumbnail'] as const;
export type RouteName = (typeof ROUTES)[number];

/** How often each route is picked, relative to the others: mostly cheap reads, as a page showing results sends. */
const WEIGHTS: Record<RouteName, number> = {
  search_by_upload: 2,
  search_by_id: 3,
  search_by_region: 2,
  tile: 2,
  thumbnail: 3,
};
const K = 10;
/** A request that takes longer is abandoned and counted as an error: every loop ends by itself. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface LoadTargets {
  url: string;
  /** Query images to upload. */
  uploads: Blob[];
  /** Slide regions (full-resolution Deep Zoom tiles) and their slide, searched with that slide left out. */
  regions: { slide: string; image: Blob }[];
  /** Deep Zoom tile paths to fetch. */
  tiles: string[];
  /** Items of the demo index, rows 0 … baseRows − 1: never removed. */
  baseRows: number;
}

/** What the writer has done, as the clients see it; times are performance.now() in this process. */
export interface RemovalLedger {
  /** Slides the writer appended (once their index command had exited). */
  appended: Set<string>;
  /** Each removed slide and when its removal command's process had exited. */
  removedAt: Map<string, number>;
}

export interface RouteRecord {
  /** Answers by status code, and 'error' for requests with no answer (connection failure, timeout). */
  statuses: Map<string, number>;
  /** Latency of every answered request, ms. */
  ms: number[];
}

export interface LoadOutcome {
  routes: Map<RouteName, RouteRecord>;
  /** Requests started in each minute of the run, and how many of them were answered 5xx or not at all. */
  perMinute: { requests: number; failed: number }[];
  /** Answers holding an item of a slide whose removal had finished before the request started: must be 0. */
  answersWithRemoved: number;
  /** The first few of those, for the report. */
  removedExamples: { route: RouteName; slide: string; startedAfterRemovalMs: number }[];
  /** Answers holding an item of an appended slide: the removal check had something to catch. */
  answersWithAppended: number;
}

interface Answer {
  status: number | 'error';
  ms: number;
  /** Search answers: the results' rows and slides. */
  results?: { id: number; slide: string | null }[];
}

interface SearchAnswer {
  results: { id: number; slide: string | null }[];
}

function pickRoute(random: Random): RouteName {
  const total = ROUTES.reduce((sum, r) => sum + WEIGHTS[r], 0);
  let ticket = random.uniform() * total;
  for (const route of ROUTES) if ((ticket -= WEIGHTS[route]) < 0) return route;
  return ROUTES[ROUTES.length - 1];
}

/** A multipart body with the image in the field 'image' (the server tells the format from the bytes). */
function upload(image: Blob): FormData {
  const form = new FormData();
  form.append('image', image, 'query');
  return form;
}

/** The request for a route: search routes send queries, the others fetch images a result page shows. */
function request(
  route: RouteName,
  t: LoadTargets,
  random: Random,
  seenRows: number[],
): { path: string; init?: RequestInit } {
  switch (route) {
    case 'search_by_upload':
      return {
        path: `/api/search?k=${K}`,
        init: { method: 'POST', body: upload(t.uploads[random.int(t.uploads.length)]) },
      };
    case 'search_by_region': {
      const region = t.regions[random.int(t.regions.length)];
      return {
        path: `/api/search?k=${K}&exclude_slide=${encodeURIComponent(region.slide)}`,
        init: { method: 'POST', body: upload(region.image) },
      };
    }
    case 'search_by_id':
      return { path: `/api/search?item=${random.int(t.baseRows)}&k=${K}` };
    case 'tile':
      return { path: t.tiles[random.int(t.tiles.length)] };
    case 'thumbnail': {
      // Thumbnails of results seen, as the page loads them: some belong to slides removed since.
      const row = seenRows.length ? seenRows[random.int(seenRows.length)] : random.int(t.baseRows);
      return { path: `/api/items/${row}/thumbnail` };
    }
  }
}

async function send(url: string, path: string, init: RequestInit | undefined, isSearch: boolean): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(url + path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const body =
      isSearch && response.status === 200 ? ((await response.json()) as SearchAnswer) : await response.arrayBuffer();
    const ms = performance.now() - started;
    return { status: response.status, ms, results: 'results' in body ? body.results : undefined };
  } catch {
    return { status: 'error', ms: performance.now() - started };
  }
}

/** Runs `concurrency` clients until `deadline` (performance.now() ms); every request started before it is awaited. */
export async function runLoad(
  targets: LoadTargets,
  ledger: RemovalLedger,
  o: { concurrency: number; start: number; deadline: number; seed: number },
): Promise<LoadOutcome> {
  const outcome: LoadOutcome = {
    routes: new Map(ROUTES.map((r) => [r, { statuses: new Map(), ms: [] }])),
    perMinute: [],
    answersWithRemoved: 0,
    removedExamples: [],
    answersWithAppended: 0,
  };

  const record = (route: RouteName, started: number, answer: Answer) => {
    const r = outcome.routes.get(route)!;
    const status = String(answer.status);
    r.statuses.set(status, (r.statuses.get(status) ?? 0) + 1);
    if (answer.status !== 'error') r.ms.push(answer.ms);
    const minute = Math.floor((started - o.start) / 60_000);
    while (outcome.perMinute.length <= minute) outcome.perMinute.push({ requests: 0, failed: 0 });
    outcome.perMinute[minute].requests++;
    if (answer.status === 'error' || answer.status >= 500) outcome.perMinute[minute].failed++;
    const slides = new Set((answer.results ?? []).map((x) => x.slide).filter((s): s is string => s !== null));
    if ([...slides].some((s) => ledger.appended.has(s))) outcome.answersWithAppended++;
    const removed = [...slides].find((s) => (ledger.removedAt.get(s) ?? Infinity) < started);
    if (removed !== undefined) {
      outcome.answersWithRemoved++;
      if (outcome.removedExamples.length < 5)
        outcome.removedExamples.push({
          route,
          slide: removed,
          startedAfterRemovalMs: started - ledger.removedAt.get(removed)!,
        });
    }
  };

  const client = async (seed: number) => {
    const random = new Random(seed);
    let seenRows: number[] = [];
    while (performance.now() < o.deadline) {
      const route = pickRoute(random);
      const { path, init } = request(route, targets, random, seenRows);
      const started = performance.now();
      const answer = await send(targets.url, path, init, route.startsWith('search'));
      record(route, started, answer);
      if (answer.results?.length) seenRows = answer.results.map((x) => x.id);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, i) => client(o.seed + i)));
  return outcome;
}
