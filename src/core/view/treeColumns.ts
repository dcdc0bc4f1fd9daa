import type { TensorInfo } from '../formats/checkpoint.js';
import { naturalCompare } from './naturalSort.js';

/**
 * A tensor tree's nodes in columns (typed arrays indexed by node id) rather than one object each: a
 * 1,000,000-tensor header makes over 2,000,000 nodes. A node's path is never stored; it is its
 * parent's path, a dot and its label (a quantized part's path is its part's name). Children of a node
 * are `childList[childStart[id] .. childStart[id + 1]]`, in natural order; children have larger ids
 * than their parent. Node 0 is the root.
 */
export interface TreeColumns {
  readonly parentOf: Int32Array;
  readonly labelOf: Int32Array;
  /** Label strings, each once (a plain array: the fuzzy matcher takes one; never changed). */
  readonly labels: string[];
  /** The tensor a node stands for (its index in the checkpoint), or -1 for a group. */
  readonly tensorOf: Int32Array;
  /**
   * With custom segments, the depth each node was made at (a path reached by two segmentations keeps
   * the first one's); with dot splitting it is always the number of ancestors, so none is stored.
   */
  readonly madeAtDepth: Int32Array | undefined;
  readonly childStart: Int32Array;
  readonly childList: Int32Array;
  /** Tensors, parameters and bytes under each node. */
  readonly countOf: Float64Array;
  readonly paramsOf: Float64Array;
  readonly bytesOf: Float64Array;
  /** Stored parts of quantized weights, by node id: shown, never counted twice. */
  readonly parts: ReadonlyMap<number, TensorInfo>;
}

export const ROOT = 0;
/** A node with more children than this gets a label → child map while the tree is built. */
const WIDE = 16;

/**
 * The nodes as they are made: int columns that grow by doubling. Typed, so the collector never scans
 * them (plain arrays of 2,000,000 entries each cost more in collections than in pushes).
 */
class NodeColumns {
  count = 0;
  parent = new Int32Array(1024);
  label = new Int32Array(1024);
  tensor = new Int32Array(1024);
  made: Int32Array | undefined;

  constructor(withDepth: boolean) {
    if (withDepth) this.made = new Int32Array(1024);
  }

  add(parent: number, label: number, depth: number): number {
    if (this.count === this.parent.length) this.grow();
    const id = this.count++;
    this.parent[id] = parent;
    this.label[id] = label;
    this.tensor[id] = -1;
    if (this.made) this.made[id] = depth;
    return id;
  }

  private grow(): void {
    const twice = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.parent = twice(this.parent);
    this.label = twice(this.label);
    this.tensor = twice(this.tensor);
    if (this.made) this.made = twice(this.made);
  }
}

/** Label strings, each stored once, by id. */
class Labels {
  readonly list: string[] = [''];
  private readonly ids = new Map<string, number>([['', 0]]);

  id(text: string): number {
    let lid = this.ids.get(text);
    if (lid === undefined) {
      lid = this.list.length;
      this.list.push(text);
      this.ids.set(text, lid);
    }
    return lid;
  }
}

/**
 * Children by label while the tree is built: a linked list per node (a short scan finds a child), and
 * a text → child map once a node is wide (a model's 100,000 layers).
 */
class ChildIndex {
  private first = new Int32Array(1024).fill(-1);
  private next = new Int32Array(1024);
  private tally = new Int32Array(1024);
  private readonly wide = new Map<number, Map<string, number>>();

  constructor(
    private readonly nodes: NodeColumns,
    private readonly labels: readonly string[],
  ) {}

  find(at: number, text: string): number {
    const map = this.wide.get(at);
    if (map) return map.get(text) ?? -1;
    const { label } = this.nodes;
    for (let c = this.first[at] as number; c >= 0; c = this.next[c] as number)
      if (this.labels[label[c] as number] === text) return c;
    return -1;
  }

