import uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../formats/checkpoint.js';
import { naturalCompare } from './naturalSort.js';
import { buildTreeColumns, ROOT } from './treeColumns.js';
import { TreeFilter } from './treeFilter.js';
import { quantNote, tensorExtras, termRanges, type Totals, type TreeRow } from './treeRows.js';

export { quantNote, termRanges, type Totals, type TreeRow } from './treeRows.js';

/**
 * The tensor list as the editor shows it: a module tree (`a.b.c.weight` → a › b › c › weight) or a flat
 * list of raw keys, narrowed by a fuzzy filter, and served in windows of rows. It lives in the extension
 * host so the webview never holds a 100,000-tensor header; it only asks for the rows it draws.
 */
export type Grouping = 'tree' | 'flat';

export interface TreeOptions {
  /** How a tensor name becomes tree levels; default: split on dots. */
  readonly segments?: (tensor: TensorInfo) => string[];
  /** A note shown on group rows, by group path (e.g. a LoRA module's kind, rank and scale). */
  readonly groupNotes?: ReadonlyMap<string, string>;
  /** Marks on tensor rows, by tensor name; read on every page, so the owner may update it in place. */
  readonly marks?: ReadonlyMap<string, 'mapped' | 'unused'>;
}

export interface TreeState {
  /** Bumped on every change, so stale row pages can be dropped. */
  readonly version: number;
  readonly rowCount: number;
  readonly query: string;
  readonly grouping: Grouping;
  readonly shown: Totals;
  readonly total: Totals;
}

/**
 * The tree's nodes live in columns (treeColumns.ts); this class keeps what the user did to them
 * (expanded groups, the filter, the grouping) and serves the visible rows.
 */
export class TensorTree {
  private readonly parentOf: Int32Array;
  private readonly labelOf: Int32Array;
  /** Label strings, each once. */
  private readonly labels: string[];
  private readonly tensorOf: Int32Array;
  /**
   * With custom segments, the depth each node was made at (a path reached by two segmentations keeps the
   * first one's); with dot splitting it is always the number of ancestors, so none is stored.
   */
  private readonly madeAtDepth: Int32Array | undefined;
  private readonly childStart: Int32Array;
  private readonly childList: Int32Array;
  private readonly countOf: Float64Array;
  private readonly paramsOf: Float64Array;
  private readonly bytesOf: Float64Array;
  /** Stored parts of quantized weights, by node id: shown, never counted twice. */
  private readonly parts: ReadonlyMap<number, TensorInfo>;
  private names: string[] | undefined;
  private readonly fuzzy = new uFuzzy({ intraMode: 1, intraIns: 1 });
  private sortedTensorIndices: Int32Array | undefined;
  private expanded = new Set<number>();
  /** While filtering, groups are open unless the user closed them. */
  private filterCollapsed = new Set<number>();
  private matched: Uint8Array | undefined;
  private tensorHit: Uint8Array | undefined;
  /** The filter's buffer for the visible rows, while a query is set. */
  private filterRows: Int32Array | undefined;
  private readonly filter: TreeFilter;
  private visible: Int32Array | number[] = [];
  private version = 0;
  private query = '';
  private grouping: Grouping = 'tree';
  private shown: Totals;
  readonly total: Totals;

