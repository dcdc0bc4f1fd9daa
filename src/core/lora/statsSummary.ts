import type { StatsDto } from '../../shared/protocol.js';
import { layerRows, layerTotals, type ModuleStats } from './stats/index.js';
import type { LoraAnalysis } from './types.js';

/** Problems the numbers show: NaN/Inf, untrained adapters, unreadable modules. */
export function statsWarnings(stats: readonly ModuleStats[]): string[] {
  const out: string[] = [];
  const nan = stats.filter((s) => s.nanCount > 0);
  const inf = stats.filter((s) => s.infCount > 0);
  const zero = stats.filter((s) => s.zeroB);
  const failed = stats.filter((s) => s.error !== undefined);
  const few = (xs: readonly ModuleStats[]) =>
    xs
      .slice(0, 3)
      .map((s) => s.module)
      .join(', ') + (xs.length > 3 ? ', …' : '');
  if (nan.length) out.push(`NaN in ${nan.length} module(s): ${few(nan)}`);
  if (inf.length) out.push(`Inf in ${inf.length} module(s): ${few(inf)}`);
  if (zero.length) {
    out.push(
      zero.length === stats.length
        ? 'every module has an all-zero B (lora_up): the adapter is untrained and changes nothing'
        : `${zero.length} module(s) have an all-zero B (lora_up), so they change nothing: ${few(zero)}`,
    );
  }
  if (failed.length)
    out.push(`${failed.length} module(s) could not be read: ${failed[0]?.error ?? ''}`);
  return out;
}

/** What the editor's chart and warnings need; rows are one per module, small enough for any adapter. */
export function statsDto(
  stats: readonly ModuleStats[],
  analysis: LoraAnalysis,
  ms: number,
): StatsDto {
  const rows = layerRows(stats, analysis);
  return {
    modules: stats.length,
    ms,
    rows: rows.map((r) => ({
      module: r.module,
      layer: r.layer,
      stack: r.stack ?? null,
      type: r.type,
      scale: r.scale,
      norm: r.norm,
    })),
    totals: layerTotals(rows).map((t) => ({
      layer: t.layer,
      stack: t.stack ?? null,
      norm: t.norm,
      byType: { ...t.byType },
      unknown: t.unknown,
    })),
    warnings: statsWarnings(stats),
  };
}
