/**
 * The Compare view (dist/compare.js): two checkpoints side by side. The host keeps the comparison;
 * this page shows the verdict and pages every list (200 rows at a time) through the shared protocol.
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import * as l10n from '@vscode/l10n';
import type {
  CompareSectionDto,
  CompareSideDto,
  CompareSummaryDto,
} from '../src/shared/compareProtocol.js';
import { formatInt } from '../src/shared/format.js';
import { connect, type Rpc } from './rpc.js';
import { applyCodiconSheet, h, icon } from './ui/dom.js';
import './l10n.js';

const PAGE = 200;
const app = document.getElementById('app') as HTMLElement;
applyCodiconSheet();
const rpc = connect();

function sideCard(label: string, s: CompareSideDto): HTMLElement {
  return h(
    'div',
    { className: 'compare-side', 'data-testid': `compare-side-${label}` },
    h('div', { className: 'figure-label' }, label),
    h('div', { className: 'file-name', title: s.path }, s.name),
    h(
      'div',
      { className: 'muted' },
      l10n.t(
        '{0} · {1} tensors · {2}',
        s.format,
        formatInt(s.tensors),
        s.modules > 0 ? l10n.t('{0} ({1} modules)', s.family, formatInt(s.modules)) : s.family,
      ),
    ),
  );
}

/** One list: a table that loads PAGE more rows at a time. */
function sectionTable(section: CompareSectionDto): HTMLElement {
  const body = h('tbody');
  let loaded = 0;
  const more = h(
    'vscode-button',
    { secondary: true, 'data-testid': `compare-more-${section.id}` },
    l10n.t('Show more'),
  );
  const status = h('span', { className: 'muted' });
  const refresh = () => {
    status.textContent = l10n.t('{0} of {1}', formatInt(loaded), formatInt(section.count));
    more.hidden = loaded >= section.count;
  };
  const load = async () => {
    const page = await rpc.request('compareRows', {
      section: section.id,
      start: loaded,
      count: PAGE,
    });
    for (const row of page.rows)
      body.append(h('tr', null, ...row.map((c) => h('td', { title: c }, c))));
    loaded += page.rows.length;
    refresh();
  };
  more.addEventListener('click', () => void load());
  refresh();
  if (section.count > 0) void load();
  return h(
    'section',
    { className: 'compare-section', 'data-testid': `compare-${section.id}` },
    section.count === 0
      ? h('p', { className: 'muted' }, l10n.t('Nothing here.'))
      : h(
          'table',
          { className: 'compare-table' },
          h('thead', null, h('tr', null, ...section.columns.map((c) => h('th', null, c)))),
          body,
        ),
    h('div', { className: 'compare-more' }, status, ' ', more),
  );
}

function render(s: CompareSummaryDto): void {
  const verdict = s.differ
    ? h(
        'div',
        {
          className: 'compare-verdict differ',
          'data-testid': 'compare-verdict',
          'data-differ': 'true',
        },
        h('h2', null, icon('diff'), ' ', l10n.t('The checkpoints differ')),
        h('ul', null, ...s.differences.map((d) => h('li', null, d))),
      )
    : h(
        'div',
        {
          className: 'compare-verdict same',
          'data-testid': 'compare-verdict',
          'data-differ': 'false',
        },
        h('h2', null, icon('pass'), ' ', l10n.t('No differences')),
      );
  const normsButton =
    s.canComputeNorms && !s.normsComputed
      ? h(
          'vscode-button',
          {
            'data-testid': 'compare-norms',
            onclick: () => {
              app.dataset.state = 'loading';
              void rpc.request('compareNorms', {}).then(render, showError);
            },
          },
          l10n.t('Compare ΔW (reads both adapters)'),
        )
      : null;
  const tabs = h(
    'vscode-tabs',
    { className: 'tabs' },
    ...s.sections.flatMap((sec) => [
      h(
        'vscode-tab-header',
        { slot: 'header', 'data-testid': `compare-tab-${sec.id}` },
        `${sec.label} `,
        h('vscode-badge', { variant: 'counter' }, formatInt(sec.count)),
      ),
      h('vscode-tab-panel', null, sectionTable(sec)),
    ]),
  );
  app.replaceChildren(
    h(
      'div',
      { className: 'compare' },
      h('div', { className: 'compare-sides' }, sideCard('A', s.a), sideCard('B', s.b)),
      verdict,
      h(
        'p',
        { className: 'muted' },
        l10n.t(
          '{0} keys the same on both sides; compared in {1} ms, headers only{2}.',
          formatInt(s.same),
          s.ms.toFixed(0),
          s.normsComputed ? l10n.t(', and ΔW from both adapters') : '',
        ),
        ' ',
        normsButton,
      ),
      ...s.notes.map((n) => h('p', { className: 'warning' }, icon('info'), ' ', n)),
      tabs,
    ),
  );
  app.dataset.state = 'ready';
}

function showError(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  app.replaceChildren(
    h(
      'div',
      { className: 'error-view', 'data-testid': 'compare-error' },
      h('h2', null, icon('error'), ' ', l10n.t('Cannot compare')),
      h('p', null, message),
    ),
  );
  app.dataset.state = 'error';
}

async function start(r: Rpc): Promise<void> {
  try {
    const ready = await r.request('compareReady', {});
    if (ready.ok) render(ready.summary);
    else showError(new Error(`${ready.error.code}: ${ready.error.message}`));
  } catch (e) {
    showError(e);
  }
}

void start(rpc);
