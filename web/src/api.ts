/** The JSON API as the page uses it (see /openapi.json); errors carry the server's `{ error }` text. */

export interface Item {
  id: number;
  path: string;
  label: string;
  slide: string | null;
  patient: string | null;
  box: { x: number; y: number; width: number; height: number } | null;
  thumbnail: string;
}

export interface Result extends Item {
  rank: number;
  distance: number;
}

export interface SearchAnswer {
  query: { kind: 'upload'; name: string; width: number; height: number; format: string } | { kind: 'item'; item: Item };
  k: number;
  excluded: number;
  results: Result[];
  majority: { label: string; votes: number; of: number } | null;
}

export interface IndexInfo {
  items: number;
  rows: number;
  labels: { label: string; count: number }[];
  slides: { slide: string; count: number }[];
  model: { id: string; hash: string; dim: number; input_size: number };
  features: { report: boolean; slides: boolean; map: boolean };
}

export interface Report {
  context: { title: string; model: string; database: string; queries: string; protocol: string; k: number };
  n_queries: number;
  eta_p: number;
  eta_w: number;
  eta_w_precision: number;
  eta_tot: number;
  recall_at_1: number;
  recall_at_5: number;
  recall_at_10: number;
  map_at_10: number;
  mv_at_5: number;
  labels: string[];
  per_class: { label: string; queries: number; recall: number; precision: number }[];
}

export interface SlideInfo {
  id: string;
  width: number;
  height: number;
  mpp: { x: number; y: number } | null;
  tileSize: number;
  overlap: number;
  minLevel: number;
  maxLevel: number;
  tiles: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json().catch(() => null)) as ({ error?: string } & T) | null;
  if (!response.ok) throw new ApiError(response.status, body?.error ?? `${response.status} ${response.statusText}`);
  return body as T;
}

export interface SearchOptions {
  k: number;
  excludeSlide?: string;
}

function searchParams(o: SearchOptions): URLSearchParams {
  const params = new URLSearchParams({ k: String(o.k) });
  if (o.excludeSlide) params.set('exclude_slide', o.excludeSlide);
  return params;
}

export const api = {
  index: async () => json<IndexInfo>(await fetch('/api/index')),
  report: async () => json<Report>(await fetch('/api/report')),
  item: async (id: number) => json<Item>(await fetch(`/api/items/${id}`)),
  searchByItem: async (id: number, o: SearchOptions) => {
    const params = searchParams(o);
    params.set('item', String(id));
    return json<SearchAnswer>(await fetch(`/api/search?${params}`));
  },
  searchByImage: async (file: File, o: SearchOptions) => {
    const body = new FormData();
    body.append('image', file);
    return json<SearchAnswer>(await fetch(`/api/search?${searchParams(o)}`, { method: 'POST', body }));
  },
  slide: async (id: string) => json<SlideInfo>(await fetch(`/api/slides/${encodeURIComponent(id)}`)),
};
