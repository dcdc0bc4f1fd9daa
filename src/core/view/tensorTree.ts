import uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../formats/checkpoint.js';
import { naturalCompare } from './naturalSort.js';

/**
 * The tensor list as the editor shows it: a module tree (`a.b.c.weight` → a › b › c › weight) or a flat
 * list of raw keys, narrowed by a fuzzy filter, and served in windows of rows. It lives in the extension
 * host so the webview never holds a 100,000-tensor header; it only asks for the rows it draws.
 */
export type Grouping = 'tree' | 'flat';

export interface Totals {
  readonly tensors: number;
  readonly params: number;
  readonly bytes: number;
}

export interface TreeRow {
  /** Node id (tree) or tensor index (flat); stable while the checkpoint is open. */
  readonly id: number;
  readonly kind: 'group' | 'tensor';
  readonly depth: number;
  readonly label: string;
  /** Full dotted path of the node, or the tensor name. */
  readonly path: string;
  readonly expanded?: boolean;
  readonly totals: Totals;
  readonly dtype?: string;
  readonly shape?: readonly number[];
  /** Character ranges of `label` that the filter matched, as [start, end) pairs. */
  readonly match?: readonly number[];
  /** Not a model weight (optimizer state, buffers). */
  readonly role?: string;
  /** The file holding the data, when it is not the opened one. */
  readonly file?: string;
  /** ONNX: the first node that reads this initializer, e.g. "MatMul /model/layers.0/self_attn/q_proj/MatMul". */
  readonly usedBy?: string;
  /** Group rows: what the group is, e.g. "linear · r 8 · α 16 · scale 2". */
  readonly note?: string;
  readonly mark?: 'mapped' | 'unused';
  /** A quantized weight: how many stored parts are folded under it. */
  readonly parts?: number;
}

function tensorExtras(t: TensorInfo): { role?: string; file?: string; usedBy?: string } {
  const c = t.consumers ?? [];
  return {
    ...(t.role && t.role !== 'weight' ? { role: t.role } : {}),
    ...(t.file !== undefined ? { file: t.file } : {}),
    ...(c.length
      ? { usedBy: `${c[0]?.op} ${c[0]?.node}${c.length > 1 ? ` (+${c.length - 1} more)` : ''}` }
      : {}),
  };
}

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

interface TreeNode {
  readonly parent: number;
  readonly label: string;
  readonly path: string;
  readonly depth: number;
  readonly children: number[];
  tensor: number;
  tensors: number;
  params: number;
  bytes: number;
  /** A stored part of a quantized weight (its parent): shown, never counted twice. */
  part?: TensorInfo;
}

const ROOT = 0;

/** One line on a quantized weight's row: its scheme and what it costs per weight. */
export function quantNote(t: TensorInfo): string | undefined {
  const q = t.quant;
  if (!q) return undefined;
  return `${q.label} · ${q.bitsPerWeight.toFixed(2).replace(/\.?0+$/, '')} bits/weight`;
}

export class TensorTree {
  private readonly nodes: TreeNode[] = [];
  private readonly names: string[];
  private readonly fuzzy = new uFuzzy({ intraMode: 1, intraIns: 1 });
  private sortedTensorIndices: number[] | undefined;
  private expanded = new Set<number>();
  /** While filtering, groups are open unless the user closed them. */
  private filterCollapsed = new Set<number>();
  private matched: Uint8Array | undefined;
  private matchedTensors: number[] | undefined;
  private matchedSums:
    { tensors: Float64Array; params: Float64Array; bytes: Float64Array } | undefined;
  private tensorHit: Uint8Array | undefined;
  private visible: number[] = [];
  private version = 0;
  private query = '';
  private grouping: Grouping = 'tree';
  private shown: Totals;
  readonly total: Totals;

  constructor(
    private readonly tensors: readonly TensorInfo[],
    private readonly options: TreeOptions = {},
  ) {
    this.names = tensors.map((t) => t.name);
    this.nodes.push({
      parent: -1,
      label: '',
      path: '',
      depth: -1,
      children: [],
      tensor: -1,
      tensors: 0,
      params: 0,
      bytes: 0,
    });
    this.build();
    const root = this.nodes[ROOT] as TreeNode;
    this.total = { tensors: root.tensors, params: root.params, bytes: root.bytes };
    this.shown = this.total;
    for (const id of root.children) if (this.nodes[id]?.children.length) this.expanded.add(id);
    this.refresh();
  }

