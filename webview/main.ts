import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import * as l10n from '@vscode/l10n';
import { formatBytes, formatCount, formatInt } from '../src/shared/format.js';
import type {
  ErrorDto,
  SmokeViewDto,
  SummaryDto,
  TreeStateDto,
  UiOptionsDto,
} from '../src/shared/protocol.js';
import { connect, loadViewState, saveViewState, type Rpc } from './rpc.js';
import { applyCodiconSheet, h, icon } from './ui/dom.js';
import { loraBadgeText } from './ui/adapterPanel.js';
import { MappingView } from './ui/mappingView.js';
import { renderOverview } from './ui/overview.js';
import { SmokeView } from './ui/smokeView.js';
import { TensorList } from './ui/tensorList.js';
import './l10n.js';

const app = document.getElementById('app') as HTMLElement;
// Epoch-ms marks on #app (data-t-*), read by scripts/e2e/first-paint.ts: five attribute writes.
const mark = (name: string) =>
  (app.dataset[`t${name}`] = String(performance.timeOrigin + performance.now()));
app.dataset.tOrigin = String(performance.timeOrigin);
mark('Script');
applyCodiconSheet();
const rpc = connect();
let list: TensorList | undefined;
let mapping: MappingView | undefined;
let smoke: SmokeView | undefined;

/** Tab positions: Mapping and Smoke test exist for adapters only. */
const TAB = { overview: 0, tensors: 1, mapping: 2, smoke: 3 } as const;

function selectTab(index: number): void {
  const tabs = app.querySelector('vscode-tabs') as (HTMLElement & { selectedIndex: number }) | null;
  if (tabs) tabs.selectedIndex = index;
  saveViewState({ tab: index });
  if (index === TAB.tensors) list?.activate();
}

rpc.on('reload', () => void start());
rpc.on('mappingChanged', () => void mapping?.refresh());
rpc.on('focusFilter', () => {
  selectTab(TAB.tensors);
  requestAnimationFrame(() => list?.focusFilter());
});
rpc.on('smokeChanged', ({ view, reveal }) => {
  smoke?.apply(view);
  if (reveal && smoke) selectTab(TAB.smoke);
});
rpc.on('smokeEvent', (event) => smoke?.onEvent(event));

async function start(): Promise<void> {
  app.dataset.state = 'loading';
  try {
    mark('ReadySent');
    const ready = await rpc.request('ready', {});
    mark('ReadyAnswered');
    if (ready.ok) showCheckpoint(ready.summary, ready.tree, rpc, ready.ui);
    else showError(ready.fileName, ready.error);
    mark('Rendered');
    requestAnimationFrame(() => setTimeout(() => mark('Painted'), 0));
  } catch (e) {
    showError(document.title, {
      code: 'InternalError',
      message: e instanceof Error ? e.message : String(e),
    });
  }
}

/** The base button's text before a base is chosen (a function: `t` must not run at import time). */
function noBase(): string {
  return l10n.t('Base: none — Select…');
}

function headerBar(summary: SummaryDto): HTMLElement {
  const mainDtype = summary.dtypes[0]?.dtype;
  const tensors = l10n.t('{0} tensors', formatInt(summary.tensorCount));
  return h(
    'header',
    { className: 'bar' },
    icon('file-binary', 'file-icon'),
    h(
      'span',
      { className: 'file-name', 'data-testid': 'file-name', title: summary.fileName },
      summary.fileName,
    ),
    h(
      'span',
      { className: 'badges' },
      h('vscode-badge', { 'data-testid': 'format-badge' }, summary.format),
      summary.lora
        ? h(
            'vscode-badge',
            { 'data-testid': 'lora-badge', title: summary.lora.evidence.join('\n') },
            loraBadgeText(summary.lora),
          )
        : null,
      h('vscode-badge', { title: tensors }, tensors),
      h(
        'vscode-badge',
        { title: l10n.t('{0} parameters', formatInt(summary.parameterCount)) },
        l10n.t('{0} params', formatCount(summary.parameterCount)),
      ),
      mainDtype
        ? h(
            'vscode-badge',
            { title: summary.dtypes.map((d) => d.dtype).join(', ') },
            summary.dtypes.length > 1 ? `${mainDtype} +${summary.dtypes.length - 1}` : mainDtype,
          )
        : null,
      h(
        'vscode-badge',
        { title: l10n.t('{0} bytes', formatInt(summary.fileSize)) },
        formatBytes(summary.fileSize),
      ),
    ),
  );
}

