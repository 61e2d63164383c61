/** The evaluation dashboard: metrics.json from `histoseek eval --report` — η figures, Recall@k, the per-class table, the confusion matrix. */
import { naturalCompare } from '../../src/util/natural-compare.js';
import { api, ApiError, type Report } from './api.js';
import { apiImage } from './api-image.js';
import { h, labelChip, percent } from './dom.js';

function tile(name: string, value: number, note: string, primary = false): HTMLElement {
  return h(
    'div',
    { class: `metric${primary ? ' primary' : ''}` },
    h('span', { class: 'metric-name' }, name),
    h('span', { class: 'metric-value' }, percent(value, 2)),
    h('span', { class: 'metric-note' }, note),
  );
}

function bar(value: number, label: string): HTMLElement {
  const fill = h('span', { class: 'bar-fill' });
  fill.style.width = `${(100 * value).toFixed(1)}%`;
  return h(
    'span',
    { class: 'bar-cell' },
    h('span', { class: 'bar', 'aria-hidden': 'true' }, fill),
    h('span', { class: 'bar-text', 'aria-label': `${label} ${percent(value)}` }, percent(value)),
  );
}

export class ReportView {
  private loaded = false;

  constructor(private readonly root: HTMLElement) {}

  show(): void {
    if (this.loaded) return;
    this.loaded = true;
    this.root.replaceChildren(
      h('h1', { id: 'report-title' }, 'Evaluation'),
      h('p', { class: 'busy' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading the report…'),
    );
    api.report().then(
      (report) => this.render(report),
      (err: Error) => {
        this.loaded = false;
        const message =
          err instanceof ApiError && err.status === 404
            ? 'This index has no evaluation report yet.'
            : `The report cannot be loaded: ${err.message}`;
        this.root.replaceChildren(
          h('h1', { id: 'report-title' }, 'Evaluation'),
          h(
            'div',
            { class: 'panel empty' },
            h('p', {}, message),
            h('p', {}, 'Run ', h('code', {}, 'histoseek eval --db DB --queries DIR --report DIR'), ' and reload.'),
          ),
        );
      },
    );
  }

  private confusion(labels: number): HTMLImageElement {
    // The query string defeats the browser cache: the PNG changes with each eval run.
    const img = apiImage(`/api/report/confusion.png?t=${Date.now()}`, {
      class: 'confusion',
      alt: `Confusion matrix of the top-1 predictions over ${labels} labels: rows are true labels, columns predicted`,
    });
    img.addEventListener('error', () =>
      img.replaceWith(h('p', { class: 'empty' }, 'The report has no confusion.png.')),
    );
    return img;
  }

  private render(r: Report): void {
    const c = r.context;
    const rows = [...r.per_class].sort((a, b) => naturalCompare(a.label, b.label));
    this.root.replaceChildren(
      h('h1', { id: 'report-title' }, 'Evaluation'),
      h(
        'dl',
        { class: 'context panel' },
        ...(
          [
            ['Queries', `${r.n_queries.toLocaleString('en')} — ${c.queries}`],
            ['Index', c.database],
            ['Model', c.model],
            ['Protocol', c.protocol],
          ] as const
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
      h(
        'div',
        { class: 'metrics', role: 'group', 'aria-label': 'Headline figures' },
        tile('η_p', r.eta_p, 'patch-to-scan accuracy (top-1)', true),
        tile('η_w', r.eta_w, 'mean per-class recall', true),
        tile('η_tot', r.eta_tot, 'η_p · η_w', true),
        tile("η_w'", r.eta_w_precision, 'mean per-class precision'),
      ),
      h(
        'div',
        { class: 'metrics secondary', role: 'group', 'aria-label': 'Retrieval figures' },
        tile('Recall@1', r.recall_at_1, 'a same-label item ranked 1st'),
        tile('Recall@5', r.recall_at_5, '… in the top 5'),
        tile('Recall@10', r.recall_at_10, '… in the top 10'),
        tile('mAP@10', r.map_at_10, 'mean average precision'),
        tile('MV@5', r.mv_at_5, 'majority vote of the top 5'),
      ),
      h(
        'div',
        { class: 'report-grid' },
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'per-class-title' },
          h('h2', { id: 'per-class-title' }, 'Per class'),
          h(
            'table',
            { class: 'per-class' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Label'),
                h('th', { scope: 'col', class: 'num' }, 'Queries'),
                h('th', { scope: 'col' }, 'Recall'),
                h('th', { scope: 'col' }, 'Precision'),
              ),
            ),
            h(
              'tbody',
              {},
              ...rows.map((row) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, labelChip(row.label)),
                  h('td', { class: 'num' }, String(row.queries)),
                  h('td', {}, bar(row.recall, 'recall')),
                  h(
                    'td',
                    {},
                    row.precision === null
                      ? h('span', { class: 'bar-none' }, 'never predicted')
                      : bar(row.precision, 'precision'),
                  ),
                ),
              ),
            ),
          ),
        ),
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'confusion-title' },
          h('h2', { id: 'confusion-title' }, 'Confusion matrix'),
          this.confusion(r.labels.length),
        ),
      ),
    );
  }
}
