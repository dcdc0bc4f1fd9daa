/**
 * Which layers × module types an adapter patches: a grid coloured by rank, or by ‖ΔW‖ once the
 * statistics are computed (the Norms button posts them as a `lora-lens-stats` event).
 */
import * as l10n from '@vscode/l10n';
import { formatInt } from '../../src/shared/format.js';
import type { CoverageDto } from '../../src/shared/modelProtocol.js';
import type { StatsDto } from '../../src/shared/protocol.js';
import { h, setStyle } from './dom.js';
import '../l10n.js';

export const STATS_EVENT = 'lora-lens-stats';

/** 15–85 % of the accent colour, by value against the largest. */
function shade(cell: HTMLElement, value: number | null, max: number): void {
  const pct = value === null || max <= 0 ? 0 : 15 + (70 * value) / max;
  setStyle(
    cell,
    `background:color-mix(in srgb, var(--vscode-charts-blue) ${pct.toFixed(0)}%, transparent)`,
  );
}

export function renderCoverageGrid(c: CoverageDto): HTMLElement {
  const cells: { el: HTMLElement; module: string; rank: number | null }[] = [];
  let maxRank = 0;
  for (const r of c.rows)
    for (const cell of Object.values(r.cells)) maxRank = Math.max(maxRank, cell.rank ?? 0);
  const body = h(
    'tbody',
    null,
    ...c.rows.map((r) =>
      h(
        'tr',
        null,
        h('th', { className: 'row-label', title: r.label }, r.label),
        ...c.columns.map((col) => {
          const cell = r.cells[col];
          if (!cell) return h('td', { className: 'empty' }, '');
          const el = h(
            'td',
            { title: `${cell.module}: rank ${cell.rank ?? '?'}`, 'data-module': cell.module },
            cell.rank === null ? '?' : String(cell.rank),
          );
          shade(el, cell.rank, maxRank);
          cells.push({ el, module: cell.module, rank: cell.rank });
          return el;
        }),
      ),
    ),
  );
  const legend = h(
    'p',
    { className: 'muted', 'data-testid': 'coverage-legend' },
    l10n.t('Coloured by rank (largest {0}).', maxRank),
  );
  const table = h(
    'table',
    { className: 'coverage-grid', 'data-testid': 'coverage-grid' },
    h('thead', null, h('tr', null, h('th', null, ''), ...c.columns.map((k) => h('th', null, k)))),
    body,
  );
  const section = h(
    'section',
    { className: 'coverage', 'aria-label': l10n.t('Coverage') },
    h('h3', null, l10n.t('Coverage')),
    h(
      'p',
      null,
      l10n.t(
        '{0} modules, {1} trainable parameters{2}.',
        formatInt(c.modules),
        formatInt(c.trainableParameters),
        c.trainableExact ? '' : l10n.t(' (about)'),
      ),
    ),
    h('div', { className: 'coverage-scroll' }, table),
    c.moreRows > 0
      ? h(
          'p',
          { className: 'muted' },
          l10n.t('… {0} more rows (see the Tensors tab)', formatInt(c.moreRows)),
        )
      : null,
    legend,
  );
  // Norms replace ranks as the colour once known.
  const onStats = (e: Event) => {
    // A re-rendered Overview leaves this grid detached: stop listening then.
    if (!section.isConnected) {
      document.removeEventListener(STATS_EVENT, onStats);
      return;
    }
    const stats = (e as CustomEvent<StatsDto>).detail;
    const norms = new Map(stats.rows.map((r) => [r.module, r.norm]));
    let max = 0;
    for (const c of cells) max = Math.max(max, norms.get(c.module) ?? 0);
    for (const c of cells) {
      const n = norms.get(c.module) ?? null;
      shade(c.el, n, max);
      c.el.title = `${c.module}: rank ${c.rank ?? '?'}, ‖ΔW‖ ${n === null ? '?' : n.toPrecision(3)}`;
    }
    legend.textContent = l10n.t('Coloured by ‖ΔW‖ (largest {0}).', max.toPrecision(3));
  };
  document.addEventListener(STATS_EVENT, onStats);
  return section;
}
