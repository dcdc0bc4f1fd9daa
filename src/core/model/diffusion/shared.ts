import {
  EMPTY_DIMS,
  type ArchitectureComponent,
  type Evidence,
  type EvidenceSource,
  type ModelDims,
  type ModelFacts,
  type ModelKind,
} from '../types.js';

/** More candidate prefixes than any real checkpoint holds; the cap keeps crafted files linear. */
const MAX_CANDIDATES = 8;

/** Element count of a shape; 0 for anything that is not a list of non-negative integers. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) return 0;
    n *= d;
  }
  return n;
}

/** The last two dot-separated segments of a name (all of it when it has fewer). */
function tail2(name: string): string {
  const last = name.lastIndexOf('.');
  return last <= 0 ? name : name.slice(name.lastIndexOf('.', last - 1) + 1);
}

/** Tensor names by tail2, in file order: built once per facts, so each anchor is a lookup, not a scan. */
const tailIndex = new WeakMap<ModelFacts, Map<string, string[]>>();

function namesEndingLike(facts: ModelFacts, suffix: string): readonly string[] | undefined {
  // A name ends with a suffix of one dot or more at a segment boundary only if their tail2 agree.
  if (!suffix.includes('.')) return undefined;
  let index = tailIndex.get(facts);
  if (index === undefined) {
    index = new Map();
    for (const t of facts.tensors) {
      const k = tail2(t.name);
      const names = index.get(k);
      if (names === undefined) index.set(k, [t.name]);
      else names.push(t.name);
    }
    tailIndex.set(facts, index);
  }
  return index.get(tail2(suffix)) ?? [];
}

/** The prefixes ('' or ending in '.') under which `suffix` names a tensor, in file order, at most 8. */
export function prefixesOf(facts: ModelFacts, suffix: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const names = namesEndingLike(facts, suffix) ?? facts.tensors.map((t) => t.name);
  for (const name of names) {
    if (!name.endsWith(suffix)) continue;
    const prefix = name.slice(0, name.length - suffix.length);
    if (prefix !== '' && !prefix.endsWith('.')) continue;
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    out.push(prefix);
    if (out.length >= MAX_CANDIDATES) break;
  }
  return out;
}

/** What `at` recognises under each prefix where `anchor` names a tensor (at most 8 prefixes). */
export function componentsAt(
  facts: ModelFacts,
  anchor: string,
  at: (facts: ModelFacts, prefix: string) => ArchitectureComponent | null,
): ArchitectureComponent[] {
  const out: ArchitectureComponent[] = [];
  for (const prefix of prefixesOf(facts, anchor)) {
    const part = at(facts, prefix);
    if (part !== null) out.push(part);
  }
  return out;
}

export function has(facts: ModelFacts, name: string): boolean {
  return facts.shapes.has(name);
}

/** Axis `axis` of tensor `name` when it exists and is a positive integer, else null. */
export function dimOf(facts: ModelFacts, name: string, axis: number): number | null {
  const shape = facts.shapes.get(name);
  const d = shape?.[axis];
  return d !== undefined && Number.isInteger(d) && d > 0 ? d : null;
}

/** `[a, b, …]` for evidence sentences. */
export function shapeText(facts: ModelFacts, name: string): string {
  const shape = facts.shapes.get(name);
  return shape ? `[${shape.join(', ')}]` : '[]';
}

/** Block indices to collect in the scan: names `prefix + head + N + '.' + tail`. */
export interface Probe {
  readonly head: string;
  readonly tail: string;
}

export interface Scan {
  readonly tensorCount: number;
  readonly parameterCount: number;
  /** Distinct N per probe, in probe order. */
  readonly indices: readonly ReadonlySet<number>[];
  /** How many covered names end with each of `ends`. */
  readonly endCounts: readonly number[];
}

export interface ScanSpec {
  /** First name segments a root part ('' prefix) owns. */
  readonly roots: ReadonlySet<string>;
  readonly probes?: readonly Probe[];
  readonly ends?: readonly string[];
}

/**
 * One pass over the file for one part. A part with a prefix owns everything under it; a part at the
 * root ('') owns only names whose first segment is one of `roots`, so foreign tensors stay unclaimed.
 */
