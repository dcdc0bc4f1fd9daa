import * as l10n from '@vscode/l10n';
import { formatBytes, formatCount, formatInt, formatShape } from '../../src/shared/format.js';
import type { Grouping, TreeRowDto, TreeStateDto } from '../../src/shared/protocol.js';
import { saveViewState, type Rpc } from '../rpc.js';
import { h, highlighted, icon } from './dom.js';
import { PagedRows, visibleRange } from './pagedRows.js';
import '../l10n.js';
import { movementKeys, scrollRowIntoView } from './listMoves.js';

const ROW_HEIGHT = 22;
const PAGE = 100;
const OVERSCAN = 10;
const INDENT = 14;

/** The state shown until the host has built a large tree (never a host version: those start at 1). */
const BUILDING: TreeStateDto = {
  version: -1,
  rowCount: 0,
  query: '',
  grouping: 'tree',
  shown: { tensors: 0, params: 0, bytes: 0 },
  total: { tensors: 0, params: 0, bytes: 0 },
};

/**
 * The windowed tensor tree: only the rows in view exist in the DOM, and rows arrive from the host in
 * pages of 100. Any change of filter, grouping or expansion bumps the state version and drops the cache.
 */
export class TensorList {
  readonly element: HTMLElement;
  private state: TreeStateDto;
  private readonly pages = new PagedRows<TreeRowDto>(
    PAGE,
    async (start, count) => {
      const res = await this.rpc.request('rows', { start, count, tree: this.which });
      return { version: res.state.version, rows: res.rows };
    },
    () => this.state.version,
    (ok) => {
      if (ok) this.queueRender();
    },
  );
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsLayer: HTMLElement;
  private readonly stats: HTMLElement;
  private readonly filter: HTMLElement & { value: string };
  private readonly empty: HTMLElement;
  private readonly groupButtons: Partial<Record<Grouping, HTMLElement>>;
  private selected = 0;
  private filterTimer: number | undefined;
  private renderQueued = false;

