import * as l10n from '@vscode/l10n';
import type { MappingRowDto, MappingViewDto } from '../../src/shared/protocol.js';
import type { Rpc } from '../rpc.js';
import { h, icon } from './dom.js';
import { TensorList } from './tensorList.js';
import '../l10n.js';
import { NOTHING_SHARED, pathLabel, sharedNote, sharedParts } from './pathLabels.js';

const LEVEL_ORDER = { low: 1, medium: 2, high: 3 } as const;

/** Unmatched first, then the least sure: what needs a look comes first. */
function order(a: MappingRowDto, b: MappingRowDto): number {
  const rank = (r: MappingRowDto) => (r.target === null ? 0 : LEVEL_ORDER[r.level]);
  return rank(a) - rank(b) || a.confidence - b.confidence || a.module.localeCompare(b.module);
}

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
 * and shape check, and the actions that decide it (accept, re-target, reject). Keyboard: ↑/↓ to move,
 * Enter to accept, R to re-target, Delete to reject.
 */
export class MappingView {
  private shared = { module: NOTHING_SHARED, target: NOTHING_SHARED };
  readonly element: HTMLElement;
  private view: MappingViewDto | undefined;
  private selected = 0;
  private query = '';
  private readonly body = h('div', { className: 'mapping-body' });
  private readonly baseBox = h('div', { className: 'mapping-base', 'data-testid': 'base-tree' });
  private baseList: TensorList | undefined;

  constructor(
    private readonly rpc: Rpc,
    private readonly onBaseChange: (view: MappingViewDto) => void,
  ) {
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
      this.render();
    } catch (e) {
      this.body.replaceChildren(
        h('p', { className: 'warning' }, icon('error'), e instanceof Error ? e.message : String(e)),
      );
    }
  }

  private rows(): MappingRowDto[] {
    const q = this.query.toLowerCase();
    return [...(this.view?.rows ?? [])]
      .filter(
        (r) =>
          !q || r.module.toLowerCase().includes(q) || (r.target ?? '').toLowerCase().includes(q),
      )
      .sort(order);
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
    const total = v.rows.length;
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
        h('strong', null, l10n.t('{0}/{1} mapped', c.mapped, total)),
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
    const filter = h('input', {
      className: 'mapping-filter',
      placeholder: l10n.t('Filter modules or targets'),
      value: this.query,
      'aria-label': l10n.t('Filter mapping'),
    }) as HTMLInputElement;
    filter.addEventListener('input', () => {
      this.query = filter.value;
      this.selected = 0;
      this.renderTable(table);
    });
    const table = h('div', {
      className: 'mapping-table',
      tabindex: 0,
      role: 'grid',
      'aria-label': l10n.t('Module to base parameter mapping'),
    });
    table.addEventListener('keydown', (e) => this.onKey(e, table));
    parts.push(filter, table);
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
    this.renderTable(table);
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

  private renderTable(table: HTMLElement): void {
    const rows = this.rows();
    // What every row shares (`base_model.model.model.layers.`) says nothing: it moves to the header.
    this.shared = {
      module: sharedParts(rows.map((r) => r.moduleTarget)),
      target: sharedParts(rows.flatMap((r) => (r.target ? [r.target] : []))),
    };
    const header = h(
      'div',
      { className: 'mrow mhead', role: 'row' },
      h('span', null, l10n.t('Module'), sharedNote(this.shared.module)),
      h('span', null, l10n.t('Target in the base'), sharedNote(this.shared.target)),
      h('span', null, l10n.t('Confidence')),
      h('span', null, l10n.t('Shape check')),
      h('span', null, ''),
    );
    table.replaceChildren(header, ...rows.map((r, i) => this.rowElement(r, i)));
  }

  private rowElement(r: MappingRowDto, index: number): HTMLElement {
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
        role: 'row',
        'data-testid': 'mapping-row',
        'data-module': r.module,
        'data-target': r.target ?? '',
        'data-level': r.target === null ? 'none' : r.level,
        'data-source': r.source,
      },
      h(
        'span',
        { className: 'mcell two-line', title: `${r.module}\n${r.reason}` },
        pathLabel(r.moduleTarget, this.shared.module, 'code'),
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
          ? pathLabel(r.target, this.shared.target, 'code')
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
      h('span', { className: `mcell ${r.shapeCheck === 'mismatch' ? 'bad' : ''}` }, shapeText(r)),
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
      this.selected = index;
      row.parentElement
        ?.querySelectorAll('.mrow.selected')
        .forEach((x) => x.classList.remove('selected'));
      row.classList.add('selected');
      if (r.target) void this.baseList?.revealPath(r.target);
    });
    return row;
  }

  private onKey(e: KeyboardEvent, table: HTMLElement): void {
    const rows = this.rows();
    const r = rows[this.selected];
    const move = (d: number) => {
      this.selected = Math.max(0, Math.min(rows.length - 1, this.selected + d));
      this.renderTable(table);
      const rowsShown = table.querySelectorAll<HTMLElement>('[data-testid=mapping-row]');
      rowsShown.item(this.selected)?.scrollIntoView({ block: 'nearest' });
    };
    if (e.key === 'ArrowDown') move(1);
    else if (e.key === 'ArrowUp') move(-1);
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