function showCheckpoint(
  summary: SummaryDto,
  tree: TreeStateDto | undefined,
  rpc: Rpc,
  ui: UiOptionsDto | undefined,
): void {
  const view = loadViewState();
  list = new TensorList(
    rpc,
    tree,
    view.scrollTop ?? 0,
    summary.lora !== undefined && summary.lora.modules > 0,
  );
  const tabs = h(
    'vscode-tabs',
    { className: 'tabs', 'selected-index': view.tab ?? 0 },
    h('vscode-tab-header', { slot: 'header', 'data-testid': 'tab-overview' }, l10n.t('Overview')),
    h('vscode-tab-panel', null, renderOverview(summary, rpc, { charts: ui?.charts !== false })),
    h(
      'vscode-tab-header',
      { slot: 'header', 'data-testid': 'tab-tensors' },
      `${l10n.t('Tensors')} `,
      h('vscode-badge', { variant: 'counter' }, formatInt(summary.tensorCount)),
    ),
    h('vscode-tab-panel', { className: 'tensors-panel' }, list.element),
  );
  const header = headerBar(summary);
  if (summary.lora && summary.lora.modules > 0) {
    // Adapters get the Mapping tab and the base picker in the header bar.
    const baseButton = h(
      'vscode-button',
      {
        'data-testid': 'header-base',
        secondary: true,
        title: l10n.t('The base model this adapter is for'),
      },
      noBase(),
    );
    mapping = new MappingView(rpc, (v) => {
      baseButton.textContent = v.base ? l10n.t('Base: {0}', v.base.label) : noBase();
    });
    baseButton.addEventListener('click', () => {
      selectTab(TAB.mapping);
      void mapping?.choose();
    });
    const smokeButton = h(
      'vscode-button',
      { 'data-testid': 'smoke-run', icon: 'beaker', disabled: true, title: l10n.t('Loading…') },
      l10n.t('Run GPU Smoke Test'),
    );
    const shownList = list;
    smoke = new SmokeView(
      rpc,
      (module) => {
        selectTab(TAB.tensors);
        void shownList.revealPath(module);
      },
      (v: SmokeViewDto) => {
        const disabled = v.blocked !== null || v.running;
        smokeButton.toggleAttribute('disabled', disabled);
        smokeButton.title = v.running
          ? l10n.t('A smoke test is running (see the Smoke test tab)')
          : (v.blocked ??
            l10n.t('Load the mapped adapter into onnxruntime and check every module'));
      },
    );
    smokeButton.addEventListener('click', () => {
      selectTab(TAB.smoke);
      smoke?.run();
    });
    header.append(h('span', { className: 'bar-actions' }, baseButton, smokeButton));
    tabs.append(
      h('vscode-tab-header', { slot: 'header', 'data-testid': 'tab-mapping' }, l10n.t('Mapping')),
      h('vscode-tab-panel', { className: 'mapping-panel' }, mapping.element),
      h('vscode-tab-header', { slot: 'header', 'data-testid': 'tab-smoke' }, l10n.t('Smoke test')),
      h('vscode-tab-panel', { className: 'smoke-panel' }, smoke.element),
    );
    // One base load: the smoke state asks for the mapping the Mapping tab has just loaded.
    void mapping.refresh().then(() => smoke?.refresh());
  } else {
    mapping = undefined;
    smoke = undefined;
  }
  tabs.addEventListener('vsc-tabs-select', (e: Event) => {
    const index = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
    saveViewState({ tab: index });
    if (index === TAB.tensors) list?.activate();
  });
  if ((view.tab ?? 0) === TAB.tensors) list.activate();
  app.replaceChildren(header, tabs);
  app.dataset.state = 'ready';
}

function showError(fileName: string, error: ErrorDto): void {
  list = undefined;
  mapping = undefined;
  smoke = undefined;
  app.replaceChildren(
    h(
      'header',
      { className: 'bar' },
      icon('file-binary', 'file-icon'),
      h('span', { className: 'file-name', 'data-testid': 'file-name' }, fileName),
    ),
    h(
      'section',
      { className: 'error-view', role: 'alert', 'data-testid': 'error' },
      h('h1', null, icon('error', 'error-icon'), ` ${l10n.t('This file cannot be read')}`),
      h(
        'p',
        null,
        `${l10n.t('Rule broken:')} `,
        h('code', { className: 'error-code', 'data-testid': 'error-code' }, error.code),
      ),
      h('p', { className: 'error-message', 'data-testid': 'error-message' }, error.message),
      error.subject
        ? h('p', { className: 'muted' }, `${l10n.t('About:')} `, h('code', null, error.subject))
        : null,
      h(
        'p',
        { className: 'muted' },
        l10n.t(
          'LoRA Lens checks every rule of the format before showing anything, and never changes the file.',
        ),
        ' ',
        l10n.t(
          'The rule names match the reference safetensors implementation, so you can search for them.',
        ),
      ),
    ),
  );
  app.dataset.state = 'error';
}

void start();
