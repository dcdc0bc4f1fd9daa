import * as l10n from '@vscode/l10n';
import { formatShape } from '../../src/shared/format.js';
import {
  NO_SMOKE,
  type SmokeEventDto,
  type SmokeModuleDto,
  type SmokeReportDto,
  type SmokeViewDto,
} from '../../src/shared/protocol.js';
import {
  countByStatus,
  firstProblem,
  formatError,
  formatMs,
  formatRatio,
  orderSmokeRows,
  verdictLevel,
  type SmokeVerdictLevel,
} from '../../src/shared/smokeRows.js';
import type { Rpc } from '../rpc.js';
import { h, icon } from './dom.js';
import { movementKeys, scrollRowIntoView } from './listMoves.js';
import '../l10n.js';
import { NOTHING_SHARED, pathLabel, sharedNote, sharedParts } from './pathLabels.js';

const ROW_HEIGHT = 24;
const OVERSCAN = 8;

const LEVEL_ICON: Record<SmokeVerdictLevel, string> = {
  pass: 'pass-filled',
  warn: 'warning',
  fail: 'error',
};
const STATUS_ICON: Record<SmokeModuleDto['status'], string> = {
  pass: 'pass',
  warn: 'warning',
  fail: 'error',
  skipped: 'circle-slash',
};

/** The Status column's word; `data-status` keeps the untranslated status for scripts and tests. */
function statusLabel(status: SmokeModuleDto['status']): string {
  switch (status) {
    case 'pass':
      return l10n.t('pass');
    case 'warn':
      return l10n.t('warn');
    case 'fail':
      return l10n.t('fail');
    case 'skipped':
      return l10n.t('skipped');
  }
}

function runTitle(): string {
  return l10n.t('Load the mapped adapter into onnxruntime and check every module');
}

/** "…layers.12.self_attn.q_proj": long module paths keep their distinctive end. */
function tail(path: string, max = 40): string {
  return path.length <= max ? path : `…${path.slice(path.length - max + 1)}`;
}

/**
 * The Smoke tab: the verdict of the last run, the execution provider and why the others were not used,
 * timings, the whole-model check, and one row per module (failures first). Rows stream in while a run
 * goes on. The table is windowed (only the rows in view exist in the DOM); ↑/↓ move, Enter or a click
 * reveals the module in the Tensors tab.
 */
export class SmokeView {
  readonly element: HTMLElement;
  private view: SmokeViewDto = NO_SMOKE;
  /** The rows shown: the running run's so far, else the last report's, in display order. */
  private rows: SmokeModuleDto[] = [];
  private liveTotal = 0;
  private liveMessage = '';
  private selected = 0;
  private renderQueued = false;
  private shared = { module: NOTHING_SHARED, target: NOTHING_SHARED };
  private readonly moduleHead = h('span', { className: 'cell' }, l10n.t('Module'));
  private readonly targetHead = h('span', { className: 'cell' }, l10n.t('Target'));
  private readonly controls = h('div', { className: 'smoke-controls' });
  private readonly summary = h('div', { className: 'smoke-summary' });
  private readonly counts = h('div', {
    className: 'smoke-counts',
    'data-testid': 'smoke-counts',
    'aria-live': 'polite',
  });
  private readonly spacer = h('div', { className: 'spacer' });
  private readonly rowsLayer = h('div', { className: 'rows' });
  private readonly viewport: HTMLElement;
  private readonly table: HTMLElement;