  constructor(
    private readonly tensors: readonly TensorInfo[],
    private readonly options: TreeOptions = {},
  ) {
    const c = buildTreeColumns(tensors, options.segments);
    this.parentOf = c.parentOf;
    this.labelOf = c.labelOf;
    this.labels = c.labels;
    this.tensorOf = c.tensorOf;
    this.madeAtDepth = c.madeAtDepth;
    this.childStart = c.childStart;
    this.childList = c.childList;
    this.parts = c.parts;
    this.filter = new TreeFilter(
      tensors,
      c,
      () => this.namesList(),
      options.segments !== undefined,
      this.fuzzy,
    );
    const tensorsOf = c.countOf;
    const paramsOf = c.paramsOf;
    const bytesOf = c.bytesOf;
    const { childStart, childList } = c;
    this.countOf = tensorsOf;
    this.paramsOf = paramsOf;
    this.bytesOf = bytesOf;
    this.total = {
      tensors: tensorsOf[ROOT] as number,
      params: paramsOf[ROOT] as number,
      bytes: bytesOf[ROOT] as number,
    };
    this.shown = this.total;
    for (let i = childStart[ROOT] as number; i < (childStart[ROOT + 1] as number); i++) {
      const id = childList[i] as number;
      if (this.childCount(id) > 0) this.expanded.add(id);
    }
    this.refresh();
  }

  private get nodeCount(): number {
    return this.parentOf.length;
  }

  private childCount(id: number): number {
    return (this.childStart[id + 1] as number) - (this.childStart[id] as number);
  }

  private depthOf(id: number): number {
    if (this.madeAtDepth) return this.madeAtDepth[id] as number;
    let depth = -1;
    for (let at = id; at > ROOT; at = this.parentOf[at] as number) depth++;
    return depth;
  }

  /** Full dotted path of a node, made on demand. */
  private pathOf(id: number): string {
    const part = this.parts.get(id);
    if (part) return part.name;
    if (id === ROOT) return '';
    let path = this.labels[this.labelOf[id] as number] as string;
    for (let at = this.parentOf[id] as number; at > ROOT; at = this.parentOf[at] as number)
      path = `${this.labels[this.labelOf[at] as number] as string}.${path}`;
    return path;
  }

  /** The lowest node id whose path is `path` (what a scan of every node in id order finds first). */
  private findPath(path: string): number {
    let best = -1;
    for (const [id, part] of this.parts)
      if (part.name === path && (best < 0 || id < best)) best = id;
    const stack: [number, string][] = [[ROOT, '']];
    while (stack.length) {
      const [at, prefix] = stack.pop() as [number, string];
      for (let i = this.childStart[at] as number; i < (this.childStart[at + 1] as number); i++) {
        const id = this.childList[i] as number;
        if (this.parts.has(id)) continue;
        const p =
          at === ROOT
            ? (this.labels[this.labelOf[id] as number] as string)
            : `${prefix}.${this.labels[this.labelOf[id] as number] as string}`;
        if (p === path) {
          if (best < 0 || id < best) best = id;
        }
        if (path.length > p.length && path.startsWith(p) && path[p.length] === '.')
          stack.push([id, p]);
      }
    }
    return best;
  }

  private namesList(): string[] {
    return (this.names ??= this.tensors.map((t) => t.name));
  }

  state(): TreeState {
    return {
      version: this.version,
      rowCount: this.visible.length,
      query: this.query,
      grouping: this.grouping,
      shown: this.shown,
      total: this.total,
    };
  }

  setQuery(query: string): TreeState {
    const q = query.trim();
    if (q !== this.query) {
      this.query = q;
      this.filterCollapsed = new Set();
      this.applyFilter();
      this.refresh();
    }
    return this.state();
  }

  setGrouping(grouping: Grouping): TreeState {
    if (grouping !== this.grouping) {
      this.grouping = grouping;
      this.refresh();
    }
    return this.state();
  }

  /** Opens or closes a group; `open` undefined toggles. */
  setExpanded(id: number, open?: boolean): TreeState {
    const known = Number.isInteger(id) && id >= 0 && id < this.nodeCount;
    if (this.grouping === 'tree' && known && this.childCount(id) > 0) {
      const isOpen = this.isExpanded(id);
      const want = open ?? !isOpen;
      if (want !== isOpen) {
        if (this.matched) {
          if (want) this.filterCollapsed.delete(id);
          else this.filterCollapsed.add(id);
        } else if (want) this.expanded.add(id);
        else this.expanded.delete(id);
        this.refresh();
      }
    }
    return this.state();
  }