  /** Records node `id` (just made) as a child of `at`. */
  add(at: number, id: number, text: string): void {
    if (id >= this.first.length) this.grow(id);
    this.first[id] = -1;
    this.next[id] = this.first[at] as number;
    this.first[at] = id;
    const tally = (this.tally[at] as number) + 1;
    this.tally[at] = tally;
    const map = this.wide.get(at);
    if (map) map.set(text, id);
    else if (tally > WIDE) {
      const made = new Map<string, number>();
      const { label } = this.nodes;
      for (let c = id; c >= 0; c = this.next[c] as number)
        made.set(this.labels[label[c] as number] as string, c);
      this.wide.set(at, made);
    }
  }

  private grow(id: number): void {
    let size = this.first.length;
    while (size <= id) size *= 2;
    const first = new Int32Array(size).fill(-1);
    first.set(this.first);
    this.first = first;
    const next = new Int32Array(size);
    next.set(this.next);
    this.next = next;
    const tally = new Int32Array(size);
    tally.set(this.tally);
    this.tally = tally;
  }
}

/**
 * Dot-split names. Neighbours in a header share most of their path (model.layers.7.self_attn.…): the
 * segments a name shares with the previous one are found by comparing the two strings and their
 * nodes taken as they are; only the rest is cut out and looked up. The result is the tree that
 * `name.split('.')` would give, node for node (a differential test holds it to that).
 */
function addDotSplit(tensors: readonly TensorInfo[], nodes: NodeColumns, labels: Labels): void {
  const children = new ChildIndex(nodes, labels.list);
  const pathIds: number[] = [];
  // The label made last at each depth: a leaf's `weight` is usually its neighbour's.
  const lastLabel: number[] = [];
  let previous = '';
  for (let index = 0; index < tensors.length; index++) {
    const name = (tensors[index] as TensorInfo).name;
    // Whole segments the two names share: each ends at a dot both have, or where both end.
    let i = 0;
    let shared = 0;
    let rest = 0;
    const most = Math.min(name.length, previous.length);
    while (i < most && name.charCodeAt(i) === previous.charCodeAt(i)) {
      if (name.charCodeAt(i) === 46) {
        shared++;
        rest = i + 1;
      }
      i++;
    }
    if (
      previous.length > 0 &&
      (i === name.length || name.charCodeAt(i) === 46) &&
      (i === previous.length || previous.charCodeAt(i) === 46)
    ) {
      shared++;
      rest = i + 1;
    }
    let at = shared > 0 ? (pathIds[shared - 1] as number) : ROOT;
    let depth = shared;
    for (let pos = rest; pos <= name.length; depth++) {
      const dot = name.indexOf('.', pos);
      const end = dot < 0 ? name.length : dot;
      const text = name.slice(pos, end);
      let id = children.find(at, text);
      if (id < 0) {
        const memo = lastLabel[depth];
        const lid = memo !== undefined && labels.list[memo] === text ? memo : labels.id(text);
        lastLabel[depth] = lid;
        id = nodes.add(at, lid, depth);
        children.add(at, id, text);
      }
      at = id;
      pathIds[depth] = id;
      if (dot < 0) break;
      pos = dot + 1;
    }
    previous = name;
    nodes.tensor[at] = index;
  }
}

/** Custom segments may hold dots, so two segmentations can reach the same path: nodes keyed by path. */
function addSegments(
  tensors: readonly TensorInfo[],
  segments: (tensor: TensorInfo) => string[],
  nodes: NodeColumns,
  labels: Labels,
): void {
  const byPath = new Map<string, number>();
  for (let index = 0; index < tensors.length; index++) {
    const names = segments(tensors[index] as TensorInfo);
    let at = ROOT;
    let path = '';
    for (let depth = 0; depth < names.length; depth++) {
      const text = names[depth] as string;
      path = depth === 0 ? text : `${path}.${text}`;
      let id = byPath.get(path);
      if (id === undefined) {
        id = nodes.add(at, labels.id(text), depth);
        byPath.set(path, id);
      }
      at = id;
    }
    nodes.tensor[at] = index;
  }
}

