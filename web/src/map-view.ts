/**
 * The embedding map: every (sampled) item as a dot at its UMAP or PCA position, coloured by label.
 * Hovering shows the item; clicking searches with it. Dots are drawn on a canvas (thousands of
 * them), so the legend and the method buttons carry the keyboard-reachable part.
 */
import { naturalCompare } from '../../src/util/natural-compare.js';
import { api, type EmbeddingMap } from './api.js';
import { apiImage } from './api-image.js';
import { h, labelChip, labelColour } from './dom.js';

type Method = EmbeddingMap['method'];

const PAD = 16;
const RADIUS = 3.5;

export class MapView {
  private method: Method = 'umap';
  private answer: EmbeddingMap | null = null;
  /** Screen positions of the points, in CSS pixels, for hit testing. */
  private screen = new Float32Array(0);
  /** The point whose tooltip is shown: its thumbnail is fetched once, not on every mouse move. */
  private hovered: number | null = null;
  private readonly canvas: HTMLCanvasElement;
  private readonly tooltip: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly buttons: Map<Method, HTMLButtonElement>;

  constructor(private readonly root: HTMLElement) {
    this.canvas = h('canvas', {
      class: 'map-canvas',
      role: 'img',
      'aria-label': 'Embedding map: each dot is an indexed item, coloured by label',
    });
    this.tooltip = h('div', { class: 'map-tooltip', hidden: true });
    this.caption = h('p', { class: 'caption', 'aria-live': 'polite' });
    this.legend = h('div', { class: 'legend', 'aria-label': 'Labels' });
    this.buttons = new Map(
      (['umap', 'pca'] as const).map((m) => {
        const b = h('button', { type: 'button', 'aria-pressed': String(m === this.method) }, m.toUpperCase());
        b.addEventListener('click', () => this.load(m));
        return [m, b];
      }),
    );
    root.replaceChildren(
      h('h1', { id: 'map-title', class: 'visually-hidden' }, 'Embedding map'),
      h(
        'div',
        { class: 'panel map-panel' },
        h(
          'div',
          { class: 'viewer-head' },
          h('h2', {}, 'Embedding map'),
          h('div', { class: 'segmented', role: 'group', 'aria-label': 'Projection' }, ...this.buttons.values()),
        ),
        h('div', { class: 'map-stage' }, this.canvas, this.tooltip),
        this.caption,
        this.legend,
      ),
    );
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => (this.tooltip.hidden = true));
    this.canvas.addEventListener('click', (e) => {
      const p = this.pick(e);
      if (p !== null) location.hash = `#/search?item=${this.answer!.points[p].id}`;
    });
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  show(): void {
    if (!this.answer) this.load(this.method);
  }

  private async load(method: Method): Promise<void> {
    this.method = method;
    for (const [m, b] of this.buttons) b.setAttribute('aria-pressed', String(m === method));
    this.caption.replaceChildren(
      h(
        'span',
        { class: 'busy' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }),
        `Computing the ${method.toUpperCase()} map…`,
      ),
    );
    try {
      const answer = await api.map(method);
      if (this.method !== method) return;
      this.answer = answer;
    } catch (err) {
      this.caption.replaceChildren(h('span', { class: 'alert', role: 'alert' }, (err as Error).message));
      return;
    }
    const counts = new Map<string, number>();
    for (const p of this.answer.points) counts.set(p.label, (counts.get(p.label) ?? 0) + 1);
    this.legend.replaceChildren(
      ...[...counts]
        .sort(([a], [b]) => naturalCompare(a, b))
        .map(([label, n]) => {
          const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
          swatch.style.background = labelColour(label);
          return h('span', { class: 'legend-item' }, swatch, `${label} · ${n}`);
        }),
    );
    const { items, sampled } = this.answer;
    this.caption.textContent = `${method.toUpperCase()} of ${sampled === items ? `all ${items.toLocaleString('en')}` : `${sampled.toLocaleString('en')} of ${items.toLocaleString('en')}`} items. Hover a dot to see the item, click it to search with it.`;
    this.draw();
  }

  private draw(): void {
    const answer = this.answer;
    const { width, height } = this.canvas.getBoundingClientRect();
    if (!answer || width === 0) return;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    const ctx = this.canvas.getContext('2d')!;
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    const xs = answer.points.map((p) => p.x);
    const ys = answer.points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    // One scale for both axes: distances on the map mean the same in every direction.
    const scale = Math.min((width - 2 * PAD) / (x1 - x0 || 1), (height - 2 * PAD) / (y1 - y0 || 1));
    const [ox, oy] = [(width - scale * (x1 - x0)) / 2, (height - scale * (y1 - y0)) / 2];
    this.screen = new Float32Array(2 * answer.points.length);
    this.hovered = null;
    answer.points.forEach((p, i) => {
      const [sx, sy] = [ox + (p.x - x0) * scale, oy + (y1 - p.y) * scale];
      this.screen[2 * i] = sx;
      this.screen[2 * i + 1] = sy;
      ctx.beginPath();
      ctx.arc(sx, sy, RADIUS, 0, 2 * Math.PI);
      ctx.fillStyle = labelColour(p.label, 0.85);
      ctx.fill();
    });
  }

  /** The point under the mouse (within a few pixels), or null. */
  private pick(e: MouseEvent): number | null {
    const rect = this.canvas.getBoundingClientRect();
    const [mx, my] = [e.clientX - rect.left, e.clientY - rect.top];
    let best: number | null = null;
    let bestDistance = (2 * RADIUS) ** 2;
    for (let i = 0; i < this.screen.length / 2; i++) {
      const d = (this.screen[2 * i] - mx) ** 2 + (this.screen[2 * i + 1] - my) ** 2;
      if (d <= bestDistance) [best, bestDistance] = [i, d];
    }
    return best;
  }

  private hover(e: MouseEvent): void {
    const p = this.pick(e);
    this.canvas.style.cursor = p === null ? 'default' : 'pointer';
    if (p === null) {
      this.tooltip.hidden = true;
      this.hovered = null;
      return;
    }
    const point = this.answer!.points[p];
    if (p !== this.hovered)
      this.tooltip.replaceChildren(
        apiImage(`/api/items/${point.id}/thumbnail`, { alt: '' }),
        h('span', {}, labelChip(point.label), ` item ${point.id}`),
      );
    this.tooltip.style.left = `${this.screen[2 * p] + 12}px`;
    this.tooltip.style.top = `${this.screen[2 * p + 1] + 12}px`;
    this.tooltip.hidden = false;
    this.hovered = p;
  }
}