  expandAll(): TreeState {
    if (this.matched) this.filterCollapsed = new Set();
    else
      for (let id = ROOT + 1; id < this.nodeCount; id++)
        if (this.childCount(id) > 0) this.expanded.add(id);
    this.refresh();
    return this.state();
  }

  collapseAll(): TreeState {
    if (this.matched) {
      for (let id = ROOT; id < this.nodeCount; id++)
        if (this.childCount(id) > 0) this.filterCollapsed.add(id);
    } else this.expanded = new Set();
    this.refresh();
    return this.state();
  }

  /** Rows `start .. start+count` of what is visible now. */
  rows(start: number, count: number): TreeRow[] {
    const end = Math.min(this.visible.length, Math.max(0, start) + Math.max(0, count));
    const out: TreeRow[] = [];
    for (let i = Math.max(0, start); i < end; i++) {
      const id = this.visible[i] as number;
      out.push(this.grouping === 'flat' ? this.tensorRow(id) : this.nodeRow(id));
    }
    this.addHighlights(out);
    return out;
  }

  /** Row index of a tensor or group path, opening its ancestors; -1 when filtered out or unknown. */
  reveal(path: string): number {
    if (this.grouping === 'flat')
      return this.visible.findIndex((i) => this.tensors[i]?.name === path);
    const id = this.findPath(path);
    if (id < 0 || (this.matched && !this.matched[id])) return -1;
    let changed = false;
    for (let at = this.parentOf[id] as number; at > ROOT; at = this.parentOf[at] as number) {
      if (!this.isExpanded(at)) {
        if (this.matched) this.filterCollapsed.delete(at);
        else this.expanded.add(at);
        changed = true;
      }
    }
    if (changed) this.refresh();
    return this.visible.indexOf(id);
  }

  private isExpanded(id: number): boolean {
    return this.matched ? !this.filterCollapsed.has(id) : this.expanded.has(id);
  }

  private applyFilter(): void {
    if (!this.query) {
      this.matched = undefined;
      this.tensorHit = undefined;
      this.filterRows = undefined;
      this.filter.release();
      this.shown = this.total;
      return;
    }
    const r = this.filter.apply(this.query);
    this.matched = r.matched;
    this.tensorHit = r.tensorHit;
    this.filterRows = r.rows;
    this.shown = r.shown;
  }

  private refresh(): void {
    this.version++;
    if (this.grouping === 'flat') {
      if (!this.sortedTensorIndices) {
        const names = this.namesList();
        const order = Array.from(names, (_, i) => i).sort((a, b) =>
          naturalCompare(names[a] as string, names[b] as string),
        );
        this.sortedTensorIndices = Int32Array.from(order);
      }
      if (!this.tensorHit) this.visible = this.sortedTensorIndices;
      else this.visible = this.sortedTensorIndices.filter((i) => this.isTensorHit(i));
      return;
    }
    // While filtering, rows go to a typed buffer: a filter that keeps everything shows every node (over
    // 2,000,000 at 1M tensors).
    const { childStart, childList, matched } = this;
    const buffer = matched ? this.filterRows : undefined;
    const out: number[] | Int32Array = buffer ?? [];
    let rows = 0;
    const stack: number[] = [];
    const collapsed = matched ? this.filterCollapsed : undefined;
    const expanded = this.expanded;
    for (let i = (childStart[ROOT + 1] as number) - 1; i >= (childStart[ROOT] as number); i--)
      stack.push(childList[i] as number);
    while (stack.length) {
      const id = stack.pop() as number;
      if (matched && !matched[id]) continue;
      out[rows++] = id;
      const s = childStart[id] as number;
      const e = childStart[id + 1] as number;
      if (e > s && (collapsed ? collapsed.size === 0 || !collapsed.has(id) : expanded.has(id))) {
        for (let i = e - 1; i >= s; i--) stack.push(childList[i] as number);
      }
    }
    this.visible = buffer ? buffer.subarray(0, rows) : out;
  }

