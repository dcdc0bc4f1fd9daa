import { naturalCompare } from '../../view/naturalSort.js';
import { targetType } from '../targets.js';
import type { LoraAnalysis, LoraModuleKind } from '../types.js';
import type { ModuleStats } from './types.js';

/** One module as the "scale × norm per layer and per module type" chart draws it. */
export interface LayerRow {
  readonly module: string;
  /** Layer / block index; null for modules outside a numbered stack (embeddings, heads). */
  readonly layer: number | null;
  /** The numbered stack (`model.layers`, `double_blocks`); absent when layer is null. */
  readonly stack?: string;
  readonly group?: string;
  /** Module type: q_proj, to_k, img_attn_qkv, … */
  readonly type: string;
  readonly kind: LoraModuleKind;
  readonly scale: number | null;
  /** ‖scale·ΔW‖_F (null when unknown). */
  readonly norm: number | null;
  readonly normUnscaled: number | null;
}

/** One layer of one stack (and group): its modules' deltas together. */
export interface LayerTotal {
  readonly layer: number | null;
  readonly stack?: string;
  readonly group?: string;
  readonly modules: number;
  /** √Σ norm²: the Frobenius norm of all the layer's deltas taken as one. */
  readonly norm: number;
  /** Σ norm, for stacked bars. */
  readonly sum: number;
  /** Modules whose norm is unknown (not in either total). */
  readonly unknown: number;
  /** Module type → √Σ norm² of that type in this layer. */
  readonly byType: Readonly<Record<string, number>>;
}

/** Rows for every module that has stats, ordered by group, stack, layer (null last), type. */
export function layerRows(stats: readonly ModuleStats[], analysis: LoraAnalysis): LayerRow[] {
  const byName = new Map(stats.map((s) => [s.module, s]));
  const rows: LayerRow[] = [];
  for (const m of analysis.modules) {
    const s = byName.get(m.name);
    if (!s) continue;
    rows.push({
      module: m.name,
      layer: m.layer?.index ?? null,
      ...(m.layer ? { stack: m.layer.stack } : {}),
      ...(m.group !== undefined ? { group: m.group } : {}),
      type: targetType(m.target, m.group),
      kind: m.kind,
      scale: s.effectiveScale,
      norm: s.norm,
      normUnscaled: s.normUnscaled,
    });
  }
  return rows.sort(
    (a, b) =>
      naturalCompare(a.group ?? '', b.group ?? '') ||
      Number(a.layer === null) - Number(b.layer === null) ||
      naturalCompare(a.stack ?? '', b.stack ?? '') ||
      compareLayer(a.layer, b.layer) ||
      naturalCompare(a.type, b.type) ||
      naturalCompare(a.module, b.module),
  );
}

const compareLayer = (a: number | null, b: number | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b;

/** Per-layer totals of rows from layerRows, in the same order. */
export function layerTotals(rows: readonly LayerRow[]): LayerTotal[] {
  const groups = new Map<string, LayerRow[]>();
  for (const r of rows) {
    const key = JSON.stringify([r.group ?? null, r.stack ?? null, r.layer]);
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  return [...groups.values()].map((list) => {
    const first = list[0] as LayerRow;
    const squares = new Map<string, number>();
    let squared = 0;
    let sum = 0;
    let unknown = 0;
    for (const r of list) {
      if (r.norm === null) {
        unknown++;
        continue;
      }
      squared += r.norm ** 2;
      sum += r.norm;
      squares.set(r.type, (squares.get(r.type) ?? 0) + r.norm ** 2);
    }
    return {
      layer: first.layer,
      ...(first.stack !== undefined ? { stack: first.stack } : {}),
      ...(first.group !== undefined ? { group: first.group } : {}),
      modules: list.length,
      norm: Math.sqrt(squared),
      sum,
      unknown,
      byType: Object.fromEntries([...squares].map(([t, s]) => [t, Math.sqrt(s)])),
    };
  });
}