  constructor(
    private readonly rpc: Rpc,
    private readonly revealModule: (module: string) => void,
    private readonly onState: (view: SmokeViewDto) => void,
  ) {
    this.viewport = h(
      'div',
      {
        className: 'viewport smoke-viewport',
        tabindex: 0,
        role: 'grid',
        'aria-label': l10n.t('Smoke test results per module'),
        'data-testid': 'smoke-table',
      },
      this.spacer,
      this.rowsLayer,
    );
    this.viewport.addEventListener('scroll', () => this.queueRender());
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.viewport.addEventListener('click', (e) => this.onClick(e));
    this.table = h(
      'div',
      { className: 'smoke-table', hidden: true },
      this.counts,
      h(
        'div',
        { className: 'row srow header-row', 'aria-hidden': 'true' },
        this.moduleHead,
        this.targetHead,
        h('span', { className: 'cell' }, l10n.t('Shapes')),
        h('span', { className: 'cell' }, l10n.t('Status')),
        h('span', { className: 'cell num' }, l10n.t('Max error')),
        h('span', { className: 'cell num' }, l10n.t('Delta')),
        h('span', { className: 'cell num' }, 'ms'),
        h('span', { className: 'cell' }, l10n.t('First problem')),
      ),
      this.viewport,
    );
    this.element = h(
      'div',
      { className: 'smoke', 'data-testid': 'smoke' },
      this.controls,
      this.summary,
      this.table,
    );
    new ResizeObserver(() => this.queueRender()).observe(this.viewport);
  }

  async refresh(): Promise<void> {
    try {
      this.apply(await this.rpc.request('smoke', {}));
    } catch (e) {
      this.summary.replaceChildren(
        h('p', { className: 'warning' }, icon('error'), e instanceof Error ? e.message : String(e)),
      );
    }
  }

  /** Starts a run in the host ("Run GPU Smoke Test"); the outcome arrives as notifications. */
  run(): void {
    if (this.view.blocked || this.view.running) return;
    void this.rpc.request('runSmoke', {});
  }

  apply(view: SmokeViewDto): void {
    this.view = view;
    if (view.live) {
      this.rows = orderSmokeRows(view.live.rows);
      this.liveTotal = view.live.total;
      this.liveMessage = view.live.message;
    } else {
      this.rows = orderSmokeRows(view.last?.report.modules ?? []);
    }
    this.selected = Math.min(this.selected, Math.max(0, this.rows.length - 1));
    this.onState(view);
    this.renderControls();
    this.renderSummary();
    this.renderTable();
  }

  /** A progress event of the running test: rows join the table as they finish. */
  onEvent(event: SmokeEventDto): void {
    if (!this.view.running) return;
    if (event.type === 'module') {
      this.rows = orderSmokeRows([...this.rows, event.result]);
      this.liveTotal = event.total;
      this.liveMessage = l10n.t('module {0}/{1}', event.index + 1, event.total);
      this.renderTable();
    } else this.liveMessage = event.type === 'phase' ? event.message : this.liveMessage;
    this.renderControls();
  }