  private nodeRow(id: number): TreeRow {
    const part = this.parts.get(id);
    if (part) return this.partRow(id, part);
    const totals = this.matched
      ? this.matchedTotals(id)
      : {
          tensors: this.countOf[id] as number,
          params: this.paramsOf[id] as number,
          bytes: this.bytesOf[id] as number,
        };
    const children = this.childCount(id);
    const isGroup = children > 0;
    const ti = this.tensorOf[id] as number;
    const t = ti >= 0 ? (this.tensors[ti] as TensorInfo) : undefined;
    const path = this.pathOf(id);
    return {
      id,
      kind: isGroup ? 'group' : 'tensor',
      depth: this.depthOf(id),
      label: this.labels[this.labelOf[id] as number] as string,
      path,
      ...(isGroup ? { expanded: this.isExpanded(id) } : {}),
      totals,
      ...(t ? { dtype: t.dtype, shape: t.shape, ...tensorExtras(t) } : {}),
      ...(t && this.options.marks?.has(t.name) ? { mark: this.options.marks.get(t.name) } : {}),
      ...(isGroup && this.options.groupNotes?.has(path)
        ? { note: this.options.groupNotes.get(path) }
        : {}),
      ...(t?.quant ? { note: quantNote(t), ...(isGroup ? { parts: children } : {}) } : {}),
    };
  }

  private partRow(id: number, part: TensorInfo): TreeRow {
    return {
      id,
      kind: 'tensor',
      depth: this.depthOf(id),
      label: this.labels[this.labelOf[id] as number] as string,
      path: part.name,
      totals: { tensors: 1, params: part.parameterCount, bytes: part.byteLength },
      dtype: part.dtype,
      shape: part.shape,
      ...(part.file !== undefined ? { file: part.file } : {}),
    };
  }

  private tensorRow(index: number): TreeRow {
    const t = this.tensors[index] as TensorInfo;
    return {
      id: index,
      kind: 'tensor',
      depth: 0,
      label: t.name,
      path: t.name,
      totals: { tensors: 1, params: t.parameterCount, bytes: t.byteLength },
      dtype: t.dtype,
      shape: t.shape,
      ...tensorExtras(t),
      ...(this.options.marks?.has(t.name) ? { mark: this.options.marks.get(t.name) } : {}),
      ...(t.quant ? { note: quantNote(t) } : {}),
    };
  }

  /** A group's totals counting only the tensors the filter kept. */
  private matchedTotals(id: number): Totals {
    return this.filter.totalsOf(id);
  }

  private isTensorHit(index: number): boolean {
    return this.tensorHit?.[index] === 1;
  }

  /**
   * Highlights for one page only, cheap however many rows match. Flat rows show the fuzzy matcher's own
   * ranges over the full name; tree rows mark where the query's terms occur in their own label.
   */
  private addHighlights(rows: TreeRow[]): void {
    if (!this.query || rows.length === 0) return;
    if (this.grouping === 'flat') {
      const indices = rows.map((r) => r.id).filter((i) => this.isTensorHit(i));
      const info = this.fuzzy.info(indices, this.namesList(), this.query);
      const rangesOf = new Map<number, number[]>();
      info.idx.forEach((tensor, k) => rangesOf.set(tensor, info.ranges[k] ?? []));
      rows.forEach((row, i) => {
        const ranges = rangesOf.get(row.id);
        if (ranges?.length) rows[i] = { ...row, match: ranges };
      });
      return;
    }
    const terms = this.query
      .toLowerCase()
      .split(/[\s.]+/)
      .filter((t) => t.length > 0);
    rows.forEach((row, i) => {
      const match = termRanges(row.label, terms);
      if (match.length) rows[i] = { ...row, match };
    });
  }
}
