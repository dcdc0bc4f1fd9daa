import type { ModelFacts } from '../types.js';

/**
 * One pass over the tensor names that every LLM recogniser shares: names are split at the first
 * `<container>.<N>.` segment pair (`model.layers.3.mlp.up_proj.weight` → pre `model.`, container `layers`,
 * block 3, rest `mlp.up_proj.weight`) and aggregated per (pre, container) and rest. Expert indices inside
 * the rest are folded (`experts.5.w1.weight` → `experts.*.w1.weight`). Only aggregates are kept, with caps,
 * so crafted files with a million random names stay linear and small.
 */

const CONTAINERS = ['layers.', 'layer.', 'block.', 'h.'] as const;
/** More block groups / distinct rests than any real checkpoint holds. */
const MAX_GROUPS = 256;
const MAX_RESTS = 512;
const EXPERTS = 'experts.';

export interface RestStat {
  count: number;
  params: number;
  /** Shape of the first tensor seen with this rest. */
  readonly shape: readonly number[];
}

export interface BlockGroup {
  /** Name text before the container segment: '' or ends with '.'. */
  readonly pre: string;
  /** `layers`, `layer`, `block` or `h`. */
  readonly container: string;
  readonly rests: Map<string, RestStat>;
  readonly layers: Set<number>;
  layerMax: number;
  /** Highest expert index seen in a rest; -1 when none. */
  expertMax: number;
}

export interface BlockScan {
  /** Keyed by pre + container. */
  readonly groups: ReadonlyMap<string, BlockGroup>;
}

const cache = new WeakMap<ModelFacts, BlockScan>();

/** Element count; 0 for anything that is not a list of non-negative integers. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) return 0;
    n *= d;
  }
  return n;
}

/** Axis `axis` of a shape when it is a positive integer, else null. */
export function axis(shape: readonly number[] | undefined, i: number): number | null {
  const d = shape?.[i];
  return d !== undefined && Number.isInteger(d) && d > 0 ? d : null;
}

/** Digits at `at` up to the next '.', as a number; null when not 1–9 digits followed by '.'. */
function indexAt(name: string, at: number): { value: number; end: number } | null {
  let end = at;
  while (end < name.length && end - at < 10) {
    const c = name.charCodeAt(end);
    if (c < 48 || c > 57) break;
    end++;
  }
  if (end === at || end - at > 9 || name.charCodeAt(end) !== 46) return null;
  return { value: Number(name.slice(at, end)), end: end + 1 };
}

/** `experts.N.tail` → `experts.*.tail`, with N; the rest unchanged when it has no expert index. */
function foldExpert(rest: string): { key: string; expert: number } {
  const at = rest.indexOf(EXPERTS);
  if (at < 0 || (at > 0 && rest.charCodeAt(at - 1) !== 46)) return { key: rest, expert: -1 };
  const idx = indexAt(rest, at + EXPERTS.length);
  if (idx === null) return { key: rest, expert: -1 };
  return {
    key: `${rest.slice(0, at + EXPERTS.length)}*.${rest.slice(idx.end)}`,
    expert: idx.value,
  };
}

/**
 * Names are split at the first `<container>.<N>.` segment pair. findBlock returns the length of the
 * text before it (or -1) and leaves the container, N and where the rest starts here: no object per name.
 */
let foundContainer = '';
let foundIndex = 0;
let foundEnd = 0;

function findBlock(name: string): number {
  let start = 0;
  while (start < name.length) {
    for (const c of CONTAINERS) {
      if (!name.startsWith(c, start)) continue;
      const at = start + c.length;
      let end = at;
      let value = 0;
      while (end < name.length && end - at < 10) {
        const ch = name.charCodeAt(end);
        if (ch < 48 || ch > 57) break;
        value = value * 10 + (ch - 48);
        end++;
      }
      if (end === at || end - at > 9 || name.charCodeAt(end) !== 46) continue;
      foundContainer = c;
      foundIndex = value;
      foundEnd = end + 1;
      return start;
    }
    const dot = name.indexOf('.', start);
    if (dot < 0) return -1;
    start = dot + 1;
  }
  return -1;
}

function scan(facts: ModelFacts): BlockScan {
  const groups = new Map<string, BlockGroup>();
  // Per container, the groups by pre: no `pre + container` key string per tensor.
  const byContainer = new Map<string, Map<string, BlockGroup>>();
  for (const t of facts.tensors) {
    const name = t.name;
    const preLen = findBlock(name);
    if (preLen < 0) continue;
    const c = foundContainer;
    const index = foundIndex;
    const restAt = foundEnd;
    let pres = byContainer.get(c);
    if (pres === undefined) byContainer.set(c, (pres = new Map()));
    const pre = preLen === 0 ? '' : name.slice(0, preLen);
    let g = pres.get(pre);
    if (g === undefined) {
      if (groups.size >= MAX_GROUPS) continue;
      const container = c.slice(0, -1);
      g = {
        pre,
        container,
        rests: new Map(),
        layers: new Set(),
        layerMax: -1,
        expertMax: -1,
      };
      pres.set(pre, g);
      groups.set(`${pre}\u0000${container}`, g);
    }
    const rest = name.slice(restAt);
    let key = rest;
    let expert = -1;
    if (rest.includes(EXPERTS)) ({ key, expert } = foldExpert(rest));
    let r = g.rests.get(key);
    if (r === undefined) {
      if (g.rests.size >= MAX_RESTS) continue;
      r = { count: 0, params: 0, shape: Array.isArray(t.shape) ? t.shape : [] };
      g.rests.set(key, r);
    }
    r.count++;
    r.params += Array.isArray(t.shape) ? numel(t.shape) : 0;
    g.layers.add(index);
    if (index > g.layerMax) g.layerMax = index;
    if (expert > g.expertMax) g.expertMax = expert;
  }
  return { groups };
}

export function blockScan(facts: ModelFacts): BlockScan {
  let s = cache.get(facts);
  if (s === undefined) {
    s = scan(facts);
    cache.set(facts, s);
  }
  return s;
}

/** The group of blocks at `pre + container + '.N.'`, if any. */
export function groupAt(facts: ModelFacts, pre: string, container: string): BlockGroup | undefined {
  return blockScan(facts).groups.get(`${pre}\u0000${container}`);
}

/** Groups with this container whose rests include every one of `required`. */
export function groupsWith(
  facts: ModelFacts,
  container: string,
  required: readonly string[],
): BlockGroup[] {
  const out: BlockGroup[] = [];
  for (const g of blockScan(facts).groups.values()) {
    if (g.container === container && required.every((r) => g.rests.has(r))) out.push(g);
  }
  return out;
}

/** `pre` without a trailing `inner` segment path (`model.` → ''), or `pre` itself. */
export function stripTail(pre: string, inners: readonly string[]): string {
  for (const inner of inners) {
    if (pre === inner) return '';
    if (pre.endsWith(`.${inner}`)) return pre.slice(0, pre.length - inner.length);
  }
  return pre;
}

/** Every key of `base` × `suffixes` (`q_proj.` × [`weight`, `bias`]). */
export function keys(
  bases: readonly string[],
  suffixes: readonly string[] = ['weight', 'bias'],
): string[] {
  const out: string[] = [];
  for (const b of bases) for (const s of suffixes) out.push(`${b}.${s}`);
  return out;
}