/** Quantized weights (GPTQ qweight + qzeros + scales + g_idx, …) get their stored parts as children. */
function addQuantParts(
  tensors: readonly TensorInfo[],
  nodes: NodeColumns,
  labels: Labels,
): Map<number, TensorInfo> {
  const parts = new Map<number, TensorInfo>();
  const count = nodes.count;
  for (let id = 1; id < count; id++) {
    const ti = nodes.tensor[id] as number;
    const t = ti >= 0 ? tensors[ti] : undefined;
    if (!t?.quant) continue;
    const own = Object.entries(t.quant.parts);
    // A GGUF block tensor is its own single part: nothing to fold.
    if (own.length === 1 && own[0]?.[1].name === t.name) continue;
    const depth = nodes.made ? (nodes.made[id] as number) + 1 : 0;
    for (const [role, part] of own) parts.set(nodes.add(id, labels.id(role), depth), part);
  }
  return parts;
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

/** Children grouped by parent in id order (the order they were made), then in natural order. */
function childLists(
  parent: Int32Array,
  label: Int32Array,
  labels: readonly string[],
): { childStart: Int32Array; childList: Int32Array } {
  const n = parent.length;
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
  const byRank = (a: number, b: number) =>
    (rank[label[a] as number] as number) - (rank[label[b] as number] as number) || a - b;
  for (let id = 0; id < n; id++) {
    const s = childStart[id] as number;
    const e = childStart[id + 1] as number;
    if (e - s > 1) childList.subarray(s, e).sort(byRank);
  }
  return { childStart, childList };
}

/** Tensors, parameters and bytes under each node, bottom-up (children always have larger ids). */
function totals(
  tensors: readonly TensorInfo[],
  parent: Int32Array,
  tensor: Int32Array,
): { countOf: Float64Array; paramsOf: Float64Array; bytesOf: Float64Array } {
  const n = parent.length;
  const countOf = new Float64Array(n);
  const paramsOf = new Float64Array(n);
  const bytesOf = new Float64Array(n);
  for (let id = n - 1; id >= 0; id--) {
    const ti = tensor[id] as number;
    if (ti >= 0) {
      const t = tensors[ti] as TensorInfo;
      countOf[id] = (countOf[id] as number) + 1;
      paramsOf[id] = (paramsOf[id] as number) + t.parameterCount;
      bytesOf[id] = (bytesOf[id] as number) + t.byteLength;
    }
    if (id === ROOT) break;
    const p = parent[id] as number;
    countOf[p] = (countOf[p] as number) + (countOf[id] as number);
    paramsOf[p] = (paramsOf[p] as number) + (paramsOf[id] as number);
    bytesOf[p] = (bytesOf[p] as number) + (bytesOf[id] as number);
  }
  return { countOf, paramsOf, bytesOf };
}

/** The columns of a tree over `tensors`: split on dots, or by `segments` when given. */
export function buildTreeColumns(
  tensors: readonly TensorInfo[],
  segments?: (tensor: TensorInfo) => string[],
): TreeColumns {
  const nodes = new NodeColumns(segments !== undefined);
  const labels = new Labels();
  nodes.add(-1, 0, -1);
  if (segments) addSegments(tensors, segments, nodes, labels);
  else addDotSplit(tensors, nodes, labels);
  const parts = addQuantParts(tensors, nodes, labels);
  const n = nodes.count;
  const parentOf = nodes.parent.slice(0, n);
  const labelOf = nodes.label.slice(0, n);
  const tensorOf = nodes.tensor.slice(0, n);
  return {
    parentOf,
    labelOf,
    labels: labels.list,
    tensorOf,
    madeAtDepth: nodes.made?.slice(0, n),
    ...childLists(parentOf, labelOf, labels.list),
    ...totals(tensors, parentOf, tensorOf),
    parts,
  };
}