  private renderControls(): void {
    const v = this.view;
    const button = h(
      'vscode-button',
      {
        'data-testid': 'smoke-run-tab',
        icon: 'beaker',
        disabled: v.blocked !== null || v.running,
        title: v.blocked ?? runTitle(),
      },
      v.last || v.error ? l10n.t('Run Again') : l10n.t('Run GPU Smoke Test'),
    );
    button.addEventListener('click', () => this.run());
    const parts: (HTMLElement | null)[] = [button];
    if (v.running) {
      const cancel = h(
        'vscode-button',
        { secondary: true, 'data-testid': 'smoke-cancel', title: l10n.t('Stop the run') },
        l10n.t('Cancel'),
      );
      cancel.addEventListener('click', () => void this.rpc.request('cancelSmoke', {}));
      parts.push(
        cancel,
        h(
          'span',
          {
            className: 'smoke-progress',
            'data-testid': 'smoke-progress',
            'data-done': this.rows.length,
            'data-total': this.liveTotal,
          },
          icon('loading', 'codicon-modifier-spin'),
          ` ${
            this.liveTotal
              ? l10n.t(
                  'Running: {0}/{1} modules · {2}',
                  this.rows.length,
                  this.liveTotal,
                  this.liveMessage,
                )
              : l10n.t('Running: {0} modules · {1}', this.rows.length, this.liveMessage)
          }`,
        ),
      );
    } else if (v.blocked) {
      parts.push(
        h(
          'span',
          { className: 'muted', 'data-testid': 'smoke-blocked' },
          icon('info'),
          ` ${v.blocked}`,
        ),
      );
    }
    this.controls.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private renderSummary(): void {
    const v = this.view;
    const parts: (HTMLElement | null)[] = [];
    if (v.error && !v.running) {
      parts.push(
        h(
          'section',
          { className: 'smoke-error', role: 'alert', 'data-testid': 'smoke-error' },
          h(
            'p',
            null,
            icon('error', 'error-icon'),
            ` ${l10n.t('The smoke test could not run:')} `,
            h('code', { className: 'error-code', 'data-testid': 'smoke-error-code' }, v.error.code),
          ),
          h('p', { className: 'error-message' }, v.error.message),
          h(
            'p',
            { className: 'muted' },
            l10n.t('The whole output of the run is in the LoRA Lens log.'),
          ),
        ),
      );
    }
    const report = v.running ? undefined : v.last?.report;
    if (report && v.last) parts.push(...this.reportParts(report, v.last.at, v.last.base));
    else if (!v.running && !v.error) parts.push(this.emptyState());
    this.summary.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private emptyState(): HTMLElement {
    return h(
      'section',
      { className: 'smoke-empty muted', 'data-testid': 'smoke-empty' },
      h('h2', null, icon('beaker'), ` ${l10n.t('GPU smoke test')}`),
      h(
        'p',
        null,
        l10n.t(
          'Loads the mapped adapter into onnxruntime and runs every module on a small random batch: shapes must fit, outputs must be finite, the result must agree with a float64 reference, and the adapter must change the base output by a sane amount. When the base is an ONNX model, the adapter is also merged into it and the whole model is run.',
        ),
      ),
      h(
        'p',
        null,
        l10n.t(
          'It tries the execution providers of {0} in order (CUDA, WebGPU, CPU) and says which one ran. onnxruntime runs in a separate process; nothing is written.',
          'loraLens.executionProviders',
        ),
      ),
    );
  }

  private reportParts(report: SmokeReportDto, at: number, base: string): HTMLElement[] {
    const level = verdictLevel(report);
    const out: HTMLElement[] = [
      h(
        'div',
        {
          className: `smoke-verdict ${level}`,
          role: 'status',
          'data-testid': 'smoke-verdict',
          'data-level': level,
          'data-ok': String(report.ok),
        },
        icon(LEVEL_ICON[level], 'verdict-icon'),
        h('strong', null, report.verdict),
        h(
          'span',
          { className: 'muted', title: base },
          ` · ${new Date(at).toLocaleString()} · ${l10n.t('base {0}', tail(base, 48))}`,
        ),
      ),
    ];
    const t = report.timings;
    out.push(
      h(
        'table',
        { className: 'facts smoke-facts' },
        h(
          'tr',
          null,
          h('th', null, l10n.t('Execution provider')),
          h(
            'td',
            null,
            h(
              'strong',
              { 'data-testid': 'smoke-ep', 'data-ep': report.ep ?? '' },
              report.ep ?? l10n.t('none'),
            ),
            h(
              'ul',
              { className: 'ep-tried', 'data-testid': 'smoke-ep-tried' },
              ...report.epTried.map((a) =>
                h(
                  'li',
                  { 'data-ep': a.ep, 'data-ok': String(a.error === null) },
                  icon(a.error === null ? 'pass' : 'circle-slash'),
                  ` ${a.ep}: `,
                  h('span', { className: 'muted' }, a.error ?? l10n.t('used')),
                ),
              ),
            ),
          ),
        ),
        report.placement
          ? h(
              'tr',
              null,
              h('th', null, l10n.t('Placement')),
              h('td', { 'data-testid': 'smoke-placement' }, report.placement),
            )
          : null,
        h(
          'tr',
          null,
          h('th', null, l10n.t('Timings')),
          h(
            'td',
            { 'data-testid': 'smoke-timings', 'data-total-ms': Math.round(t.totalMs) },
            l10n.t(
              'total {0} · session {1} · modules {2}',
              formatMs(t.totalMs),
              formatMs(t.sessionMs),
              formatMs(t.modulesMs),
            ) + (report.model ? ` · ${l10n.t('model {0}', formatMs(t.modelMs))}` : ''),
          ),
        ),
        report.switching
          ? h(
              'tr',
              null,
              h('th', null, l10n.t('Adapter switch')),
              h(
                'td',
                { 'data-testid': 'smoke-switching' },
                l10n.t(
                  '{0} with new A/B feeds on a cached session vs {1} for a rebuilt one ({2} adapters)',
                  formatMs(report.switching.switchMs),
                  formatMs(report.switching.rebuildMs),
                  report.switching.adapters,
                ),
              ),
            )
          : null,
      ),
    );
    for (const w of report.warnings)
      out.push(h('p', { className: 'warning' }, icon('warning', 'warning-icon'), w));
    if (report.model) out.push(this.modelSection(report.model));
    return out;
  }

  private modelSection(model: NonNullable<SmokeReportDto['model']>): HTMLElement {
    const inputs =
      model.inputs === 'reference' ? l10n.t('reference inputs') : l10n.t('generated inputs');
    const ms = formatMs(model.ms);
    return h(
      'section',
      {
        className: 'smoke-model',
        'data-testid': 'smoke-model',
        'data-ok': String(model.ok),
      },
      h(
        'h3',
        null,
        icon(model.ok ? 'pass' : 'error', model.ok ? 'ok-icon' : 'error-icon'),
        ` ${
          model.patched === 1
            ? l10n.t('Whole model: {0} initializer patched, {1}, {2}', model.patched, inputs, ms)
            : l10n.t('Whole model: {0} initializers patched, {1}, {2}', model.patched, inputs, ms)
        }`,
      ),
      ...model.problems.map((p) => h('p', { className: 'warning' }, icon('warning'), p)),
      h(
        'table',
        { className: 'dtypes' },
        h(
          'tr',
          null,
          h('th', null, l10n.t('Output')),
          h('th', null, l10n.t('Shape')),
          h('th', null, l10n.t('Finite')),
          h('th', { className: 'num' }, l10n.t('Relative change')),
          h('th', { className: 'num' }, l10n.t('Error vs reference')),
          h('th', null, ''),
        ),
        ...model.outputs.map((o) =>
          h(
            'tr',
            { 'data-testid': 'smoke-model-output', 'data-ok': String(o.ok) },
            h('td', null, h('code', null, o.name)),
            h('td', null, formatShape(o.shape)),
            h('td', { className: o.finite ? '' : 'bad' }, o.finite ? l10n.t('yes') : l10n.t('no')),
            h('td', { className: 'num' }, formatRatio(o.relativeChange)),
            h('td', { className: 'num' }, formatError(o.maxAbsErrVsReference)),
            h('td', null, icon(o.ok ? 'pass' : 'error', o.ok ? 'ok-icon' : 'error-icon')),
          ),
        ),
      ),
    );
  }

  private renderTable(): void {
    this.table.hidden = this.rows.length === 0;
    const c = countByStatus(this.rows);
    this.counts.dataset.rows = String(this.rows.length);
    this.counts.dataset.pass = String(c.pass);
    this.counts.dataset.warn = String(c.warn);
    this.counts.dataset.fail = String(c.fail);
    const n = this.rows.length;
    this.counts.textContent = [
      this.view.running && this.liveTotal
        ? l10n.t('{0}/{1} modules', n, this.liveTotal)
        : l10n.t('{0} modules', n),
      l10n.t('{0} pass', c.pass),
      l10n.t('{0} warn', c.warn),
      l10n.t('{0} fail', c.fail),
      c.skipped ? l10n.t('{0} skipped', c.skipped) : null,
      l10n.t('Enter or click reveals a module in the Tensors tab'),
    ]
      .filter((part) => part !== null)
      .join(' · ');
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    // What every row's paths share goes to the headers (recomputed as rows stream in).
    this.shared = {
      module: sharedParts(this.rows.map((r) => r.module)),
      target: sharedParts(this.rows.flatMap((r) => (r.target ? [r.target] : []))),
    };
    this.moduleHead.replaceChildren(l10n.t('Module'), sharedNote(this.shared.module) ?? '');
    this.targetHead.replaceChildren(l10n.t('Target'), sharedNote(this.shared.target) ?? '');
    this.queueRender();
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderRows();
    });
  }

