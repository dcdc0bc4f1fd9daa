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

const ROOT = 0;
/** A node with more children than this gets a label → child map while the tree is built. */
const WIDE = 16;

/** One line on a quantized weight's row: its scheme and what it costs per weight. */
export function quantNote(t: TensorInfo): string | undefined {
  const q = t.quant;
  if (!q) return undefined;
  return `${q.label} · ${q.bitsPerWeight.toFixed(2).replace(/\.?0+$/, '')} bits/weight`;
}

/** The query's tokens that are all digits (layer or block indices). */
function queryNumbers(query: string): string[] {
  return query.split(/[^0-9A-Za-z]+/).filter((t) => /^\d+$/.test(t));
}

/** A number in the query is a layer or block index: "layers 3" means a segment that is exactly 3. */
function segmentTest(n: string): RegExp {
  return new RegExp(`(?:^|[._:/-])${n}(?:$|[._:/-])`);
}

/**
 * The nodes live in columns (typed arrays indexed by node id) rather than one object each: a
 * 1,000,000-tensor header makes over 2,000,000 nodes. A node's path is never stored; it is its parent's
 * path, a dot and its label (a quantized part's path is its part's name). Children of a node are
 * `childList[childStart[id] .. childStart[id + 1]]`, in natural order; children have larger ids than
 * their parent.
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
  private readonly parts = new Map<number, TensorInfo>();
  private names: string[] | undefined;
  private readonly fuzzy = new uFuzzy({ intraMode: 1, intraIns: 1 });
  private sortedTensorIndices: Int32Array | undefined;
  private expanded = new Set<number>();
  /** While filtering, groups are open unless the user closed them. */
  private filterCollapsed = new Set<number>();
  private matched: Uint8Array | undefined;
  private matchedSums:
    { tensors: Float64Array; params: Float64Array; bytes: Float64Array } | undefined;
  private tensorHit: Uint8Array | undefined;
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
    // Built in growable plain arrays (small integers), then frozen into typed columns.
    const parent: number[] = [-1];
    const label: number[] = [0];
    const tensor: number[] = [-1];
    const made: number[] = [-1];
    const labels: string[] = [''];
    const labelIds = new Map<string, number>([['', 0]]);
    const segments = options.segments;
    // Segments may hold dots, so two segmentations can reach the same path: key those by path.
    const byPath = segments ? new Map<string, number>() : undefined;
    // Otherwise a node's children are found by label: a short scan of a linked list, or a map for wide
    // nodes (a model's 100,000 layers), so no string key is made per tensor.
    const firstChild: number[] = [-1];
    const nextSibling: number[] = [-1];
    const childTally: number[] = [0];
    const wide = new Map<number, Map<number, number>>();
    const findChild = (at: number, lid: number): number | undefined => {
      const map = wide.get(at);
      if (map) return map.get(lid);
      for (let c = firstChild[at] as number; c >= 0; c = nextSibling[c] as number)
        if (label[c] === lid) return c;
      return undefined;
    };
    const addChild = (at: number, id: number, lid: number): void => {
      firstChild.push(-1);
      nextSibling.push(firstChild[at] as number);
      childTally.push(0);
      firstChild[at] = id;
      const tally = (childTally[at] as number) + 1;
      childTally[at] = tally;
      const map = wide.get(at);
      if (map) map.set(lid, id);
      else if (tally > WIDE) {
        const made = new Map<number, number>();
        for (let c = id; c >= 0; c = nextSibling[c] as number) made.set(label[c] as number, c);
        wide.set(at, made);
      }
    };
    // Neighbours in a header share most of their path (model.layers.7.self_attn.…): the nodes of the
    // segments a tensor shares with the previous one are taken as they are.
    let previous: string[] = [];
    const previousIds: number[] = [];
    for (let index = 0; index < tensors.length; index++) {
      const t = tensors[index] as TensorInfo;
      const names = segments ? segments(t) : t.name.split('.');
      let at = ROOT;
      let path = '';
      let shared = 0;
      if (!byPath) {
        const most = Math.min(names.length, previous.length);
        while (shared < most && names[shared] === previous[shared]) shared++;
        if (shared > 0) at = previousIds[shared - 1] as number;
      }
      for (let depth = shared; depth < names.length; depth++) {
        const text = names[depth] as string;
        let lid = labelIds.get(text);
        if (lid === undefined) {
          lid = labels.length;
          labels.push(text);
          labelIds.set(text, lid);
        }
        let id: number | undefined;
        if (byPath) {
          path = depth === 0 ? text : `${path}.${text}`;
          id = byPath.get(path);
        } else id = findChild(at, lid);
        if (id === undefined) {
          id = parent.length;
          parent.push(at);
          label.push(lid);
          tensor.push(-1);
          if (byPath) {
            byPath.set(path, id);
            made.push(depth);
          } else addChild(at, id, lid);
        }
        at = id;
        previousIds[depth] = id;
      }
      previous = names;
      tensor[at] = index;
    }
    // Quantized weights (GPTQ qweight + qzeros + scales + g_idx, …) get their stored parts as children.
    const count = parent.length;
    for (let id = 1; id < count; id++) {
      const ti = tensor[id] as number;
      const t = ti >= 0 ? tensors[ti] : undefined;
      if (!t?.quant) continue;
      const parts = Object.entries(t.quant.parts);
      // A GGUF block tensor is its own single part: nothing to fold.
      if (parts.length === 1 && parts[0]?.[1].name === t.name) continue;
      for (const [role, part] of parts) {
        let lid = labelIds.get(role);
        if (lid === undefined) {
          lid = labels.length;
          labels.push(role);
          labelIds.set(role, lid);
        }
        this.parts.set(parent.length, part);
        if (byPath) made.push((made[id] as number) + 1);
        parent.push(id);
        label.push(lid);
        tensor.push(-1);
      }
    }
    const n = parent.length;
    this.parentOf = Int32Array.from(parent);
    this.labelOf = Int32Array.from(label);
    this.tensorOf = Int32Array.from(tensor);
    this.madeAtDepth = byPath ? Int32Array.from(made) : undefined;
    this.labels = labels;
    // Children, grouped by parent in id order (the order they were made), then in natural order.
    const childStart = new Int32Array(n + 1);
    for (let id = 1; id < n; id++) (childStart[(parent[id] as number) + 1] as number)++;
    for (let id = 0; id < n; id++)
      childStart[id + 1] = (childStart[id + 1] as number) + (childStart[id] as number);
    const childList = new Int32Array(Math.max(0, n - 1));
    const fill = childStart.slice(0, n);
    for (let id = 1; id < n; id++) {
      const p = parent[id] as number;
      childList[fill[p] as number] = id;
      fill[p] = (fill[p] as number) + 1;
    }
    const rank = labelRanks(labels);
    const labelOf = this.labelOf;
    const byRank = (a: number, b: number) =>
      (rank[labelOf[a] as number] as number) - (rank[labelOf[b] as number] as number) || a - b;
    for (let id = 0; id < n; id++) {
      const s = childStart[id] as number;
      const e = childStart[id + 1] as number;
      if (e - s > 1) childList.subarray(s, e).sort(byRank);
    }
    this.childStart = childStart;
    this.childList = childList;
    // Totals bottom-up (children always have larger ids).
    const tensorsOf = new Float64Array(n);
    const paramsOf = new Float64Array(n);
    const bytesOf = new Float64Array(n);
    for (let id = n - 1; id >= 0; id--) {
      const ti = tensor[id] as number;
      if (ti >= 0) {
        const t = tensors[ti] as TensorInfo;
        tensorsOf[id] = (tensorsOf[id] as number) + 1;
        paramsOf[id] = (paramsOf[id] as number) + t.parameterCount;
        bytesOf[id] = (bytesOf[id] as number) + t.byteLength;
      }
      if (id === ROOT) break;
      const p = parent[id] as number;
      tensorsOf[p] = (tensorsOf[p] as number) + (tensorsOf[id] as number);
      paramsOf[p] = (paramsOf[p] as number) + (paramsOf[id] as number);
      bytesOf[p] = (bytesOf[p] as number) + (bytesOf[id] as number);
    }
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

  /**
   * Work buffers of the filter, made on the first filtered keystroke and reused by every next one (a
   * fresh set per keystroke at 1M tensors is tens of MB, and the collections it sets off cost more than
   * the filter); dropped when the filter is cleared.
   */
  private scratch:
    | {
        matched: Uint8Array;
        tensors: Float64Array;
        params: Float64Array;
        bytes: Float64Array;
        done: Uint8Array;
        seen: Int32Array;
        hit: Uint8Array;
        rows: Int32Array;
      }
    | undefined;

  private work(): NonNullable<TensorTree['scratch']> {
    const n = this.nodeCount;
    return (this.scratch ??= {
      matched: new Uint8Array(n),
      tensors: new Float64Array(n),
      params: new Float64Array(n),
      bytes: new Float64Array(n),
      done: new Uint8Array(n),
      seen: new Int32Array(n),
      hit: new Uint8Array(this.tensors.length),
      rows: new Int32Array(n),
    });
  }

  private applyFilter(): void {
    if (!this.query) {
      this.matched = undefined;
      this.matchedSums = undefined;
      this.tensorHit = undefined;
      this.scratch = undefined;
      this.shown = this.total;
      return;
    }
    const w = this.work();
    const tensorHit = this.labelHits(this.query, w) ?? this.nameHits(this.query, w.hit);
    const n = this.nodeCount;
    const { matched, tensors: st, params: sp, bytes: sb } = w;
    const { tensorOf, parentOf, childStart, childList, tensors } = this;
    // Children have larger ids than parents: going down the ids, a node's children are done before it,
    // so each node is written once from its own tensor and its children's (no clearing needed).
    for (let id = n - 1; id >= ROOT; id--) {
      const ti = tensorOf[id] as number;
      let m = 0;
      let c = 0;
      let pa = 0;
      let by = 0;
      if (ti >= 0 && tensorHit[ti]) {
        const t = tensors[ti] as TensorInfo;
        m = 1;
        c = 1;
        pa = t.parameterCount;
        by = t.byteLength;
      }
      const e = childStart[id + 1] as number;
      for (let i = childStart[id] as number; i < e; i++) {
        const k = childList[i] as number;
        if (!matched[k]) continue;
        m = 1;
        c += st[k] as number;
        pa += sp[k] as number;
        by += sb[k] as number;
      }
      matched[id] = m;
      st[id] = c;
      sp[id] = pa;
      sb[id] = by;
    }
    // A quantized weight's parts show whenever the weight does.
    for (const id of this.parts.keys()) if (matched[parentOf[id] as number]) matched[id] = 1;
    // Shown: every tensor the filter kept, also one whose name repeats another's (no node of its own).
    let count = st[ROOT] as number;
    let params = sp[ROOT] as number;
    let bytes = sb[ROOT] as number;
    for (const i of this.orphanTensors()) {
      if (!tensorHit[i]) continue;
      const t = tensors[i] as TensorInfo;
      count++;
      params += t.parameterCount;
      bytes += t.byteLength;
    }
    this.shown = { tensors: count, params, bytes };
    this.matched = matched;
    this.matchedSums = w;
    this.tensorHit = tensorHit;
  }

  /**
   * The reference filter, one tensor name at a time: a number in the query is a layer or block index
   * ("layers 3" means layer 3, not 13 or 30); those are tested first (cheap), so the fuzzy matcher only
   * sees names that can pass both.
   */
  private nameHits(query: string, hit: Uint8Array, only?: readonly number[]): Uint8Array {
    const names = this.namesList();
    const numbers = queryNumbers(query);
    let candidates: number[] | undefined = only ? [...only] : undefined;
    if (numbers.length) {
      const tests = numbers.map(segmentTest);
      const from = candidates;
      candidates = [];
      const count = from ? from.length : names.length;
      for (let k = 0; k < count; k++) {
        const i = from ? (from[k] as number) : k;
        const name = names[i] as string;
        if (tests.every((r) => r.test(name))) candidates.push(i);
      }
    }
    if (!only) hit.fill(0);
    if (only && candidates?.length === 0) return hit;
    const idxs = this.fuzzy.filter(names, query, candidates) ?? [];
    for (const i of idxs) hit[i] = 1;
    return hit;
  }

  /**
   * The same answer as nameHits, from the tree's labels instead of its names, when the tree is the plain
   * dot split (a name is its labels joined by dots). A query term's pattern never matches a dot (its
   * characters are letters, digits and '), so a term always falls inside one label, and between terms
   * anything may come: a name matches when its labels, in order, take the terms in order, each label
   * as many of the next ones as it can hold (taking more early never hurts the rest). So the fuzzy
   * matcher runs once per distinct label and number of terms taken, not once per name, and a pass over
   * the nodes (parents first) carries along how many terms, and which layer numbers, each path has seen.
   * A layer number's test also never crosses a dot: it is a segment between separators, a dot among them.
   * Undefined where that does not hold (custom segments, quotes, contractions, line breaks in a name).
   */
  private labelHits(query: string, w: NonNullable<TensorTree['scratch']>): Uint8Array | undefined {
    if (this.options.segments || /['"]/.test(query) || !this.labelsSplitClean()) return undefined;
    const numbers = queryNumbers(query);
    const terms = this.fuzzy.split(query);
    const m = terms.length;
    if (numbers.length > 30 || m > 250) return undefined;
    const hit = w.hit;
    hit.fill(0);
    if (m === 0) return hit; // uFuzzy matches nothing for a query without terms
    const labels = this.labels;
    const L = labels.length;
    // take[label * m + k]: how many terms from the k-th on this label holds, in order.
    const take = new Uint8Array(L * m);
    for (let k = 0; k < m; k++) {
      let cand: number[] | undefined;
      for (let j = 1; k + j <= m; j++) {
        cand = this.fuzzy.filter(labels, terms.slice(k, k + j).join(' '), cand) ?? [];
        if (cand.length === 0) break;
        for (const lid of cand) take[lid * m + k] = j;
      }
    }
    const full = numbers.length ? 2 ** numbers.length - 1 : 0;
    const numMask = numbers.length ? new Int32Array(L) : undefined;
    if (numMask)
      numbers.forEach((num, b) => {
        const r = segmentTest(num);
        for (let lid = 0; lid < L; lid++)
          if (r.test(labels[lid] as string)) numMask[lid] = (numMask[lid] as number) | (1 << b);
      });
    const n = this.nodeCount;
    const { parentOf, labelOf, tensorOf } = this;
    const done = w.done;
    const seen = numMask ? w.seen : undefined;
    for (let id = ROOT + 1; id < n; id++) {
      const p = parentOf[id] as number;
      const lid = labelOf[id] as number;
      let k = done[p] as number;
      if (k < m) k += take[lid * m + k] as number;
      done[id] = k;
      let ok = k === m;
      if (seen && numMask) {
        const s = (seen[p] as number) | (numMask[lid] as number);
        seen[id] = s;
        ok &&= s === full;
      }
      const ti = tensorOf[id] as number;
      if (ok && ti >= 0) hit[ti] = 1;
    }
    // Tensors no node holds (a repeated name: the node keeps the last) are tested by name.
    const orphans = this.orphanTensors();
    if (orphans.length) {
      for (const i of orphans) hit[i] = 0;
      this.nameHits(query, hit, orphans);
    }
    return hit;
  }

  private splitClean: boolean | undefined;
  private orphans: number[] | undefined;

  /** Whether every label can be tested on its own: no line break (a pattern's gap does not cross one). */
  private labelsSplitClean(): boolean {
    return (this.splitClean ??= !this.labels.some((l) => /[\n\r\u2028\u2029]/.test(l)));
  }

  private orphanTensors(): number[] {
    if (!this.orphans) {
      const held = new Uint8Array(this.tensors.length);
      for (let id = ROOT + 1; id < this.nodeCount; id++) {
        const ti = this.tensorOf[id] as number;
        if (ti >= 0) held[ti] = 1;
      }
      this.orphans = [];
      for (let i = 0; i < held.length; i++) if (!held[i]) this.orphans.push(i);
    }
    return this.orphans;
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
    const buffer = matched ? this.scratch?.rows : undefined;
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

/**
 * Each label's place in natural order (equal labels under naturalCompare share a rank), so sorting
 * children compares two integers instead of asking the collator.
 */
function labelRanks(labels: readonly string[]): Int32Array {
  const order = Array.from(labels, (_, i) => i).sort((a, b) =>
    naturalCompare(labels[a] as string, labels[b] as string),
  );
  const rank = new Int32Array(labels.length);
  let r = 0;
  for (let k = 0; k < order.length; k++) {
    const id = order[k] as number;
    if (
      k > 0 &&
      naturalCompare(labels[order[k - 1] as number] as string, labels[id] as string) !== 0
    )
      r++;
    rank[id] = r;
  }
  return rank;
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