  private build(): void {
    const byPath = new Map<string, number>();
    this.tensors.forEach((t, index) => {
      let parent = ROOT;
      let path = '';
      const parts = this.options.segments?.(t) ?? t.name.split('.');
      for (let depth = 0; depth < parts.length; depth++) {
        const label = parts[depth] as string;
        path = depth === 0 ? label : `${path}.${label}`;
        let id = byPath.get(path);
        if (id === undefined) {
          id = this.nodes.length;
          this.nodes.push({
            parent,
            label,
            path,
            depth,
            children: [],
            tensor: -1,
            tensors: 0,
            params: 0,
            bytes: 0,
          });
          (this.nodes[parent] as TreeNode).children.push(id);
          byPath.set(path, id);
        }
        parent = id;
      }
      (this.nodes[parent] as TreeNode).tensor = index;
    });
    this.foldParts();
    // Children in natural order, then totals bottom-up (children always have larger ids).
    for (const node of this.nodes) {
      if (node.children.length > 1) {
        node.children.sort((a, b) =>
          naturalCompare((this.nodes[a] as TreeNode).label, (this.nodes[b] as TreeNode).label),
        );
      }
    }
    for (let id = this.nodes.length - 1; id >= 0; id--) {
      const node = this.nodes[id] as TreeNode;
      if (node.tensor >= 0) {
        const t = this.tensors[node.tensor] as TensorInfo;
        node.tensors += 1;
        node.params += t.parameterCount;
        node.bytes += t.byteLength;
      }
      if (id === ROOT) break;
      const parent = this.nodes[node.parent] as TreeNode;
      parent.tensors += node.tensors;
      parent.params += node.params;
      parent.bytes += node.bytes;
    }
  }

