import * as l10n from '@vscode/l10n';
import { formatInt, formatRanges } from '../../src/shared/format.js';
import type { HistogramDto, LoraSummaryDto } from '../../src/shared/protocol.js';
import type { Rpc } from '../rpc.js';
import { h, icon } from './dom.js';
import { STATS_EVENT } from './coverageGrid.js';
import { renderStatsChart } from './statsChart.js';
import '../l10n.js';

const show = (v: HistogramDto['value']) =>
  v === null ? '?' : typeof v === 'number' ? String(+v.toPrecision(6)) : v;

/** "8" when every module agrees, "4–16 (3 values)" when they vary. */
export function histogramText(hist: readonly HistogramDto[]): string {
  if (hist.length === 0) return '–';
  if (hist.length === 1) return show(hist[0]?.value ?? null);
  const nums = hist.map((x) => x.value).filter((v): v is number => typeof v === 'number');
  if (nums.length === hist.length)
    return l10n.t('{0}–{1} ({2} values)', Math.min(...nums), Math.max(...nums), hist.length);
  return l10n.t('{0} values', hist.length);
}

/** The adapter badge of the header bar: `PEFT · r=16 · α=32 · scale 2`. */
export function loraBadgeText(l: LoraSummaryDto): string {
  const parts = [l.familyLabel];
  if (l.ranks.length === 1) parts.push(`r=${show(l.ranks[0]?.value ?? null)}`);
  if (l.alphas.length === 1) parts.push(`α=${show(l.alphas[0]?.value ?? null)}`);
  if (l.scales.length === 1) parts.push(l10n.t('scale {0}', show(l.scales[0]?.value ?? null)));
  return parts.join(' · ');
}

function bars(title: string, hist: readonly HistogramDto[], testid: string): HTMLElement {
  const max = Math.max(1, ...hist.map((x) => x.count));
  return h(
    'div',
    { className: 'histogram', 'data-testid': testid },
    h('div', { className: 'figure-label' }, title),
    ...hist.map((x) =>
      h(
        'div',
        { className: 'hist-row' },
        h('span', { className: 'hist-value' }, show(x.value)),
        h(
          'span',
          { className: 'hist-bar-cell' },
          h('span', { className: 'share', style: `width:${((100 * x.count) / max).toFixed(1)}%` }),
        ),
        h('span', { className: 'hist-count muted' }, `×${formatInt(x.count)}`),
      ),
    ),
  );
}

function figure(label: string, value: string, testid: string, title?: string): HTMLElement {
  return h(
    'div',
    { className: 'figure', title: title ?? value },
    h('div', { className: 'figure-label' }, label),
    h('div', { className: 'figure-value small', 'data-testid': testid }, value),
  );
}

