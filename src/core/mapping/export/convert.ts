/**
 * The conversion step of the remapped export: before names are written, split modules that patch
 * slices of one fused base parameter are fused (fuse.ts), and fused modules whose base keeps the
 * members apart are split (splitFused.ts). The result is an adapter, analysis and mapping like the
 * matcher's, every entry whole, so each naming writes them as it writes any module. Where the two
 * models differ (layer count, hidden size, projection sizes, a layout no config determines) the
 * export is refused by name; nothing is padded or guessed.
 */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import type { LoraAnalysis, LoraModule } from '../../lora/types.js';
import { buildBaseIndex, type BaseIndex } from '../baseIndex.js';
import { moduleName } from '../candidates.js';
import { FITS } from '../shapes.js';
import type { MappingEntry, MappingResult } from '../types.js';
import { withComputed, type ComputedTensor } from './computedTensors.js';
import type { ConversionRecord, ConvertedModule } from './conversion.js';
import { fuseMembers, type FuseMember } from './fuse.js';
import { findSplitMembers, splitModule } from './splitFused.js';

export interface ConvertedPair {
  readonly adapter: Checkpoint;
  readonly analysis: LoraAnalysis;
  readonly mapping: MappingResult;
  readonly conversions: readonly ConversionRecord[];
  readonly skipped: readonly { readonly module: string; readonly reason: string }[];
}

/** Why a module cannot take part in a conversion (only plain LoRA linears can), or null. */
function notConvertible(m: LoraModule): string | null {
  if (m.kind !== 'linear') return `${m.label} cannot be fused or split (only LoRA linears)`;
  if (m.dora)
    return 'DoRA magnitudes are per row of the whole weight; fusing or splitting them is not done';
  if (!m.parts.down || !m.parts.up || m.rank === null) return 'the A/B pair is incomplete';
  const extra = Object.keys(m.parts).filter((p) => !['down', 'up', 'alpha'].includes(p));
  if (extra.length) return `parts ${extra.join(', ')} cannot be fused or split`;
  if (m.scale === null) return `its scale is unknown (${m.scaleRule})`;
  return null;
}

const STACK = /(?:^|\.)(@layers|double_blocks|single_blocks)\.(\d+)(?:\.|#|$)/;
const STACK_NAMES: Readonly<Record<string, string>> = {
  '@layers': 'transformer layers',
  double_blocks: 'double blocks',
  single_blocks: 'single blocks',
};

function stackCounts(keys: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of keys) {
    const m = STACK.exec(k);
    if (m?.[1] && m[2]) out.set(m[1], Math.max(out.get(m[1]) ?? 0, Number(m[2]) + 1));
  }
  return out;
}

/** An adapter that patches more layers than the base has was made for another model. */
export function checkLayerCounts(analysis: LoraAnalysis, index: BaseIndex): void {
  const adapterKeys = analysis.modules.map((m) => moduleName(m, index).canon.key);
  const baseCounts = stackCounts(index.params.map((p) => p.canon.key));
  for (const [stack, n] of stackCounts(adapterKeys)) {
    const have = baseCounts.get(stack);
    if (have !== undefined && n > have)
      throw new CheckpointError(
        'InvalidExport',
        `the base has ${have} ${STACK_NAMES[stack] ?? stack}, the adapter ${n} (it patches index ${n - 1}): it was made for another model, and no conversion adds layers`,
        stack,
      );
  }
}

export function convertFused(
  adapter: Checkpoint,
  analysis: LoraAnalysis,
  mapping: MappingResult,
  base: Checkpoint,
): ConvertedPair {
  const index = buildBaseIndex(base);
  checkLayerCounts(analysis, index);
  const byName = new Map(analysis.modules.map((m) => [m.name, m]));
  const skipped: { module: string; reason: string }[] = [];
  const conversions: ConversionRecord[] = [];
  const computed: ComputedTensor[] = [];
  const added: ConvertedModule[] = [];
  const dropped = new Set<string>();

  // split → fused
  const groups = new Map<string, FuseMember[]>();
  for (const e of mapping.mappings) {
    if (!e.slice) continue;
    const m = byName.get(e.module);
    if (!m) continue;
    dropped.add(e.module);
    const why = notConvertible(m);
    if (why) {
      skipped.push({ module: m.name, reason: why });
      continue;
    }
    const canon = moduleName(m, index).canon;
    const part = canon.part ?? (canon.role ? canon.role.slice(1) : null);
    const list = groups.get(e.target) ?? [];
    list.push({ module: m, entry: e, part });
    groups.set(e.target, list);
  }
  for (const [target, members] of groups) {
    const t = base.tensor(target);
    const r = fuseMembers(adapter, base, t, target.replace(/\.weight$/, ''), members);
    added.push(r.converted);
    computed.push(...r.computed);
    conversions.push(r.record);
  }

  // fused → split
  const entryOf = new Map(mapping.mappings.map((e) => [e.module, e]));
  for (const m of analysis.modules) {
    if (dropped.has(m.name)) continue;
    const canon = moduleName(m, index).canon;
    if (canon.part !== null) continue;
    const found = findSplitMembers(index, canon);
    if (!found) continue;
    const e: MappingEntry | undefined = entryOf.get(m.name);
    // A user's choice stands; so does a fitting fused target of the same kind (fused → fused).
    if (e?.source === 'user') continue;
    const targetRole = e ? index.byName.get(e.target)?.canon.role : undefined;
    if (e && FITS.has(e.shapeCheck) && targetRole === canon.role) continue;
    dropped.add(m.name);
    const why = notConvertible(m);
    if (why) {
      skipped.push({ module: m.name, reason: why });
      continue;
    }
    const r = splitModule(adapter, base, m, canon, found);
    added.push(...r.converted);
    computed.push(...r.computed);
    conversions.push(r.record);
  }

  if (conversions.length === 0 && skipped.length === 0)
    return { adapter, analysis, mapping, conversions, skipped };
  return {
    adapter: withComputed(adapter, computed),
    analysis: {
      ...analysis,
      modules: [
        ...analysis.modules.filter((m) => !dropped.has(m.name)),
        ...added.map((a) => a.module),
      ],
    },
    mapping: {
      ...mapping,
      mappings: [
        ...mapping.mappings.filter((e) => !dropped.has(e.module)),
        ...added.map((a) => a.entry),
      ],
      unmatchedAdapter: mapping.unmatchedAdapter.filter((u) => !dropped.has(u)),
      conflicts: mapping.conflicts.filter((c) => !dropped.has(c.module)),
      unusedBase: mapping.unusedBase.filter((u) => !added.some((a) => a.entry.target === u)),
    },
    conversions,
    skipped,
  };
}