  /** Quantized weights (GPTQ qweight + qzeros + scales + g_idx, …) get their stored parts as children. */
  private foldParts(): void {
    const count = this.nodes.length;
    for (let id = 1; id < count; id++) {
      const node = this.nodes[id] as TreeNode;
      const t = node.tensor >= 0 ? this.tensors[node.tensor] : undefined;
      if (!t?.quant) continue;
      const parts = Object.entries(t.quant.parts);
      // A GGUF block tensor is its own single part: nothing to fold.
      if (parts.length === 1 && parts[0]?.[1].name === t.name) continue;
      for (const [role, part] of parts) {
        const partId = this.nodes.length;
        this.nodes.push({
          parent: id,
          label: role,
          path: part.name,
          depth: node.depth + 1,
          children: [],
          tensor: -1,
          tensors: 0,
          params: 0,
          bytes: 0,
          part,
        });
        node.children.push(partId);
      }
    }
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
    const node = this.nodes[id];
    if (this.grouping === 'tree' && node && node.children.length > 0) {
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
      this.nodes.forEach((n, id) => n.children.length > 0 && id !== ROOT && this.expanded.add(id));
    this.refresh();
    return this.state();
  }

  collapseAll(): TreeState {
    if (this.matched)
      this.nodes.forEach((n, id) => n.children.length > 0 && this.filterCollapsed.add(id));
    else this.expanded = new Set();
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
    if (this.grouping === 'flat') return this.visible.findIndex((i) => this.names[i] === path);
    const id = this.nodes.findIndex((n, i) => i !== ROOT && n.path === path);
    if (id < 0 || (this.matched && !this.matched[id])) return -1;
    let changed = false;
    for (const [child, parent] of this.ancestry(id)) {
      void child;
      if (parent !== ROOT && !this.isExpanded(parent)) {
        if (this.matched) this.filterCollapsed.delete(parent);
        else this.expanded.add(parent);
        changed = true;
      }
    }
    if (changed) this.refresh();
    return this.visible.indexOf(id);
  }

  private *ancestry(id: number): Generator<[number, number]> {
    let child = id;
    for (;;) {
      const parent = (this.nodes[child] as TreeNode).parent;
      if (parent < 0) return;
      yield [child, parent];
      child = parent;
    }
  }

  private isExpanded(id: number): boolean {
    return this.matched ? !this.filterCollapsed.has(id) : this.expanded.has(id);
  }

  private applyFilter(): void {
    if (!this.query) {
      this.matched = undefined;
      this.matchedTensors = undefined;
      this.matchedSums = undefined;
      this.tensorHit = undefined;
      this.shown = this.total;
      return;
    }
    let idxs = this.fuzzy.filter(this.names, this.query) ?? [];
    // A number in the query is a layer or block index: "layers 3" means layer 3, not 13 or 30.
    const numbers = this.query.split(/[^0-9A-Za-z]+/).filter((t) => /^\d+$/.test(t));
    if (numbers.length) {
      idxs = idxs.filter((i) => {
        const segments = new Set((this.names[i] as string).split(/[._:/-]+/));
        return numbers.every((n) => segments.has(n));
      });
    }
    this.matchedTensors = idxs;
    const tensorHit = new Uint8Array(this.tensors.length);
    let params = 0;
    let bytes = 0;
    for (const i of idxs) {
      tensorHit[i] = 1;
      const t = this.tensors[i] as TensorInfo;
      params += t.parameterCount;
      bytes += t.byteLength;
    }
    this.shown = { tensors: idxs.length, params, bytes };
    const n = this.nodes.length;
    const matched = new Uint8Array(n);
    const sums = {
      tensors: new Float64Array(n),
      params: new Float64Array(n),
      bytes: new Float64Array(n),
    };
    // Children have larger ids than parents, so one backward pass marks and sums every ancestor of a hit.
    for (let id = n - 1; id > ROOT; id--) {
      const node = this.nodes[id] as TreeNode;
      if (node.tensor >= 0 && tensorHit[node.tensor]) {
        const t = this.tensors[node.tensor] as TensorInfo;
        matched[id] = 1;
        sums.tensors[id] = (sums.tensors[id] as number) + 1;
        sums.params[id] = (sums.params[id] as number) + t.parameterCount;
        sums.bytes[id] = (sums.bytes[id] as number) + t.byteLength;
      }
      if (matched[id]) {
        const p = node.parent;
        matched[p] = 1;
        sums.tensors[p] = (sums.tensors[p] as number) + (sums.tensors[id] as number);
        sums.params[p] = (sums.params[p] as number) + (sums.params[id] as number);
        sums.bytes[p] = (sums.bytes[p] as number) + (sums.bytes[id] as number);
      }
    }
    // A quantized weight's parts show whenever the weight does (part ids follow their parent's).
    for (let id = ROOT + 1; id < n; id++) {
      const node = this.nodes[id] as TreeNode;
      if (node.part && matched[node.parent]) matched[id] = 1;
    }
    this.matched = matched;
    this.matchedSums = sums;
    this.tensorHit = tensorHit;
  }

  private refresh(): void {
    this.version++;
    if (this.grouping === 'flat') {
      this.sortedTensorIndices ??= this.names
        .map((_, i) => i)
        .sort((a, b) => naturalCompare(this.names[a] as string, this.names[b] as string));
      if (!this.matchedTensors) this.visible = this.sortedTensorIndices;
      else this.visible = this.sortedTensorIndices.filter((i) => this.isTensorHit(i));
      return;
    }
    const out: number[] = [];
    const stack: number[] = [];
    const root = this.nodes[ROOT] as TreeNode;
    for (let i = root.children.length - 1; i >= 0; i--) stack.push(root.children[i] as number);
    while (stack.length) {
      const id = stack.pop() as number;
      if (this.matched && !this.matched[id]) continue;
      out.push(id);
      const node = this.nodes[id] as TreeNode;
      if (node.children.length && this.isExpanded(id)) {
        for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i] as number);
      }
    }
    this.visible = out;
  }

  private nodeRow(id: number): TreeRow {
    const n = this.nodes[id] as TreeNode;
    if (n.part) return this.partRow(id, n, n.part);
    const totals = this.matched
      ? this.matchedTotals(id)
      : { tensors: n.tensors, params: n.params, bytes: n.bytes };
    const isGroup = n.children.length > 0;
    const t = n.tensor >= 0 ? (this.tensors[n.tensor] as TensorInfo) : undefined;
    return {
      id,
      kind: isGroup ? 'group' : 'tensor',
      depth: n.depth,
      label: n.label,
      path: n.path,
      ...(isGroup ? { expanded: this.isExpanded(id) } : {}),
      totals,
      ...(t ? { dtype: t.dtype, shape: t.shape, ...tensorExtras(t) } : {}),
      ...(t && this.options.marks?.has(t.name) ? { mark: this.options.marks.get(t.name) } : {}),
      ...(isGroup && this.options.groupNotes?.has(n.path)
        ? { note: this.options.groupNotes.get(n.path) }
        : {}),
      ...(t?.quant ? { note: quantNote(t), ...(isGroup ? { parts: n.children.length } : {}) } : {}),
    };
  }

  private partRow(id: number, n: TreeNode, part: TensorInfo): TreeRow {
    return {
      id,
      kind: 'tensor',
      depth: n.depth,
      label: n.label,
      path: n.path,
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
    const s = this.matchedSums;
    if (!s) return { tensors: 0, params: 0, bytes: 0 };
    return { tensors: s.tensors[id] ?? 0, params: s.params[id] ?? 0, bytes: s.bytes[id] ?? 0 };
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
      const info = this.fuzzy.info(indices, this.names, this.query);
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

/** [start, end) ranges where any term occurs in `label`, merged and sorted. */
export function termRanges(label: string, terms: readonly string[]): number[] {
  const lower = label.toLowerCase();
  const hits: [number, number][] = [];
  for (const term of terms) {
    for (let at = lower.indexOf(term); at !== -1; at = lower.indexOf(term, at + term.length)) {
      hits.push([at, at + term.length]);
    }
  }
  hits.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of hits) {
    const last = out.length - 1;
    if (last > 0 && s <= (out[last] as number)) out[last] = Math.max(out[last] as number, e);
    else out.push(s, e);
  }
  return out;
}
