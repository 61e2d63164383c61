/** The JSON API as the page uses it (see /openapi.json), with the access token; errors carry the server's `{ error }` text. */
import { authorizedFetch } from './auth.js';

// The server's own definitions of its answers (type-only: nothing of the server is bundled).
export type {
  ItemJson as Item,
  SearchResultJson as Result,
  SearchAnswerJson as SearchAnswer,
  IndexInfoJson as IndexInfo,
  ReportJson as Report,
  MapJson as EmbeddingMap,
  DeepZoomInfo as SlideInfo,
} from '../../src/api/schemas.js';
import type {
  DeepZoomInfo,
  ErrorJson,
  IndexInfoJson,
  ItemJson,
  MapJson,
  ReportJson,
  SearchAnswerJson,
  SlideListJson,
} from '../../src/api/schemas.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json().catch(() => null)) as (Partial<ErrorJson> & T) | null;
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
  index: async () => json<IndexInfoJson>(await authorizedFetch('/api/index')),
  report: async () => json<ReportJson>(await authorizedFetch('/api/report')),
  map: async (method: MapJson['method']) => json<MapJson>(await authorizedFetch(`/api/map?method=${method}`)),
  item: async (id: number) => json<ItemJson>(await authorizedFetch(`/api/items/${id}`)),
  searchByItem: async (id: number, o: SearchOptions) => {
    const params = searchParams(o);
    params.set('item', String(id));
    return json<SearchAnswerJson>(await authorizedFetch(`/api/search?${params}`));
  },
  searchByImage: async (file: File, o: SearchOptions) => {
    const body = new FormData();
    body.append('image', file);
    return json<SearchAnswerJson>(await authorizedFetch(`/api/search?${searchParams(o)}`, { method: 'POST', body }));
  },
  slides: async () => json<SlideListJson>(await authorizedFetch('/api/slides')),
  slide: async (id: string) => json<DeepZoomInfo>(await authorizedFetch(`/api/slides/${encodeURIComponent(id)}`)),
};
