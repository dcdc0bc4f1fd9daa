import type uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../formats/checkpoint.js';
import { ROOT, type TreeColumns } from './treeColumns.js';
import type { Totals } from './treeRows.js';

/** What a filter keeps: by node and by tensor. */
export interface FilterResult {
  readonly matched: Uint8Array;
  readonly tensorHit: Uint8Array;
  readonly shown: Totals;
  /** A buffer of one slot per node, for the rows the filtered tree shows. */
  readonly rows: Int32Array;
}

/** How long the work buffers outlive a cleared filter: the next query usually comes soon. */
const KEEP_BUFFERS_MS = 20_000;

/** The query's tokens that are all digits (layer or block indices). */
function queryNumbers(query: string): string[] {
  return query.split(/[^0-9A-Za-z]+/).filter((t) => /^\d+$/.test(t));
}

/** A number in the query is a layer or block index: "layers 3" means a segment that is exactly 3. */
function segmentTest(n: string): RegExp {
  return new RegExp(`(?:^|[._:/-])${n}(?:$|[._:/-])`);
}

/**
 * The tensor tree's fuzzy filter: which tensors a query keeps, and which nodes show because of them.
 * Numbers in a query are layer or block indices that must match a whole segment.
 */
export class TreeFilter {
  constructor(
    private readonly tensors: readonly TensorInfo[],
    private readonly cols: TreeColumns,
    /** Every tensor's name, in file order (made by the tree on first need). */
    private readonly names: () => string[],
    /** The tree was made from custom segments, not the dot split (the per-label shortcut is off). */
    private readonly customSegments: boolean,
    private readonly fuzzy: uFuzzy,
  ) {}

  private get nodeCount(): number {
    return this.cols.parentOf.length;
  }

  /**
   * Work buffers of the filter, made on the first filtered keystroke and reused by every next one (a
   * fresh set per keystroke at 1M tensors is tens of MB, and the collections it sets off cost more than
   * the filter); dropped when the filter is cleared.
   */
  private scratch:
    | {
        matched: Uint8Array;
        done: Uint8Array;
        seen: Int32Array | undefined;
        hit: Uint8Array;
        rows: Int32Array;
      }
    | undefined;
  private releaseTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last result, and the totals of the nodes asked for since (a page's worth at a time). */
  private last: FilterResult | undefined;
  private readonly totals = new Map<number, Totals>();

  private work(): NonNullable<TreeFilter['scratch']> {
    const n = this.nodeCount;
    return (this.scratch ??= {
      matched: new Uint8Array(n),
      done: new Uint8Array(n),
      seen: undefined,
      hit: new Uint8Array(this.tensors.length),
      rows: new Int32Array(n),
    });
  }

  /**
   * The nodes and tensors a query keeps. Only flags are made here; a kept group's totals over what it
   * keeps are summed when its row is asked for (totalsOf), so a keystroke costs two passes over the
   * nodes whatever the tree's size.
   */
  apply(query: string): FilterResult {
    if (this.releaseTimer !== undefined) clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    const w = this.work();
    const tensorHit = this.labelHits(query, w) ?? this.nameHits(query, w.hit);
    const { matched } = w;
    const { tensorOf, parentOf } = this.cols;
    matched.fill(0);
    // Children have larger ids than their parents: going down the ids, a node is final before its
    // parent is reached, so a kept node marks its parent once.
    for (let id = this.nodeCount - 1; id > ROOT; id--) {
      const ti = tensorOf[id] as number;
      if (ti >= 0 && tensorHit[ti]) matched[id] = 1;
      if (matched[id]) matched[parentOf[id] as number] = 1;
    }
    // A quantized weight's parts show whenever the weight does.
    for (const id of this.cols.parts.keys()) if (matched[parentOf[id] as number]) matched[id] = 1;
    // Shown: every tensor the filter kept, also one whose name repeats another's (no node of its own).
    let count = 0;
    let params = 0;
    let bytes = 0;
    const tensors = this.tensors;
    for (let i = 0; i < tensorHit.length; i++) {
      if (!tensorHit[i]) continue;
      const t = tensors[i] as TensorInfo;
      count++;
      params += t.parameterCount;
      bytes += t.byteLength;
    }
    this.totals.clear();
    this.last = { matched, tensorHit, shown: { tensors: count, params, bytes }, rows: w.rows };
    return this.last;
  }

  /** A node's totals counting only the tensors the last query kept. */
  totalsOf(id: number): Totals {
    const last = this.last;
    if (!last) return { tensors: 0, params: 0, bytes: 0 };
    let known = this.totals.get(id);
    if (!known) {
      const { matched, tensorHit } = last;
      const { tensorOf, childStart, childList } = this.cols;
      let count = 0;
      let params = 0;
      let bytes = 0;
      const stack = [id];
      while (stack.length) {
        const at = stack.pop() as number;
        const ti = tensorOf[at] as number;
        if (ti >= 0 && tensorHit[ti]) {
          const t = this.tensors[ti] as TensorInfo;
          count++;
          params += t.parameterCount;
          bytes += t.byteLength;
        }
        const e = childStart[at + 1] as number;
        for (let i = childStart[at] as number; i < e; i++) {
          const k = childList[i] as number;
          if (matched[k]) stack.push(k);
        }
      }
      known = { tensors: count, params, bytes };
      this.totals.set(id, known);
    }
    return known;
  }

  /**
   * The filter was cleared: its buffers go a little later (at 1M tensors they are about 20 MB, and
   * making them again costs a collection), unless another query comes first.
   */
  release(): void {
    this.last = undefined;
    this.totals.clear();
    if (this.releaseTimer !== undefined || !this.scratch) return;
    const timer = setTimeout(() => {
      this.scratch = undefined;
      this.releaseTimer = undefined;
    }, KEEP_BUFFERS_MS);
    (timer as { unref?: () => void }).unref?.();
    this.releaseTimer = timer;
  }

  /**
   * The reference filter, one tensor name at a time: a number in the query is a layer or block index
   * ("layers 3" means layer 3, not 13 or 30); those are tested first (cheap), so the fuzzy matcher only
   * sees names that can pass both.
   */
  private nameHits(query: string, hit: Uint8Array, only?: readonly number[]): Uint8Array {
    const names = this.names();
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
  private labelHits(query: string, w: NonNullable<TreeFilter['scratch']>): Uint8Array | undefined {
    if (this.customSegments || /['"]/.test(query) || !this.labelsSplitClean()) return undefined;
    const numbers = queryNumbers(query);
    const terms = this.fuzzy.split(query);
    const m = terms.length;
    if (numbers.length > 30 || m > 250) return undefined;
    const hit = w.hit;
    hit.fill(0);
    if (m === 0) return hit; // uFuzzy matches nothing for a query without terms
    const labels = this.cols.labels;
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
    const { parentOf, labelOf, tensorOf } = this.cols;
    const done = w.done;
    const seen = numMask ? (w.seen ??= new Int32Array(n)) : undefined;
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
    return (this.splitClean ??= !this.cols.labels.some((l) => /[\n\r\u2028\u2029]/.test(l)));
  }

  /** Tensors no node holds (a name that repeats another's: the node keeps the last). */
  orphanTensors(): number[] {
    if (!this.orphans) {
      const held = new Uint8Array(this.tensors.length);
      for (let id = ROOT + 1; id < this.nodeCount; id++) {
        const ti = this.cols.tensorOf[id] as number;
        if (ti >= 0) held[ti] = 1;
      }
      this.orphans = [];
      for (let i = 0; i < held.length; i++) if (!held[i]) this.orphans.push(i);
    }
    return this.orphans;
  }
}