  private renderRows(): void {
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const count = Math.ceil(this.viewport.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(this.rows.length, first + count);
    const out: HTMLElement[] = [];
    for (let i = first; i < last; i++) out.push(this.rowElement(this.rows[i] as SmokeModuleDto, i));
    this.rowsLayer.replaceChildren(...out);
  }

  private rowElement(r: SmokeModuleDto, index: number): HTMLElement {
    const problem = firstProblem(r);
    return h(
      'div',
      {
        className: `row srow status-${r.status}${index === this.selected ? ' selected' : ''}`,
        style: `top:${index * ROW_HEIGHT}px`,
        role: 'row',
        'aria-selected': String(index === this.selected),
        'data-testid': 'smoke-row',
        'data-index': index,
        'data-module': r.module,
        'data-target': r.target ?? '',
        'data-status': r.status,
        title:
          `${r.module}\n→ ${r.target ?? l10n.t('no target')}${r.variant ? ` (${r.variant})` : ''}\n` +
          r.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}: ${c.message}`).join('\n'),
      },
      h('span', { className: 'cell module' }, pathLabel(r.module, this.shared.module)),
      h(
        'span',
        { className: 'cell muted' },
        r.target ? pathLabel(r.target, this.shared.target) : '—',
      ),
      shapeCell(r.checks),
      h(
        'span',
        { className: `cell status ${r.status}` },
        icon(STATUS_ICON[r.status]),
        ` ${statusLabel(r.status)}`,
      ),
      h('span', { className: 'cell num' }, formatError(r.maxAbsErr)),
      h('span', { className: 'cell num' }, formatRatio(r.deltaRatio)),
      h('span', { className: 'cell num' }, r.ms.toFixed(1)),
      h('span', { className: 'cell muted', title: problem }, problem),
    );
  }

  private select(index: number): void {
    this.selected = Math.max(0, Math.min(index, this.rows.length - 1));
    scrollRowIntoView(this.viewport, this.selected, ROW_HEIGHT);
    this.queueRender();
  }

  private onClick(e: MouseEvent): void {
    const el = (e.target as HTMLElement).closest<HTMLElement>('[data-testid=smoke-row]');
    if (!el) return;
    const index = Number(el.dataset.index);
    this.select(index);
    const row = this.rows[index];
    if (row) this.revealModule(row.module);
  }

  private onKey(e: KeyboardEvent): void {
    const keys: Record<string, () => void> = {
      ...movementKeys(this.viewport, ROW_HEIGHT, this.selected, this.rows.length, (i) =>
        this.select(i),
      ),
      Enter: () => {
        const row = this.rows[this.selected];
        if (row) this.revealModule(row.module);
      },
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }
}

/** The shape check on its own: the first thing a user asks of a module that will not load. */
function shapeCell(checks: readonly { name: string; ok: boolean; message: string }[]): HTMLElement {
  const shape = checks.find((c) => c.name === 'shape');
  if (!shape) return h('span', { className: 'cell muted', 'data-shape': 'unchecked' }, '—');
  return h(
    'span',
    {
      className: `cell status ${shape.ok ? 'pass' : 'fail'}`,
      title: shape.message,
      'data-shape': shape.ok ? 'ok' : 'mismatch',
    },
    icon(shape.ok ? 'check' : 'error'),
    ` ${shape.ok ? l10n.t('fit') : l10n.t('mismatch')}`,
  );
}
