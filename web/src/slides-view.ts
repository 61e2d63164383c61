/**
 * The slide viewer: the server's whole-slide images as Deep Zoom pyramids in OpenSeadragon
 * (bundled, loaded with this view only). `#/slides?slide=s0&item=12` opens a slide and outlines the
 * item's box when the index knows where on the slide the item was cut.
 */
import OpenSeadragon from 'openseadragon';
import { naturalCompare } from '../../src/util/natural-compare.js';
import { api, type IndexInfo, type SlideInfo } from './api.js';
import { authHeaders } from './auth.js';
import { h } from './dom.js';

export class SlidesView {
  private viewer: OpenSeadragon.Viewer | null = null;
  private current: string | null = null;
  private readonly list: HTMLUListElement;
  private readonly title: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly canvas: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly info: IndexInfo,
  ) {
    const counts = new Map(info.slides.map((s) => [s.slide, s.count]));
    this.list = h('ul', { class: 'slide-list' });
    this.title = h('h2', { id: 'slide-title' }, 'Choose a slide');
    this.caption = h('p', { class: 'caption', 'aria-live': 'polite' });
    this.canvas = h('div', {
      class: 'osd',
      role: 'application',
      'aria-label': 'Slide viewer: drag to pan, scroll or +/− to zoom',
    });
    const button = (label: string, text: string, action: () => void) => {
      const b = h('button', { type: 'button', 'aria-label': label, title: label }, text);
      b.addEventListener('click', action);
      return b;
    };
    root.replaceChildren(
      h('h1', { id: 'slides-title', class: 'visually-hidden' }, 'Slides'),
      h(
        'div',
        { class: 'slides-layout' },
        h('nav', { class: 'panel', 'aria-label': 'Slides' }, h('h2', {}, 'Slides'), this.list),
        h(
          'div',
          { class: 'panel viewer-panel' },
          h(
            'div',
            { class: 'viewer-head' },
            this.title,
            h(
              'div',
              { class: 'zoom-buttons', role: 'group', 'aria-label': 'Zoom' },
              button('Zoom in', '+', () => this.zoom(1.5)),
              button('Zoom out', '−', () => this.zoom(1 / 1.5)),
              button('Fit the slide', '⤢', () => this.viewer?.viewport.goHome()),
            ),
          ),
          this.canvas,
          this.caption,
        ),
      ),
    );
    void this.loadList(counts);
  }

  private async loadList(counts: Map<string, number>): Promise<void> {
    const slides = (await api.slides()).slides.sort(naturalCompare); // s2 before s10
    this.list.replaceChildren(
      ...slides.map((id) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: `#/slides?slide=${encodeURIComponent(id)}`, 'data-slide': id, title: id },
            h('span', { class: 'slide-id' }, id),
            h('span', { class: 'count' }, counts.has(id) ? `${counts.get(id)} items` : 'not indexed'),
          ),
        ),
      ),
    );
    this.markCurrent();
    if (!this.current && slides[0]) location.replace(`#/slides?slide=${encodeURIComponent(slides[0])}`);
  }

  show(params: URLSearchParams): void {
    const id = params.get('slide');
    const item = params.get('item');
    if (id) void this.open(id, item === null ? null : Number(item));
  }

  private zoom(factor: number): void {
    this.viewer?.viewport.zoomBy(factor);
    this.viewer?.viewport.applyConstraints();
  }

  private markCurrent(): void {
    for (const a of this.list.querySelectorAll<HTMLAnchorElement>('a[data-slide]')) {
      if (a.dataset.slide === this.current) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    }
  }

  private async open(id: string, itemId: number | null): Promise<void> {
    let slide: SlideInfo;
    try {
      slide = await api.slide(id);
    } catch (err) {
      this.caption.textContent = (err as Error).message;
      return;
    }
    const item = itemId !== null && Number.isInteger(itemId) ? await api.item(itemId).catch(() => null) : null;
    this.current = id;
    this.markCurrent();
    this.title.textContent = `Slide ${id}`;
    const mpp = slide.mpp ? ` · ${slide.mpp.x.toFixed(2)} µm/px` : '';
    const where = item
      ? item.box
        ? ` · item ${item.id} outlined`
        : ` · item ${item.id} (${item.label}) has no position on the slide`
      : '';
    this.caption.textContent = `${slide.width.toLocaleString('en')} × ${slide.height.toLocaleString('en')} px${mpp}${where}`;

    const tileSource = {
      width: slide.width,
      height: slide.height,
      tileSize: slide.tileSize,
      tileOverlap: slide.overlap,
      minLevel: slide.minLevel,
      maxLevel: slide.maxLevel,
      getTileUrl: (level: number, x: number, y: number) => `${slide.tiles}${level}/${x}_${y}.jpeg`,
    };
    if (!this.viewer) {
      this.viewer = OpenSeadragon({
        element: this.canvas,
        showNavigationControl: false,
        showNavigator: true,
        navigatorPosition: 'BOTTOM_RIGHT',
        navigatorBackground: '#f1eff4',
        navigatorBorderColor: '#c9bfdd',
        navigatorDisplayRegionColor: '#c2407a',
        drawer: 'canvas',
        // Tiles are fetched with the Authorization header (an <img> could not send it).
        loadTilesWithAjax: true,
        maxZoomPixelRatio: 2,
        visibilityRatio: 0.5,
        animationTime: 0.4,
      });
    }
    const viewer = this.viewer;
    // The token may have been entered since the viewer was made.
    viewer.setAjaxHeaders(authHeaders());
    viewer.addOnceHandler('open', () => {
      viewer.clearOverlays();
      if (!item?.box) return;
      // Viewport coordinates are in units of the image width, for y as well.
      const { x, y, width, height } = item.box;
      viewer.addOverlay(
        h('div', { class: 'item-box', title: `item ${item.id}` }),
        new OpenSeadragon.Rect(x / slide.width, y / slide.width, width / slide.width, height / slide.width),
      );
    });
    viewer.open({ tileSource });
  }
}
