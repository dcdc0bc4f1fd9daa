import * as l10n from '@vscode/l10n';
import {
  NO_MAPPING_TABLE,
  type MappingRowDto,
  type MappingTableDto,
  type MappingViewDto,
} from '../../src/shared/protocol.js';
import type { Rpc } from '../rpc.js';
import { h, icon } from './dom.js';
import { PagedRows, visibleRange } from './pagedRows.js';
import { TensorList } from './tensorList.js';
import '../l10n.js';
import { movementKeys, scrollRowIntoView } from './listMoves.js';
import { pathLabel, sharedNote } from './pathLabels.js';

/** Two lines a row (path, then kind · reason): fixed, so a row's place follows from its index. */
const ROW_HEIGHT = 42;
const PAGE = 100;
const OVERSCAN = 8;
/** Pages kept; older ones are dropped (and asked for again when scrolled back to). */
const MAX_PAGES = 200;

function levelText(level: MappingRowDto['level']): string {
  if (level === 'high') return l10n.t('high');
  return level === 'medium' ? l10n.t('medium') : l10n.t('low');
}

/** The shape check's name stays as the matcher says it (exact, transposed, slice…): it is a term. */
function shapeText(r: MappingRowDto): string {
  const parts: string[] = [r.shapeCheck];
  if (r.transposed) parts.push(l10n.t('stored transposed'));
  if (r.slice)
    parts.push(
      r.slice.axis === 1
        ? l10n.t('rows {0}–{1} (axis 1)', r.slice.start, r.slice.end)
        : l10n.t('rows {0}–{1}', r.slice.start, r.slice.end),
    );
  return parts.join(', ');
}

/**
 * The Mapping tab: the chosen base, then one row per adapter module with its target, confidence, reason
 * and shape check, and the actions that decide it (accept, re-target, reject). The rows, their order
 * (unmatched first, then the least sure), the filter and the selection live in the host; the table is
 * windowed: only the rows in view exist in the DOM, fetched in pages of 100. Keyboard: ↑/↓ (PgUp,
 * PgDn, Home, End) to move, Enter to accept, R to re-target, Delete to reject.
 */
export class MappingView {
  readonly element: HTMLElement;
  private view: MappingViewDto | undefined;
  private table: MappingTableDto = NO_MAPPING_TABLE;
  private readonly pages = new PagedRows<MappingRowDto>(
    PAGE,
    async (start, count) => {
      const res = await this.rpc.request('mappingRows', { start, count });
      return { version: res.state.version, rows: res.rows };
    },
    () => this.table.version,
    (ok) => {
      if (!ok) this.holdPaint = false;
      this.queueRender();
    },
    MAX_PAGES,
  );
  /** The row elements on screen, by index: a scroll builds only the rows that come into view. */
  private shownRows = new Map<number, { row: MappingRowDto; selected: boolean; el: HTMLElement }>();
  private selected = 0;
  private filterTimer: number | undefined;
  private renderQueued = false;
  /** After a change (an accept, a remap), the old rows stay painted until the new ones arrive. */
  private holdPaint = false;
  private readonly body = h('div', { className: 'mapping-body' });
  private readonly baseBox = h('div', { className: 'mapping-base', 'data-testid': 'base-tree' });
  private baseList: TensorList | undefined;
  private readonly filter: HTMLInputElement;
  private readonly header: HTMLElement;
  private readonly spacer = h('div', { className: 'spacer' });
  private readonly rowsLayer = h('div', { className: 'rows' });
  private readonly empty = h('div', { className: 'empty muted', hidden: true });
  private readonly viewport: HTMLElement;
  private readonly tableBox: HTMLElement;

