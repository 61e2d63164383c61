/**
 * The page: a status line, tabs and one view per tab. Navigation is by the URL's hash
 * (#/search?item=12, #/report, #/slides?slide=s0, #/map), so every state is a real link: the back
 * button, bookmarks and "open in new tab" work, and the tabs are plain links.
 */
import './style.css';
import { api, type IndexInfo } from './api.js';
import { h } from './dom.js';
import { MapView } from './map-view.js';
import { ReportView } from './report-view.js';
import { SearchView } from './search-view.js';

interface View {
  show(params: URLSearchParams): void;
}

type ViewName = 'search' | 'report' | 'slides' | 'map';

function parseHash(): { name: ViewName; params: URLSearchParams } {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const name: ViewName = path === 'report' || path === 'slides' || path === 'map' ? path : 'search';
  return { name, params: new URLSearchParams(query) };
}

function statusLine(info: IndexInfo): string {
  const labels = info.labels.length;
  // A checkpoint's id is its path: its file name says enough here (the full id is in the tooltip).
  const model = info.model.id.includes('/') ? info.model.id.split('/').pop() : info.model.id;
  return `${info.items.toLocaleString('en')} items · ${labels} label${labels === 1 ? '' : 's'} · ${info.slides.length} slide${info.slides.length === 1 ? '' : 's'} · model ${model} (${info.model.dim}-d, ${info.model.input_size} px)`;
}

async function boot(): Promise<void> {
  const status = document.getElementById('status')!;
  let info: IndexInfo;
  try {
    info = await api.index();
  } catch (err) {
    status.textContent = `Cannot reach the index: ${(err as Error).message}`;
    status.classList.add('error');
    return;
  }
  status.textContent = statusLine(info);
  status.title = `model ${info.model.id}, hash ${info.model.hash}`;
  for (const li of document.querySelectorAll<HTMLElement>('[data-feature]'))
    li.hidden = !info.features[li.dataset.feature as keyof IndexInfo['features']];

  const views = new Map<ViewName, () => Promise<View>>();
  const once = <T>(make: () => Promise<T>) => {
    let made: Promise<T> | null = null;
    return () => (made ??= make());
  };
  const section = (name: ViewName) => document.querySelector<HTMLElement>(`[data-view="${name}"]`)!;
  views.set(
    'search',
    once(async () => new SearchView(section('search'), info)),
  );
  views.set(
    'report',
    once(async () => new ReportView(section('report'))),
  );
  if (info.features.map)
    views.set(
      'map',
      once(async () => new MapView(section('map'))),
    );
  if (info.features.slides) {
    // OpenSeadragon is a large bundle: fetched only when the viewer is first opened.
    views.set(
      'slides',
      once(async () => new (await import('./slides-view.js')).SlidesView(section('slides'), info)),
    );
  }

  const route = async () => {
    let { name, params } = parseHash();
    if (!views.has(name)) name = 'search';
    for (const el of document.querySelectorAll<HTMLElement>('[data-view]')) el.hidden = el.dataset.view !== name;
    for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-tab]')) {
      if (a.dataset.tab === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    try {
      (await views.get(name)!()).show(params);
    } catch (err) {
      section(name).replaceChildren(
        h('p', { class: 'alert', role: 'alert' }, `This view failed to load: ${(err as Error).message}`),
      );
    }
  };
  window.addEventListener('hashchange', () => void route());
  await route();
}

void boot();