export function scanPart(facts: ModelFacts, prefix: string, spec: ScanSpec): Scan {
  const probes = spec.probes ?? [];
  const ends = spec.ends ?? [];
  let tensorCount = 0;
  let parameterCount = 0;
  const indices = probes.map(() => new Set<number>());
  const endCounts = ends.map(() => 0);
  for (const t of facts.tensors) {
    if (!t.name.startsWith(prefix)) continue;
    if (prefix === '') {
      const dot = t.name.indexOf('.');
      if (!spec.roots.has(dot < 0 ? t.name : t.name.slice(0, dot))) continue;
    }
    tensorCount += 1;
    parameterCount += numel(t.shape);
    for (let i = 0; i < probes.length; i += 1) {
      const p = probes[i];
      const set = indices[i];
      if (p === undefined || set === undefined) continue;
      const n = blockIndex(t.name, prefix.length, p);
      if (n !== null) set.add(n);
    }
    for (let i = 0; i < ends.length; i += 1) {
      if (t.name.endsWith(ends[i] ?? '\0')) endCounts[i] = (endCounts[i] ?? 0) + 1;
    }
  }
  return { tensorCount, parameterCount, indices, endCounts };
}

function blockIndex(name: string, at: number, p: Probe): number | null {
  if (!name.startsWith(p.head, at)) return null;
  const start = at + p.head.length;
  let end = start;
  while (end < name.length && end - start < 9) {
    const c = name.charCodeAt(end);
    if (c < 48 || c > 57) break;
    end += 1;
  }
  if (end === start || name.charCodeAt(end) !== 46) return null;
  if (name.length - end - 1 !== p.tail.length || !name.endsWith(p.tail)) return null;
  return Number(name.slice(start, end));
}

export type Dims = Partial<Record<keyof ModelDims, number | boolean | null>>;
export type Reasons = Partial<Record<keyof ModelDims, string>>;

/** Why a field is empty when the recogniser says nothing more specific. */
const DEFAULT_REASONS: Record<keyof ModelDims, string> = {
  hiddenSize: 'no tensor of this part gives the width',
  numLayers: 'no repeated block found',
  numAttentionHeads: 'no config and q/k/v share one width',
  numKeyValueHeads: 'no grouped-query attention in this architecture',
  headDim: 'no config and no per-head tensor (qk norm)',
  intermediateSize: 'no single feed-forward width in this part',
  vocabSize: 'not a token model',
  numExperts: 'not a mixture-of-experts architecture',
  tiedEmbeddings: 'no output head in this part',
};

export interface PartSpec {
  readonly family: string;
  readonly variant: string | null;
  readonly kind: ModelKind;
  readonly prefix: string;
  readonly evidence: readonly Evidence[];
  readonly dims: Dims;
  readonly reasons: Reasons;
  readonly scan: Scan;
}

export function component(spec: PartSpec): ArchitectureComponent {
  const num = (key: keyof ModelDims): number | null => {
    const v = spec.dims[key];
    return typeof v === 'number' ? v : null;
  };
  const tied = spec.dims.tiedEmbeddings;
  const dims: ModelDims = {
    hiddenSize: num('hiddenSize'),
    numLayers: num('numLayers'),
    numAttentionHeads: num('numAttentionHeads'),
    numKeyValueHeads: num('numKeyValueHeads'),
    headDim: num('headDim'),
    intermediateSize: num('intermediateSize'),
    vocabSize: num('vocabSize'),
    numExperts: num('numExperts'),
    tiedEmbeddings: typeof tied === 'boolean' ? tied : null,
  };
  const undetermined: Reasons = {};
  for (const key of Object.keys(EMPTY_DIMS) as (keyof ModelDims)[]) {
    if (dims[key] === null) undetermined[key] = spec.reasons[key] ?? DEFAULT_REASONS[key];
  }
  return {
    family: spec.family,
    variant: spec.variant,
    kind: spec.kind,
    prefix: spec.prefix,
    evidence: spec.evidence,
    dims,
    undetermined,
    tensorCount: spec.scan.tensorCount,
    parameterCount: spec.scan.parameterCount,
  };
}

export function ev(source: EvidenceSource, claim: string): Evidence {
  return { source, claim };
}

/** A block-count sentence: "24 blocks joint_blocks.0–23". */
export function blocksText(set: ReadonlySet<number>, where: string): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (const n of set) {
    if (n < lo) lo = n;
    if (n > hi) hi = n;
  }
  return set.size === 0 ? `no ${where} blocks` : `${set.size} blocks ${where}.${lo}–${hi}`;
}

/** A positive integer from config.json, for root parts only (the config describes the whole file). */
export function configInt(facts: ModelFacts, prefix: string, key: string): number | null {
  if (prefix !== '' || facts.config === null) return null;
  const v = facts.config[key];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

/** Heads from a per-head width (qk norm), when it divides the width. */
export function headsFrom(hidden: number | null, headDim: number | null): number | null {
  if (hidden === null || headDim === null || hidden % headDim !== 0) return null;
  return hidden / headDim;
}