  constructor(
    private readonly rpc: Rpc,
    private readonly onBaseChange: (view: MappingViewDto) => void,
  ) {
    this.filter = h('input', {
      className: 'mapping-filter',
      placeholder: l10n.t('Filter modules or targets'),
      'aria-label': l10n.t('Filter mapping'),
      'data-testid': 'mapping-filter',
    }) as HTMLInputElement;
    this.filter.addEventListener('input', () => this.onFilterInput());
    this.filter.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.viewport.focus();
      } else if (e.key === 'Escape' && this.filter.value) {
        this.filter.value = '';
        this.onFilterInput(0);
      }
    });
    this.header = h('div', { className: 'mrow mhead', role: 'row' });
    this.viewport = h(
      'div',
      {
        className: 'viewport mapping-viewport',
        tabindex: 0,
        role: 'grid',
        'aria-label': l10n.t('Module to base parameter mapping'),
        'data-testid': 'mapping-table',
      },
      this.spacer,
      this.rowsLayer,
      this.empty,
    );
    this.viewport.addEventListener('scroll', () => this.queueRender());
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.tableBox = h('div', { className: 'mapping-table' }, this.header, this.viewport);
    new ResizeObserver(() => this.queueRender()).observe(this.viewport);
    this.element = h(
      'div',
      { className: 'mapping', 'data-testid': 'mapping' },
      h('div', { className: 'mapping-split' }, this.body, this.baseBox),
    );
  }

  /** The host's base picker, then the new mapping. */
  choose(): Promise<void> {
    return this.apply(this.rpc.request('selectBase', {}));
  }

  async refresh(): Promise<void> {
    await this.apply(this.rpc.request('mapping', {}));
  }

  private async apply(next: Promise<MappingViewDto>): Promise<void> {
    try {
      this.view = await next;
      this.onBaseChange(this.view);
      this.setTable(this.view.table);
      this.render();
    } catch (e) {
      this.body.replaceChildren(
        h('p', { className: 'warning' }, icon('error'), e instanceof Error ? e.message : String(e)),
      );
    }
  }

  /** A new table state from the host: a new version drops the cached pages. */
  private setTable(state: MappingTableDto, resetScroll = false): void {
    if (state.version !== this.table.version) {
      this.pages.clear();
      this.shownRows.clear();
      this.holdPaint = this.rowsLayer.childElementCount > 0;
    }
    this.table = state;
    this.selected = Math.min(state.selected, Math.max(0, state.rowCount - 1));
    if (resetScroll) this.viewport.scrollTop = 0;
    if (this.filter.value !== state.query && document.activeElement !== this.filter)
      this.filter.value = state.query;
    this.updateTableChrome();
    this.queueRender();
  }

  private onFilterInput(delay = 90): void {
    window.clearTimeout(this.filterTimer);
    this.filterTimer = window.setTimeout(() => {
      void this.rpc
        .request('mappingQuery', { query: this.filter.value })
        .then((state) => this.setTable(state, true));
    }, delay);
  }

  private render(): void {
    const v = this.view;
    if (!v) return;
    const choose = h(
      'vscode-button',
      { 'data-testid': 'select-base' },
      v.base ? l10n.t('Change…') : l10n.t('Select…'),
    );
    choose.addEventListener('click', () => void this.apply(this.rpc.request('selectBase', {})));
    const baseLine = h(
      'div',
      { className: 'base-line' },
      icon('database'),
      h('span', null, `${l10n.t('Base:')} `),
      v.base
        ? h('strong', { 'data-testid': 'base-label', title: v.base.ref }, `${v.base.label}`)
        : h('span', { className: 'muted', 'data-testid': 'base-label' }, l10n.t('none')),
      v.base
        ? h(
            'span',
            { className: 'muted' },
            ` ${l10n.t('{0} · {1} tensors', v.base.format, v.base.tensors.toLocaleString('en-US'))}`,
          )
        : null,
      choose,
    );
    const parts: (HTMLElement | null)[] = [baseLine];
    if (v.baseError) {
      parts.push(
        h(
          'p',
          { className: 'warning', 'data-testid': 'base-error' },
          icon('error'),
          h('code', null, v.baseError.code),
          ` ${v.baseError.message}`,
        ),
      );
    }
    if (!v.base) {
      parts.push(
        h(
          'p',
          { className: 'muted empty-mapping' },
          l10n.t(
            'Choose the base model this adapter is for: a checkpoint file, a model folder, a shard index or a Hugging Face repo.',
          ),
          ' ',
          l10n.t(
            'LoRA Lens reads only its headers, then suggests the base parameter each module patches.',
          ),
        ),
      );
      this.body.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
      this.baseBox.replaceChildren();
      this.baseList = undefined;
      return;
    }
    const c = v.counts;
    parts.push(
      h(
        'div',
        {
          className: 'mapping-counts',
          'data-testid': 'mapping-counts',
          'data-mapped': c.mapped,
          'data-unmatched': c.unmatched,
          'data-high': c.high,
          'data-user': c.user,
        },
        h('strong', null, l10n.t('{0}/{1} mapped', c.mapped, v.table.total)),
        c.unmatched
          ? h('span', { className: 'bad' }, ` · ${l10n.t('{0} unmatched', c.unmatched)}`)
          : null,
        ` · ${l10n.t('high {0} · medium {1} · low {2}', c.high, c.medium, c.low)}`,
        c.user ? ` · ${l10n.t('{0} decided by you', c.user)}` : '',
        v.conflicts.length
          ? h('span', { className: 'bad' }, ` · ${l10n.t('{0} conflicts', v.conflicts.length)}`)
          : null,
      ),
    );
    // The filter and the table stay the same elements: focus, scroll and a half-typed filter survive.
    parts.push(this.filter, this.tableBox);
    if (v.conflicts.length) {
      parts.push(
        h('h3', null, l10n.t('Conflicts')),
        h(
          'ul',
          { className: 'conflicts', 'data-testid': 'conflicts' },
          ...v.conflicts.map((x) =>
            h(
              'li',
              null,
              h('code', null, x.module),
              ' → ',
              x.target ? h('code', null, x.target) : '—',
              `: ${x.reason}`,
            ),
          ),
        ),
      );
    }
    if (v.unusedBaseCount) {
      parts.push(
        h(
          'h3',
          null,
          l10n.t(
            'Base parameters nothing patches ({0}, among the usual LoRA targets)',
            v.unusedBaseCount.toLocaleString('en-US'),
          ),
        ),
        h(
          'div',
          { className: 'unused', 'data-testid': 'unused-base' },
          ...v.unusedBase.map((n) => h('code', { className: 'chip' }, n)),
        ),
      );
    }
    this.body.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
    void this.mountBaseTree();
  }

  /** The base model's tree beside the table: mapped parameters highlighted, unpatched targets marked. */
  private async mountBaseTree(): Promise<void> {
    const { state } = await this.rpc.request('rows', { start: 0, count: 0, tree: 'base' });
    this.baseList = new TensorList(this.rpc, state, 0, false, 'base');
    this.baseBox.replaceChildren(
      h(
        'div',
        { className: 'figure-label' },
        l10n.t('Base model tensors (mapped targets highlighted)'),
      ),
      this.baseList.element,
    );
  }

  /** The header (what the shown paths share), the spacer's height, the empty note. */
  private updateTableChrome(): void {
    const t = this.table;
    this.header.replaceChildren(
      h('span', null, l10n.t('Module'), sharedNote(t.shared.module)),
      h('span', null, l10n.t('Target in the base'), sharedNote(t.shared.target)),
      h('span', null, l10n.t('Confidence')),
      h('span', null, l10n.t('Shape check')),
      h('span', null, ''),
    );
    this.viewport.dataset.rows = String(t.rowCount);
    this.viewport.dataset.total = String(t.total);
    this.spacer.style.height = `${t.rowCount * ROW_HEIGHT}px`;
    // As tall as its rows, up to what the CSS allows: a small adapter gets no empty box.
    this.viewport.style.height = `${Math.max(2, t.rowCount) * ROW_HEIGHT + 2}px`;
    this.empty.hidden = t.rowCount > 0;
    this.empty.textContent = t.query
      ? l10n.t('No module or target matches “{0}”.', t.query)
      : l10n.t('This adapter has no modules.');
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
    const [first, last] = visibleRange(this.viewport, ROW_HEIGHT, OVERSCAN, this.table.rowCount);
    this.pages.ensure(first, last);
    if (this.holdPaint) {
      let loaded = true;
      for (let i = first; i < last && loaded; i++) loaded = this.rowAt(i) !== undefined;
      // No flash of placeholders: the page is on its way, and its arrival paints.
      if (!loaded && this.pages.pending) return;
      this.holdPaint = false;
    }
    const out: HTMLElement[] = [];
    const shown = new Map<number, { row: MappingRowDto; selected: boolean; el: HTMLElement }>();
    for (let i = first; i < last; i++) {
      const row = this.rowAt(i);
      if (!row) {
        out.push(this.placeholder(i));
        continue;
      }
      const selected = i === this.selected;
      const had = this.shownRows.get(i);
      const el =
        had && had.row === row && had.selected === selected ? had.el : this.rowElement(row, i);
      shown.set(i, { row, selected, el });
      out.push(el);
    }
    this.shownRows = shown;
    // Only what changed moves: rows still in view keep their elements (and a click in flight).
    const current = this.rowsLayer.children;
    if (current.length !== out.length || out.some((el, i) => current[i] !== el))
      this.rowsLayer.replaceChildren(...out);
  }

  private rowAt(index: number): MappingRowDto | undefined {
    return this.pages.rowAt(index);
  }

  private placeholder(index: number): HTMLElement {
    return h(
      'div',
      { className: 'mrow placeholder', style: `top:${index * ROW_HEIGHT}px` },
      h('span', { className: 'mcell muted' }, '…'),
    );
  }

  private rowElement(r: MappingRowDto, index: number): HTMLElement {
    const shared = this.table.shared;
    const act = (
      name: string,
      title: string,
      testid: string,
      run: () => Promise<MappingViewDto>,
    ) => {
      const b = h(
        'button',
        { className: 'icon-button', title, 'aria-label': title, 'data-testid': testid },
        icon(name),
      );
      b.addEventListener('click', (e) => {
        e.stopPropagation();
        void this.apply(run());
      });
      return b;
    };
    const row = h(
      'div',
      {
        className: `mrow ${r.target === null ? 'unmatched' : `level-${r.level}`}${index === this.selected ? ' selected' : ''}`,
        style: `top:${index * ROW_HEIGHT}px`,
        role: 'row',
        'aria-rowindex': index + 1,
        'aria-selected': String(index === this.selected),
        'data-testid': 'mapping-row',
        'data-index': index,
        'data-module': r.module,
        'data-target': r.target ?? '',
        'data-level': r.target === null ? 'none' : r.level,
        'data-source': r.source,
      },
      h(
        'span',
        { className: 'mcell two-line', title: `${r.module}\n${r.reason}` },
        pathLabel(r.moduleTarget, shared.module, 'code'),
        h(
          'span',
          { className: 'reason muted' },
          `${r.kind}${r.rank !== null ? ` r${r.rank}` : ''} · ${r.reason}`,
        ),
      ),
      h(
        'span',
        { className: 'mcell', title: r.target ?? l10n.t('no target') },
        r.target
          ? pathLabel(r.target, shared.target, 'code')
          : h(
              'span',
              { className: 'bad' },
              `— ${r.source === 'user' ? l10n.t('rejected') : l10n.t('unmatched')} —`,
            ),
      ),
      h(
        'span',
        { className: 'mcell' },
        r.target
          ? h(
              'span',
              { className: `level-badge ${r.level}` },
              `${levelText(r.level)} ${Math.round(r.confidence * 100)}%`,
            )
          : '',
        r.source === 'user'
          ? h('span', { className: 'role-tag', title: l10n.t('your decision') }, l10n.t('you'))
          : null,
      ),
      h(
        'span',
        { className: `mcell ${r.shapeCheck === 'mismatch' ? 'bad' : ''}`, title: shapeText(r) },
        shapeText(r),
      ),
      h(
        'span',
        { className: 'mcell actions' },
        r.target && r.source !== 'user'
          ? act('check', l10n.t('Accept (Enter)'), 'accept', () =>
              this.rpc.request('setOverride', { module: r.module, target: r.target }),
            )
          : null,
        act('replace', l10n.t('Re-target… (R)'), 'retarget', () =>
          this.rpc.request('retarget', { module: r.module }),
        ),
        r.target
          ? act('circle-slash', l10n.t('Reject: map to nothing (Delete)'), 'reject', () =>
              this.rpc.request('setOverride', { module: r.module, target: null }),
            )
          : null,
        r.source === 'user'
          ? act('discard', l10n.t("Back to the matcher's suggestion"), 'reset', () =>
              this.rpc.request('clearOverride', { module: r.module }),
            )
          : null,
      ),
    );
    row.addEventListener('click', () => {
      this.select(index);
      if (r.target) void this.baseList?.revealPath(r.target);
    });
    return row;
  }

  /** Moves the selection (kept in the host too) and keeps it in view. */
  private select(index: number): void {
    const last = Math.max(0, this.table.rowCount - 1);
    this.selected = Math.max(0, Math.min(index, last));
    scrollRowIntoView(this.viewport, this.selected, ROW_HEIGHT);
    this.queueRender();
    void this.rpc.request('mappingSelect', { index: this.selected });
  }

  private onKey(e: KeyboardEvent): void {
    const r = this.rowAt(this.selected);
    const keys: Record<string, () => void> = movementKeys(
      this.viewport,
      ROW_HEIGHT,
      this.selected,
      this.table.rowCount,
      (i) => this.select(i),
    );
    const action = keys[e.key];
    if (action) action();
    else if (e.key === 'Enter' && r?.target)
      void this.apply(this.rpc.request('setOverride', { module: r.module, target: r.target }));
    else if ((e.key === 'r' || e.key === 'R') && r)
      void this.apply(this.rpc.request('retarget', { module: r.module }));
    else if ((e.key === 'Delete' || e.key === 'Backspace') && r)
      void this.apply(this.rpc.request('setOverride', { module: r.module, target: null }));
    else return;
    e.preventDefault();
  }
}
