import type { LoraSummaryDto } from '../../shared/protocol.js';
import type { LoraAnalysis } from './types.js';

function count<T extends string | number | null>(
  values: Iterable<T>,
): { value: T; count: number }[] {
  const m = new Map<T, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].map(([value, n]) => ({ value, count: n })).sort((a, b) => b.count - a.count);
}

/** What the editor shows about an adapter: histograms and examples, never the whole module list. */
export function loraSummaryDto(a: LoraAnalysis): LoraSummaryDto {
  const s = a.summary;
  const nonLora = new Map<string, { count: number; example: string; reason: string }>();
  for (const e of a.nonLora) {
    const c = nonLora.get(e.category) ?? { count: 0, example: e.name, reason: e.reason };
    c.count += e.count ?? 1;
    nonLora.set(e.category, c);
  }
  const conflicts = a.modules
    .filter((m) => {
      const known = m.alphaSources.filter((x) => x.alpha !== null).map((x) => x.alpha);
      return new Set(known).size > 1;
    })
    .slice(0, 50)
    .map((m) => ({ module: m.name, sources: m.alphaSources.map((x) => ({ ...x })) }));
  return {
    family: a.family,
    familyLabel: a.familyLabel,
    evidence: [...a.evidence],
    modules: a.modules.length,
    kinds: s.kinds.map((h) => ({ ...h })),
    ranks: s.ranks.map((h) => ({ ...h })),
    alphas: s.alphas.map((h) => ({ ...h })),
    scales: s.scales.map((h) => ({ ...h })),
    targets: s.targets.map((h) => ({ ...h })),
    alphaOrigins: count(a.modules.map((m) => m.alphaOrigin)),
    scaleRules: [...new Set(a.modules.map((m) => m.scaleRule))],
    layers: s.layers.map((l) => ({ stack: l.stack, indices: [...l.indices] })),
    nonLora: [...nonLora].map(([category, c]) => ({ category, ...c })),
    conflicts,
    warnings: [...a.warnings],
  };
}