  constructor(
    private readonly rpc: Rpc,
    /** Undefined for a large file: the list asks for its state when first shown (activate). */
    initial: TreeStateDto | undefined,
    scrollTop: number,
    hasModules = false,
    /** Which tree this list shows: the opened file's, or (Mapping tab) its base model's. */
    private readonly which: 'file' | 'base' = 'file',
  ) {
    this.state = initial ?? BUILDING;
    this.filter = h('vscode-textfield', {
      'data-testid': 'filter',
      placeholder: l10n.t('Filter tensors, e.g. "layers 3 q_proj" (fuzzy)'),
      'aria-label': l10n.t('Filter tensors'),
      className: 'filter',
    }) as HTMLElement & { value: string };
    this.filter.append(
      h('vscode-icon', { slot: 'content-before', name: 'filter', title: l10n.t('filter') }),
    );
    this.filter.value = this.state.query;
    this.filter.addEventListener('input', () => this.onFilterInput());
    this.filter.addEventListener('keydown', (e: KeyboardEvent) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.viewport.focus();
      } else if (e.key === 'Escape' && this.filter.value) {
        this.filter.value = '';
        this.onFilterInput(0);
      }
    });
    const toolButton = (
      iconName: string,
      label: string,
      onClick: () => void,
      testid: string,
      toggleable = false,
    ) => {
      const b = h('vscode-toolbar-button', {
        icon: iconName,
        label,
        title: label,
        'data-testid': testid,
        toggleable,
      });
      b.addEventListener('click', onClick);
      return b;
    };
    this.groupButtons = {
      tree: toolButton(
        'list-tree',
        l10n.t('Group by module path'),
        () => this.setGrouping('tree'),
        'group-tree',
        true,
      ),
      flat: toolButton(
        'list-flat',
        l10n.t('List raw keys'),
        () => this.setGrouping('flat'),
        'group-flat',
        true,
      ),
      ...(hasModules
        ? {
            module: toolButton(
              'symbol-module',
              l10n.t('Group by LoRA module (A, B and alpha together)'),
              () => this.setGrouping('module'),
              'group-module',
              true,
            ),
          }
        : {}),
    };
    this.stats = h('div', {
      className: 'filter-stats',
      'data-testid': 'filter-stats',
      'aria-live': 'polite',
    });
    this.spacer = h('div', { className: 'spacer' });
    this.rowsLayer = h('div', { className: 'rows' });
    this.empty = h('div', { className: 'empty muted', hidden: true });
    this.viewport = h(
      'div',
      {
        className: 'viewport',
        tabindex: 0,
        role: 'tree',
        'aria-label': l10n.t('Tensors'),
        'data-testid': 'tree',
      },
      this.spacer,
      this.rowsLayer,
      this.empty,
    );
    this.viewport.addEventListener('scroll', () => {
      saveViewState({ scrollTop: this.viewport.scrollTop });
      this.queueRender();
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.viewport.addEventListener('click', (e) => this.onClick(e));
    const header = h(
      'div',
      { className: 'row header-row', 'aria-hidden': 'true' },
      h('span', { className: 'cell name' }, l10n.t('Name')),
      h('span', { className: 'cell dtype' }, l10n.t('DType')),
      h('span', { className: 'cell shape' }, l10n.t('Shape')),
      h('span', { className: 'cell num' }, l10n.t('Params')),
      h('span', { className: 'cell num' }, l10n.t('Bytes')),
    );
    this.element = h(
      'div',
      { className: 'tensor-list' },
      h(
        'div',
        { className: 'toolbar' },
        this.filter,
        h(
          'div',
          { className: 'tool-group' },
          this.groupButtons.tree,
          this.groupButtons.flat,
          this.groupButtons.module,
          toolButton(
            'expand-all',
            l10n.t('Expand all'),
            () => void this.apply(this.rpc.request('expandAll', { tree: this.which })),
            'expand-all',
          ),
          toolButton(
            'collapse-all',
            l10n.t('Collapse all'),
            () => void this.apply(this.rpc.request('collapseAll', { tree: this.which })),
            'collapse-all',
          ),
        ),
      ),
      this.stats,
      header,
      this.viewport,
    );
    new ResizeObserver(() => this.queueRender()).observe(this.viewport);
    this.updateChrome();
    this.scrolled = () =>
      requestAnimationFrame(() => {
        this.viewport.scrollTop = scrollTop;
        this.queueRender();
      });
    if (initial) this.scrolled();
  }

  private readonly scrolled: () => void;
  private loading: Promise<void> | undefined;

  /**
   * The list is on screen (its tab was shown). A large file's tree is only built in the host when
   * this first happens: ten editors left on their Overview build none.
   */
  activate(): void {
    if (this.state === BUILDING) this.loading ??= this.loadState().then(this.scrolled);
  }

  /** The first state of a tree the host builds after the summary is painted, on first show. */
  private async loadState(): Promise<void> {
    try {
      const { state } = await this.rpc.request('rows', { start: 0, count: 0, tree: this.which });
      // A filter typed meanwhile has already brought a newer state.
      if (this.state === BUILDING) await this.apply(Promise.resolve(state));
    } catch (e) {
      this.loading = undefined; // showing the tab again retries
      this.stats.textContent = l10n.t(
        'The tensor list could not be built: {0}',
        e instanceof Error ? e.message : String(e),
      );
    }
  }

  /** Opens the groups above a path, scrolls to it and selects it (the Mapping tab's linked view). */
  async revealPath(path: string): Promise<void> {
    const { state, row } = await this.rpc.request('reveal', { path, tree: this.which });
    await this.apply(Promise.resolve(state));
    if (row >= 0) this.select(row);
  }

  focusFilter(): void {
    this.filter.focus();
  }

  private onFilterInput(delay = 90): void {
    window.clearTimeout(this.filterTimer);
    this.filterTimer = window.setTimeout(() => {
      void this.apply(
        this.rpc.request('setQuery', { query: this.filter.value, rows: PAGE, tree: this.which }),
        true,
      );
    }, delay);
  }

  private setGrouping(grouping: Grouping): void {
    void this.apply(this.rpc.request('setGrouping', { grouping, tree: this.which }), true);
  }

  /** Takes a new tree state from the host and redraws. */
  private async apply(
    next: Promise<TreeStateDto & { readonly firstRows?: readonly TreeRowDto[] }>,
    resetScroll = false,
  ): Promise<void> {
    const { firstRows, ...state } = await next;
    if (state.version === this.state.version) return;
    this.state = state;
    this.pages.clear();
    if (firstRows) this.pages.seed(0, firstRows);
    if (resetScroll) {
      this.viewport.scrollTop = 0;
      this.selected = 0;
    }
    this.selected = Math.min(this.selected, Math.max(0, state.rowCount - 1));
    this.updateChrome();
    this.queueRender();
  }

  private updateChrome(): void {
    const { shown, total, rowCount, query, grouping } = this.state;
    this.stats.dataset.tensors = String(shown.tensors);
    this.stats.dataset.params = String(shown.params);
    this.stats.dataset.bytes = String(shown.bytes);
    this.stats.dataset.rows = String(rowCount);
    this.stats.textContent =
      this.state === BUILDING
        ? l10n.t('Listing the tensors…')
        : query
          ? l10n.t(
              '{0} of {1} tensors match · {2} of {3} params · {4} of {5}',
              formatInt(shown.tensors),
              formatInt(total.tensors),
              formatCount(shown.params),
              formatCount(total.params),
              formatBytes(shown.bytes),
              formatBytes(total.bytes),
            )
          : l10n.t(
              '{0} tensors · {1} params · {2}',
              formatInt(total.tensors),
              formatInt(total.params),
              formatBytes(total.bytes),
            );
    for (const g of ['tree', 'flat', 'module'] as const) {
      const button = this.groupButtons[g] as (HTMLElement & { checked: boolean }) | undefined;
      if (!button) continue;
      button.checked = g === grouping;
      button.setAttribute('aria-pressed', String(g === grouping));
    }
    this.spacer.style.height = `${rowCount * ROW_HEIGHT}px`;
    this.empty.hidden = rowCount > 0 || this.state === BUILDING;
    this.empty.textContent = query
      ? l10n.t('No tensor matches “{0}”.', query)
      : l10n.t('This checkpoint has no tensors.');
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  /**
   * What is drawn, by row index. A scroll keeps the elements of rows still in view (same row data,
   * same selection) and only makes the ones that came into view, in DOM order: a wheel step redraws
   * a few rows, not all of them.
   */
  private drawn = new Map<
    number,
    { row: TreeRowDto | undefined; selected: boolean; el: HTMLElement }
  >();

  private render(): void {
    const [first, last] = visibleRange(this.viewport, ROW_HEIGHT, OVERSCAN, this.state.rowCount);
    this.pages.ensure(first, last);
    const drawn = new Map<
      number,
      { row: TreeRowDto | undefined; selected: boolean; el: HTMLElement }
    >();
    // The rows kept from the last draw form one run [keptFrom, …): rows above it go before it.
    let anchor: HTMLElement | null = null;
    for (const [i, d] of this.drawn) {
      if (i < first || i >= last) d.el.remove();
      else if (!anchor || i < Number(anchor.dataset.at)) anchor = d.el;
    }
    const keptFrom = anchor ? Number(anchor.dataset.at) : last;
    for (let i = first; i < last; i++) {
      const row = this.pages.rowAt(i);
      const selected = i === this.selected;
      const old = this.drawn.get(i);
      let el: HTMLElement;
      if (old && old.row === row && old.selected === selected) el = old.el;
      else {
        el = row ? this.rowElement(row, i) : this.placeholder(i);
        el.dataset.at = String(i);
        if (old) old.el.replaceWith(el);
        else if (i < keptFrom && anchor) this.rowsLayer.insertBefore(el, anchor);
        else this.rowsLayer.append(el);
      }
      drawn.set(i, { row, selected, el });
    }
    this.drawn = drawn;
  }

  private placeholder(index: number): HTMLElement {
    return h(
      'div',
      { className: 'row placeholder', style: `top:${index * ROW_HEIGHT}px` },
      h('span', { className: 'cell name muted' }, '…'),
    );
  }

  private rowElement(row: TreeRowDto, index: number): HTMLElement {
    const isGroup = row.kind === 'group';
    const twisty = isGroup
      ? icon(row.expanded ? 'chevron-down' : 'chevron-right', 'twisty')
      : h('span', { className: 'twisty' });
    const kindIcon = icon(
      isGroup ? 'symbol-namespace' : 'symbol-array',
      isGroup ? 'group-icon' : 'tensor-icon',
    );
    const name = h(
      'span',
      {
        className: 'cell name',
        style: `padding-left:${4 + row.depth * INDENT}px`,
        title: [
          row.path,
          row.file ? l10n.t('in {0}', row.file) : '',
          row.note ?? '',
          row.usedBy ? l10n.t('read by {0}', row.usedBy) : '',
        ]
          .filter(Boolean)
          .join('\n'),
      },
      twisty,
      kindIcon,
      h('span', { className: 'label' }, highlighted(row.label, row.match)),
      row.role
        ? h('span', { className: 'role-tag', title: l10n.t('Not a model weight') }, row.role)
        : null,
      // A group's note (a LoRA module's kind, rank and scale): in the row and in its tooltip.
      row.note ? h('span', { className: 'muted used-by', title: row.note }, row.note) : null,
      row.usedBy
        ? h(
            'span',
            { className: 'muted used-by', title: l10n.t('read by {0}', row.usedBy) },
            `← ${row.usedBy}`,
          )
        : null,
      isGroup
        ? h(
            'span',
            { className: 'muted count' },
            row.parts !== undefined
              ? l10n.t('{0} stored parts', formatInt(row.parts))
              : row.totals.tensors === 1
                ? l10n.t('1 tensor')
                : l10n.t('{0} tensors', formatInt(row.totals.tensors)),
          )
        : null,
    );
    return h(
      'div',
      {
        className: `row ${isGroup ? 'group' : 'tensor'}${index === this.selected ? ' selected' : ''}${row.mark ? ` mark-${row.mark}` : ''}`,
        'data-mark': row.mark,
        style: `top:${index * ROW_HEIGHT}px`,
        role: 'treeitem',
        'aria-level': row.depth + 1,
        'aria-expanded': isGroup ? String(Boolean(row.expanded)) : undefined,
        'aria-selected': String(index === this.selected),
        'data-testid': 'tree-row',
        'data-kind': row.kind,
        'data-path': row.path,
        'data-index': index,
        'data-id': row.id,
      },
      name,
      h('span', { className: 'cell dtype' }, row.dtype ?? ''),
      h(
        'span',
        { className: 'cell shape', title: row.shape ? formatShape(row.shape) : '' },
        row.shape ? formatShape(row.shape) : '',
      ),
      h(
        'span',
        { className: 'cell num', title: formatInt(row.totals.params) },
        formatInt(row.totals.params),
      ),
      h(
        'span',
        { className: 'cell num', title: l10n.t('{0} bytes', formatInt(row.totals.bytes)) },
        formatBytes(row.totals.bytes),
      ),
    );
  }

  private rowAt(index: number): TreeRowDto | undefined {
    return this.pages.rowAt(index);
  }

  private onClick(e: MouseEvent): void {
    const el = (e.target as HTMLElement).closest<HTMLElement>('[data-testid=tree-row]');
    if (!el) return;
    const index = Number(el.dataset.index);
    this.select(index);
    const row = this.rowAt(index);
    if (row?.kind === 'group')
      void this.apply(this.rpc.request('setExpanded', { id: row.id, tree: this.which }));
  }

  private select(index: number): void {
    this.selected = Math.max(0, Math.min(index, this.state.rowCount - 1));
    scrollRowIntoView(this.viewport, this.selected, ROW_HEIGHT);
    this.queueRender();
  }

  private onKey(e: KeyboardEvent): void {
    const row = this.rowAt(this.selected);
    const keys: Record<string, () => void> = {
      ...movementKeys(this.viewport, ROW_HEIGHT, this.selected, this.state.rowCount, (i) =>
        this.select(i),
      ),
      ArrowRight: () => {
        if (row?.kind === 'group' && !row.expanded)
          void this.apply(
            this.rpc.request('setExpanded', { id: row.id, expanded: true, tree: this.which }),
          );
        else this.select(this.selected + 1);
      },
      ArrowLeft: () => {
        if (row?.kind === 'group' && row.expanded)
          void this.apply(
            this.rpc.request('setExpanded', { id: row.id, expanded: false, tree: this.which }),
          );
        else if (row) this.selectParent(row);
      },
      Enter: () => {
        if (row?.kind === 'group')
          void this.apply(this.rpc.request('setExpanded', { id: row.id, tree: this.which }));
      },
    };
    if ((e.ctrlKey || e.metaKey) && e.key === 'c' && row) {
      e.preventDefault();
      void this.rpc.request('copyText', { text: row.path, what: `"${row.path}"` });
      return;
    }
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  private selectParent(row: TreeRowDto): void {
    for (let i = this.selected - 1; i >= 0; i--) {
      const r = this.rowAt(i);
      if (!r) return;
      if (r.depth < row.depth) {
        this.select(i);
        return;
      }
    }
  }
}