export function renderAdapterPanel(l: LoraSummaryDto, rpc: Rpc, charts = true): HTMLElement {
  const origins = l.alphaOrigins.map((o) => `${show(o.value)} ×${o.count}`).join(', ');
  const section = h(
    'section',
    { className: 'adapter', 'data-testid': 'adapter', 'aria-label': l10n.t('Adapter') },
    h('h2', null, l10n.t('Adapter')),
    h(
      'div',
      { className: 'figures' },
      figure(l10n.t('Family'), l.familyLabel, 'adapter-family'),
      figure(l10n.t('Modules'), formatInt(l.modules), 'adapter-modules'),
      figure(l10n.t('Rank'), histogramText(l.ranks), 'adapter-rank'),
      figure(
        l10n.t('Alpha'),
        histogramText(l.alphas),
        'adapter-alpha',
        l10n.t('alpha from {0}', origins),
      ),
      figure(l10n.t('Scale'), histogramText(l.scales), 'adapter-scale', l.scaleRules.join(', ')),
    ),
    h(
      'table',
      { className: 'grid facts' },
      h(
        'tbody',
        null,
        h(
          'tr',
          null,
          h('th', null, l10n.t('Detected from')),
          h(
            'td',
            null,
            h('ul', { className: 'evidence' }, ...l.evidence.map((e) => h('li', null, e))),
          ),
        ),
        h(
          'tr',
          null,
          h('th', null, l10n.t('Alpha from')),
          h('td', null, l10n.t('{0}; scale = {1}', origins, l.scaleRules.join(', '))),
        ),
        h(
          'tr',
          null,
          h('th', null, l10n.t('Module kinds')),
          h('td', null, l.kinds.map((k) => `${show(k.value)} ×${k.count}`).join(', ')),
        ),
        h(
          'tr',
          null,
          h('th', null, l10n.t('Targets')),
          h(
            'td',
            null,
            ...l.targets.map((t) =>
              h('span', { className: 'chip' }, `${show(t.value)} ×${t.count}`),
            ),
          ),
        ),
        ...l.layers.map((x) =>
          h(
            'tr',
            null,
            h('th', null, l10n.t('Layers')),
            h('td', null, `${x.stack}: ${formatRanges(x.indices)} (${x.indices.length})`),
          ),
        ),
      ),
    ),
  );
  if (l.ranks.length > 1 || l.alphas.length > 1 || l.scales.length > 1) {
    section.append(
      h(
        'div',
        { className: 'histograms' },
        l.ranks.length > 1 ? bars(l10n.t('Ranks'), l.ranks, 'hist-ranks') : null,
        l.alphas.length > 1 ? bars(l10n.t('Alphas'), l.alphas, 'hist-alphas') : null,
        l.scales.length > 1 ? bars(l10n.t('Scales'), l.scales, 'hist-scales') : null,
      ),
    );
  }
  if (l.conflicts.length) {
    section.append(
      h('h3', null, l10n.t('Conflicting alpha sources')),
      h(
        'table',
        { className: 'grid', 'data-testid': 'alpha-conflicts' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, l10n.t('module')),
            h('th', null, l10n.t('sources (the one used is marked)')),
          ),
        ),
        h(
          'tbody',
          null,
          ...l.conflicts.map((c) =>
            h(
              'tr',
              null,
              h('td', null, h('code', null, c.module)),
              h(
                'td',
                null,
                ...c.sources.map((s) =>
                  h(
                    'div',
                    { className: s.used ? 'source used' : 'source' },
                    s.used ? icon('check') : icon('circle-slash'),
                    ` ${s.origin}${s.key ? ` (${s.key})` : ''}: ${s.alpha ?? '?'}${s.note ? ` — ${s.note}` : ''}`,
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
  if (l.nonLora.length) {
    section.append(
      h('h3', null, l10n.t('Not LoRA weights')),
      h(
        'table',
        { className: 'grid', 'data-testid': 'non-lora' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, l10n.t('kind')),
            h('th', { className: 'num' }, l10n.t('count')),
            h('th', null, l10n.t('example')),
            h('th', null, l10n.t('why')),
          ),
        ),
        h(
          'tbody',
          null,
          ...l.nonLora.map((n) =>
            h(
              'tr',
              null,
              h('td', null, n.category),
              h('td', { className: 'num' }, formatInt(n.count)),
              h('td', null, h('code', { title: n.example }, n.example)),
              h('td', { className: 'muted' }, n.reason),
            ),
          ),
        ),
      ),
    );
  }
  for (const w of l.warnings)
    section.append(h('p', { className: 'warning' }, icon('warning', 'warning-icon'), w));
  if (!charts) return section;
  const statsBox = h('div', { className: 'stats-box' });
  const button = h(
    'vscode-button',
    {
      'data-testid': 'compute-stats',
      secondary: true,
      title: l10n.t("Reads each module's tensors once; results are cached per file"),
    },
    l10n.t('Compute statistics'),
  );
  button.addEventListener('click', async () => {
    button.setAttribute('disabled', '');
    statsBox.replaceChildren(h('span', { className: 'muted' }, l10n.t('Reading module tensors…')));
    try {
      const stats = await rpc.request('computeStats', {});
      statsBox.replaceChildren(renderStatsChart(stats));
      document.dispatchEvent(new CustomEvent(STATS_EVENT, { detail: stats }));
      button.remove();
    } catch (e) {
      statsBox.replaceChildren(
        h('p', { className: 'warning' }, icon('error'), e instanceof Error ? e.message : String(e)),
      );
      button.removeAttribute('disabled');
    }
  });
  section.append(h('h3', null, l10n.t('Norms')), button, statsBox);
  return section;
}
