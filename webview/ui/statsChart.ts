import * as l10n from '@vscode/l10n';
import type { StatsDto } from '../../src/shared/protocol.js';
import { h, icon } from './dom.js';
import '../l10n.js';

const SVG = 'http://www.w3.org/2000/svg';
/** VS Code's chart palette (theme variables), cycled per module type. */
const COLORS = ['blue', 'orange', 'green', 'purple', 'red', 'yellow'];

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toPrecision(2));

/**
 * Stacked bars: one per layer, one colour per module type, height ‖scale·ΔW‖_F of that type in that
 * layer. Drawn as SVG with theme colours; a <title> on each bar gives the numbers.
 */
export function renderStatsChart(stats: StatsDto): HTMLElement {
  const totals = [...stats.totals].sort((a, b) => (a.layer ?? -1) - (b.layer ?? -1));
  const types = [...new Set(totals.flatMap((t) => Object.keys(t.byType)))].sort();
  const heightOf = (t: (typeof totals)[number]) =>
    types.reduce((a, ty) => a + (t.byType[ty] ?? 0), 0);
  const max = Math.max(1e-12, ...totals.map(heightOf));
  const W = Math.max(700, totals.length * 14 + 60);
  const H = 180;
  const left = 44;
  const bottom = 22;
  const bw = Math.min(28, Math.max(4, (W - left - 8) / Math.max(1, totals.length) - 3));
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': l10n.t('effective scale × norm per layer'),
  });
  for (const f of [0, 0.5, 1]) {
    const y = H - bottom - f * (H - bottom - 8);
    chart.append(svg('line', { x1: left, x2: W - 4, y1: y, y2: y, class: 'grid-line' }));
    const label = svg('text', { x: left - 4, y: y + 4, class: 'axis', 'text-anchor': 'end' });
    label.textContent = fmt(f * max);
    chart.append(label);
  }
  totals.forEach((t, i) => {
    const x = left + 4 + i * (bw + 3);
    let y = H - bottom;
    types.forEach((ty, k) => {
      const v = t.byType[ty] ?? 0;
      if (v <= 0) return;
      const hh = (v / max) * (H - bottom - 8);
      y -= hh;
      const rect = svg('rect', {
        x,
        y,
        width: bw,
        height: Math.max(0.5, hh),
        class: `bar c-${COLORS[k % COLORS.length]}`,
      });
      const title = svg('title', {});
      title.textContent = `${t.stack ?? ''} ${t.layer ?? l10n.t('other')} · ${ty}: ${fmt(v)}`;
      rect.append(title);
      chart.append(rect);
    });
    if (totals.length <= 48 || i % Math.ceil(totals.length / 24) === 0) {
      const label = svg('text', {
        x: x + bw / 2,
        y: H - 6,
        class: 'axis',
        'text-anchor': 'middle',
      });
      label.textContent = t.layer === null ? '–' : String(t.layer);
      chart.append(label);
    }
  });
  const legend = h(
    'div',
    { className: 'legend' },
    ...types.map((ty, k) =>
      h(
        'span',
        { className: 'legend-item' },
        h('span', { className: `swatch c-${COLORS[k % COLORS.length]}` }),
        ty,
      ),
    ),
  );
  return h(
    'div',
    { className: 'stats', 'data-testid': 'stats' },
    h(
      'div',
      { className: 'figure-label' },
      l10n.t(
        '‖scale·B·A‖ per layer and module type ({0} modules, {1} ms)',
        stats.modules,
        stats.ms.toFixed(0),
      ),
    ),
    chart as unknown as HTMLElement,
    legend,
    ...stats.warnings.map((w) =>
      h(
        'p',
        { className: 'warning', 'data-testid': 'stats-warning' },
        icon('warning', 'warning-icon'),
        w,
      ),
    ),
  );
}
