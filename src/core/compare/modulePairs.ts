/**
 * Which module of adapter B is which module of adapter A: identical names, then the same target,
 * then kohya-flattened names across conventions (surgery/moduleKeys.ts), and for what is left the
 * mapping engine, run with A's module targets as the "base". The first three passes are hash maps;
 * the mapping engine only sees leftovers, and only up to MAX_MAPPED modules a side.
 */
import type { CheckpointInfo, TensorInfo } from '../formats/checkpoint.js';
import type { LoraAnalysis, LoraModule } from '../lora/types.js';
import { mapAdapter } from '../mapping/map.js';
import { crossConventionKey, sameConventionKey } from '../surgery/moduleKeys.js';
import type { ModulePair, ModulePairVia } from './types.js';

/** Above this many unpaired modules on a side the mapping engine is not run (its cost grows with both). */
export const MAX_MAPPED = 5000;

export interface PairedModule {
  readonly a: LoraModule;
  readonly b: LoraModule;
  readonly pair: ModulePair;
}

export interface ModulePairing {
  readonly pairs: readonly PairedModule[];
  readonly onlyA: readonly LoraModule[];
  readonly onlyB: readonly LoraModule[];
  readonly notes: readonly string[];
}

/** Pairs modules whose keys are equal and unique on both sides; the rest stay in `left`. */
function pairByKey(
  left: { a: LoraModule[]; b: LoraModule[] },
  key: (m: LoraModule, side: 'a' | 'b') => string,
  via: ModulePairVia,
  out: PairedModule[],
): void {
  const unique = (ms: readonly LoraModule[], side: 'a' | 'b'): Map<string, LoraModule | null> => {
    const m = new Map<string, LoraModule | null>();
    for (const x of ms) {
      const k = key(x, side);
      m.set(k, m.has(k) ? null : x);
    }
    return m;
  };
  const fromB = unique(left.b, 'b');
  const fromA = unique(left.a, 'a');
  const taken = new Set<LoraModule>();
  for (const [k, a] of fromA) {
    const b = fromB.get(k);
    if (!a || !b) continue;
    out.push({ a, b, pair: { a: a.name, b: b.name, target: a.target, via } });
    taken.add(a).add(b);
  }
  left.a = left.a.filter((m) => !taken.has(m));
  left.b = left.b.filter((m) => !taken.has(m));
}

function weightShape(m: LoraModule): number[] | null {
  if (m.outFeatures === null || m.inFeatures === null) return null;
  return [m.outFeatures, m.inFeatures, ...(m.kernel ?? [])];
}

/** A's leftover modules as base parameters `<target>.weight`, for the mapping engine. */
function targetsAsBase(modules: readonly LoraModule[]): {
  info: CheckpointInfo;
  byParam: Map<string, LoraModule>;
} {
  const byParam = new Map<string, LoraModule>();
  const tensors: TensorInfo[] = [];
  for (const m of modules) {
    const shape = weightShape(m);
    const name = `${m.target}.weight`;
    if (!shape || byParam.has(name)) continue;
    byParam.set(name, m);
    const n = shape.reduce((x, y) => x * y, 1);
    tensors.push({ name, dtype: 'F32', shape, offset: 0, byteLength: 4 * n, parameterCount: n });
  }
  const info: CheckpointInfo = {
    format: 'safetensors',
    name: 'adapter A targets',
    fileSize: 0,
    headerByteLength: 0,
    tensors,
    metadata: Object.create(null) as Record<string, string>,
    parameterCount: 0,
    dataBytes: 0,
    dtypes: [],
  };
  return { info, byParam };
}

const FLATTENED: ReadonlySet<string> = new Set(['kohya', 'lycoris']);

/**
 * Maps one side's leftovers onto the other's targets. The side with dotted targets plays the base
 * (the engine un-flattens kohya names against a base's module tree, not the other way round).
 */
function pairByMapping(
  left: { a: LoraModule[]; b: LoraModule[] },
  analyses: { a: LoraAnalysis; b: LoraAnalysis },
  infos: { a: CheckpointInfo; b: CheckpointInfo },
  out: PairedModule[],
): void {
  const swap = FLATTENED.has(analyses.a.family) && !FLATTENED.has(analyses.b.family);
  const [baseSide, adapterSide] = swap ? (['b', 'a'] as const) : (['a', 'b'] as const);
  const { info, byParam } = targetsAsBase(left[baseSide]);
  if (byParam.size === 0) return;
  const adapter = { ...analyses[adapterSide], modules: left[adapterSide] };
  const result = mapAdapter({ analysis: adapter, info: infos[adapterSide] }, info, {
    alternatives: 0,
  });
  const byName = new Map(left[adapterSide].map((m) => [m.name, m]));
  const taken = new Set<LoraModule>();
  for (const e of result.mappings) {
    const fromBase = byParam.get(e.target);
    const fromAdapter = byName.get(e.module);
    const [a, b] = swap ? [fromAdapter, fromBase] : [fromBase, fromAdapter];
    // Only whole, shape-exact matches the engine is not unsure about: a guess is worse than a miss.
    if (
      !a ||
      !b ||
      taken.has(a) ||
      taken.has(b) ||
      e.shapeCheck !== 'exact' ||
      e.slice ||
      e.level === 'low'
    )
      continue;
    taken.add(a).add(b);
    out.push({
      a,
      b,
      pair: {
        a: a.name,
        b: b.name,
        target: a.target,
        via: 'mapping',
        confidence: e.confidence,
        reason: e.reason,
      },
    });
  }
  left.a = left.a.filter((m) => !taken.has(m));
  left.b = left.b.filter((m) => !taken.has(m));
}

export function pairModules(
  a: LoraAnalysis,
  b: LoraAnalysis,
  infos: { a: CheckpointInfo; b: CheckpointInfo },
  maxMapped = MAX_MAPPED,
): ModulePairing {
  const pairs: PairedModule[] = [];
  const notes: string[] = [];
  const left = { a: [...a.modules], b: [...b.modules] };
  pairByKey(left, (m) => `${m.group ?? ''}\u0000${m.name}`, 'name', pairs);
  if (left.a.length > 0 && left.b.length > 0)
    pairByKey(left, (m) => sameConventionKey(m), 'target', pairs);
  if (left.a.length > 0 && left.b.length > 0)
    pairByKey(
      left,
      (m, side) => crossConventionKey(m, side === 'a' ? a.family : b.family),
      'flattened-name',
      pairs,
    );
  if (left.a.length > 0 && left.b.length > 0) {
    if (left.a.length <= maxMapped && left.b.length <= maxMapped)
      pairByMapping(left, { a, b }, infos, pairs);
    else
      notes.push(
        `${left.a.length} and ${left.b.length} modules left unpaired by name: above ${maxMapped} a side the mapping engine is not run`,
      );
  }
  return { pairs, onlyA: left.a, onlyB: left.b, notes };
}
