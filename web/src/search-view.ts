/**
 * Search: a query panel (drop zone / file picker / paste, k, slide exclusion) and the results grid.
 * Clicking a result searches with that item (through the URL, so back returns to the previous results).
 */
import { api, type IndexInfo, type Item, type Result, type SearchAnswer, type SearchOptions } from './api.js';
import { apiImage } from './api-image.js';
import { h, labelChip } from './dom.js';

type Query = { kind: 'upload'; file: File } | { kind: 'item'; id: number };

const K_CHOICES = [5, 10, 20, 50];

export class SearchView {
  private query: Query | null = null;
  private previewUrl: string | null = null;
  private readonly fileInput: HTMLInputElement;
  private readonly kSelect: HTMLSelectElement;
  private readonly slideSelect: HTMLSelectElement;
  private readonly preview: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly grid: HTMLOListElement;
  /** Drops answers of searches overtaken by a newer one. */
  private generation = 0;

  constructor(
    root: HTMLElement,
    private readonly info: IndexInfo,
  ) {
    this.fileInput = h('input', {
      type: 'file',
      id: 'query-file',
      accept: 'image/png,image/jpeg,image/tiff,image/webp',
      class: 'visually-hidden',
    });
    this.kSelect = h(
      'select',
      { id: 'k' },
      ...K_CHOICES.map((k) => h('option', { value: String(k), selected: k === 10 }, String(k))),
    );
    this.slideSelect = h(
      'select',
      { id: 'exclude-slide' },
      h('option', { value: '' }, 'none'),
      ...info.slides.map((s) => h('option', { value: s.slide }, `${s.slide} (${s.count})`)),
    );
    const dropzone = h(
      'label',
      { class: 'dropzone', for: 'query-file' },
      h('span', { class: 'dropzone-icon', 'aria-hidden': 'true' }),
      h('strong', {}, 'Drop a tissue image'),
      h('span', {}, 'or choose a file · or paste'),
      h('span', { class: 'hint' }, 'JPEG, PNG, TIFF or WebP patch'),
    );
    this.preview = h('div', { class: 'query-preview', 'aria-live': 'polite' });
    this.summary = h('div', { class: 'summary', 'aria-live': 'polite' });
    this.grid = h('ol', { class: 'results', 'aria-label': 'Results, most similar first' });

    root.replaceChildren(
      h('h1', { id: 'search-title', class: 'visually-hidden' }, 'Search'),
      h(
        'div',
        { class: 'search-layout' },
        h(
          'aside',
          { class: 'panel query-panel', 'aria-label': 'Query' },
          h('h2', {}, 'Query'),
          this.fileInput,
          dropzone,
          this.preview,
          h(
            'div',
            { class: 'controls' },
            h('label', { for: 'k' }, 'Results'),
            this.kSelect,
            h('label', { for: 'exclude-slide' }, 'Leave out slide'),
            this.slideSelect,
          ),
        ),
        h('div', { class: 'results-area' }, this.summary, this.grid),
      ),
    );
    this.showEmpty();

    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files?.[0];
      if (file) this.searchFile(file);
      this.fileInput.value = '';
    });
    for (const type of ['dragenter', 'dragover'] as const) {
      dropzone.addEventListener(type, (e) => {
        e.preventDefault();
        dropzone.classList.add('dragging');
      });
    }
    dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
    dropzone.addEventListener('drop', (e) => {
      e.preventDefault();
      dropzone.classList.remove('dragging');
      const file = e.dataTransfer?.files[0];
      if (file) this.searchFile(file);
    });
    document.addEventListener('paste', (e) => {
      const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
      if (file && !root.hidden) this.searchFile(file);
    });
    for (const select of [this.kSelect, this.slideSelect]) select.addEventListener('change', () => void this.run());
  }

  /** Router entry: `item=ID` searches with an indexed item. */
  show(params: URLSearchParams): void {
    const id = Number(params.get('item'));
    if (
      params.has('item') &&
      Number.isInteger(id) &&
      id >= 0 &&
      !(this.query?.kind === 'item' && this.query.id === id)
    ) {
      this.query = { kind: 'item', id };
      void this.run();
    }
  }

  private searchFile(file: File): void {
    this.query = { kind: 'upload', file };
    // An upload has no URL of its own: leave any item in the hash behind without a new history entry.
    history.replaceState(null, '', '#/search');
    void this.run();
  }

  private options(): SearchOptions {
    return { k: Number(this.kSelect.value), excludeSlide: this.slideSelect.value || undefined };
  }

  private async run(): Promise<void> {
    const query = this.query;
    if (!query) return;
    const generation = ++this.generation;
    this.showQuery(query);
    this.summary.replaceChildren(
      h('p', { class: 'busy' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Searching…'),
    );
    this.grid.setAttribute('aria-busy', 'true');
    try {
      const answer =
        query.kind === 'upload'
          ? await api.searchByImage(query.file, this.options())
          : await api.searchByItem(query.id, this.options());
      if (generation !== this.generation) return;
      if (answer.query.kind === 'item') this.showItemQuery(answer.query.item);
      this.showResults(answer);
    } catch (err) {
      if (generation !== this.generation) return;
      this.summary.replaceChildren(h('p', { class: 'alert', role: 'alert' }, (err as Error).message));
      this.grid.replaceChildren();
    } finally {
      if (generation === this.generation) this.grid.removeAttribute('aria-busy');
    }
  }

  private showEmpty(): void {
    const examples = this.info.labels.slice(0, 12).map((l) => labelChip(`${l.label} · ${l.count}`));
    this.summary.replaceChildren(
      h(
        'div',
        { class: 'empty' },
        h('h2', {}, 'Find similar tissue'),
        h(
          'p',
          {},
          `Search ${this.info.items.toLocaleString('en')} indexed patches by dropping an image on the left, or open a result to search with it.`,
        ),
        h('div', { class: 'chips' }, ...examples),
      ),
    );
  }

  private showQuery(query: Query): void {
    if (query.kind !== 'upload') return;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(query.file);
    this.preview.replaceChildren(
      h('img', { src: this.previewUrl, alt: `query image ${query.file.name}` }),
      h(
        'p',
        { class: 'caption' },
        h('strong', {}, query.file.name),
        ` · ${Math.max(1, Math.round(query.file.size / 1024))} kB`,
      ),
    );
  }

  private showItemQuery(item: Item): void {
    this.preview.replaceChildren(
      apiImage(item.thumbnail, { alt: `query: indexed item ${item.id}` }),
      h(
        'p',
        { class: 'caption' },
        h('strong', {}, `Item ${item.id}`),
        ' ',
        labelChip(item.label),
        item.slide ? ` · slide ${item.slide}` : '',
      ),
      h('p', { class: 'path', title: item.path }, item.path),
    );
  }

  private showResults(answer: SearchAnswer): void {
    const { majority, results } = answer;
    const best = results[0];
    this.summary.replaceChildren(
      majority
        ? h(
            'div',
            { class: 'majority' },
            h('span', { class: 'majority-title' }, `Majority of the top ${majority.of}`),
            labelChip(majority.label),
            h('span', { class: 'votes' }, `${majority.votes} of ${majority.of} votes`),
            best ? h('span', { class: 'best' }, `closest distance ${best.distance.toFixed(4)}`) : null,
            answer.excluded
              ? h('span', { class: 'excluded' }, `${answer.excluded} item${answer.excluded === 1 ? '' : 's'} left out`)
              : null,
          )
        : h('p', {}, 'No results: every item was left out.'),
    );
    this.grid.replaceChildren(...results.map((r) => this.card(r, majority?.label)));
  }

  private card(r: Result, majorityLabel: string | undefined): HTMLLIElement {
    const slideLink =
      r.slide && this.info.features.slides && this.info.slides.some((s) => s.slide === r.slide)
        ? h(
            'a',
            {
              href: `#/slides?slide=${encodeURIComponent(r.slide)}&item=${r.id}`,
              'aria-label': `view item ${r.id} on slide ${r.slide}`,
            },
            `slide ${r.slide}`,
          )
        : h('span', {}, r.slide ? `slide ${r.slide}` : 'no slide');
    return h(
      'li',
      { class: `card${r.label === majorityLabel ? ' agrees' : ''}` },
      h(
        'a',
        {
          class: 'card-image',
          href: `#/search?item=${r.id}`,
          'aria-label': `Search with result ${r.rank}: item ${r.id}, label ${r.label}, distance ${r.distance.toFixed(4)}`,
        },
        apiImage(r.thumbnail, { alt: '', width: '256', height: '256' }),
        h('span', { class: 'rank' }, `#${r.rank}`),
      ),
      h(
        'div',
        { class: 'card-meta' },
        labelChip(r.label),
        h(
          'span',
          { class: 'distance', title: 'squared L2 between unit descriptors (0 = identical)' },
          r.distance.toFixed(4),
        ),
      ),
      h('div', { class: 'card-sub' }, slideLink, h('span', { class: 'item-id' }, `#${r.id}`)),
    );
  }
}
