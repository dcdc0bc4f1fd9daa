import type { TensorInfo } from '../formats/checkpoint.js';
import { naturalCompare } from '../view/naturalSort.js';
import { methodById } from './methods/registry.js';
import type { MethodId } from './methods/types.js';
import { targetType } from './targets.js';
import type { Histogram, LoraModule, LoraSummary } from './types.js';

/** value → count, numbers ascending with null (unknown) last. */
function numberHistogram(values: readonly (number | null)[]): Histogram<number | null>[] {
  const counts = new Map<number | null, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a - b))
    .map(([value, count]) => ({ value, count }));
}

/** value → count, most frequent first, then natural order. */
function stringHistogram(values: readonly string[]): Histogram<string>[] {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts]
    .sort(([a, x], [b, y]) => y - x || naturalCompare(a, b))
    .map(([value, count]) => ({ value, count }));
}

export function summarize(
  modules: readonly LoraModule[],
  tensorsByName: ReadonlyMap<string, TensorInfo>,
): LoraSummary {
  const stacks = new Map<string, Set<number>>();
  for (const m of modules) {
    if (!m.layer) continue;
    const s = stacks.get(m.layer.stack) ?? new Set<number>();
    s.add(m.layer.index);
    stacks.set(m.layer.stack, s);
  }
  const dtypes: string[] = [];
  let parameters = 0;
  for (const m of modules)
    for (const name of m.tensors) {
      const t = tensorsByName.get(name);
      if (!t) continue;
      dtypes.push(t.dtype);
      parameters += t.parameterCount;
    }
  return {
    modules: modules.length,
    kinds: stringHistogram(modules.map((m) => m.label)),
    ranks: numberHistogram(modules.map((m) => m.rank)),
    alphas: numberHistogram(modules.map((m) => m.alpha)),
    scales: numberHistogram(modules.map((m) => m.scale)),
    targets: stringHistogram(modules.map((m) => targetType(m.target, m.group))),
    groups: stringHistogram(modules.flatMap((m) => (m.group ? [m.group] : []))),
    layers: [...stacks]
      .sort(([a], [b]) => naturalCompare(a, b))
      .map(([stack, s]) => ({ stack, indices: [...s].sort((a, b) => a - b) })),
    dtypes: stringHistogram(dtypes),
    parameters,
  };
}

const list = (h: readonly Histogram<number | string | null>[]): string =>
  h.map((x) => `${x.value ?? 'unknown'} ×${x.count}`).join(', ');

/** Adapter-wide warnings that come from the summary: dtypes and ranks. */
export function summaryWarnings(
  modules: readonly LoraModule[],
  tensorsByName: ReadonlyMap<string, TensorInfo>,
  rankPatternUsed: boolean,
): string[] {
  const out: string[] = [];
  // 0-d alphas are often stored in another dtype than the weights; they do not make a file "mixed".
  // Index tensors (VB-LoRA's top-k indices) are integers by design, not a second weight dtype.
  const weightDtypes = stringHistogram(
    modules.flatMap((m) => {
      const indexParts = m.method ? (methodById(m.method.id as MethodId).indexParts ?? []) : [];
      const indices = new Set(indexParts.map((p) => m.parts[p]));
      return m.tensors.flatMap((n) => {
        const t = tensorsByName.get(n);
        return t && t.shape.length > 0 && !indices.has(n) ? [t.dtype] : [];
      });
    }),
  );
  if (weightDtypes.length > 1) out.push(`mixed dtypes: ${list(weightDtypes)} (adapter tensors)`);
  const ranks = numberHistogram(modules.flatMap((m) => (m.rank === null ? [] : [m.rank])));
  if (ranks.length > 1)
    out.push(`rank varies: ${list(ranks)}${rankPatternUsed ? ' (rank_pattern)' : ''}`);
  return out;
}
