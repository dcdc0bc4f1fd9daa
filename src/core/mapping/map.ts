/**
 * mapAdapter: which base parameter each LoRA module patches, how sure we are, and what is left over
 * on both sides (in the spirit of load_state_dict(strict=False)). Pure and header-only: names,
 * shapes and ONNX consumers, never tensor data.
 */
import type { CheckpointInfo } from '../formats/checkpoint.js';
import type { LoraAnalysis, LoraModule } from '../lora/types.js';
import { buildBaseIndex, type BaseIndex } from './baseIndex.js';
import { assignMaxWeight } from './assign.js';
import { findCandidates, moduleName, type Candidate } from './candidates.js';
import { describeFit, fitShape, FITS, type ShapeFit } from './shapes.js';
import type {
  ConfidenceLevel,
  MappingCandidate,
  MappingConflict,
  MappingEntry,
  MappingOverride,
  MappingResult,
} from './types.js';

export interface MapOptions {
  readonly overrides?: readonly MappingOverride[];
  /** Confidence at or above which a mapping is `high` (default 0.9). */
  readonly highConfidence?: number;
  /** How many alternatives each entry lists (default 3). */
  readonly alternatives?: number;
}

export const DEFAULT_HIGH_CONFIDENCE = 0.9;
const MEDIUM = 0.6;
/** Candidates below this are not worth suggesting as a mapping. */
const MIN_CONFIDENCE = 0.05;

export function levelOf(confidence: number, fit: ShapeFit['check'], high: number): ConfidenceLevel {
  // The one hard rule: a mapping whose shapes do not fit (or cannot be checked) is never high.
  if (confidence >= high && FITS.has(fit)) return 'high';
  return confidence >= Math.min(MEDIUM, high) ? 'medium' : 'low';
}

const toCandidate = (c: Candidate): MappingCandidate => ({
  target: c.param.name,
  confidence: c.confidence,
  reason: c.reason(),
  shapeCheck: c.fit.check,
  transposed: c.fit.transposed,
  slice: c.fit.slice,
});

function userEntry(
  m: LoraModule,
  o: MappingOverride & { target: string },
  index: BaseIndex,
  base: CheckpointInfo,
  high: number,
): MappingEntry {
  const p = index.byName.get(o.target);
  const shape = p?.shape ?? base.tensors.find((t) => t.name === o.target)?.shape ?? null;
  let fit: ShapeFit = {
    check: 'unknown',
    transposed: o.transposed ?? false,
    slice: o.slice ?? null,
  };
  if (shape) {
    if (o.slice) {
      const rows = o.slice.end - o.slice.start;
      const cols = shape[o.slice.axis === 0 ? 1 : 0];
      const ok = rows === m.outFeatures && cols === m.inFeatures;
      fit = {
        check: ok ? 'slice' : 'mismatch',
        transposed: o.transposed ?? o.slice.axis === 1,
        slice: o.slice,
      };
    } else {
      const f = fitShape(m, shape, o.transposed ?? p?.storedTransposed ?? false, null);
      fit = { ...f, transposed: o.transposed ?? f.transposed };
    }
  }
  const confidence = fit.check === 'mismatch' ? 0.45 : fit.check === 'unknown' ? 0.85 : 1;
  const where = shape ? describeFit(m, shape, fit) : `${o.target} is not a tensor of the base`;
  return {
    module: m.name,
    target: o.target,
    confidence,
    level: levelOf(confidence, fit.check, high),
    reason: `user override; ${where}`,
    shapeCheck: fit.check,
    transposed: fit.transposed,
    slice: fit.slice,
    source: 'user',
    alternatives: [],
  };
}

export function mapAdapter(
  adapter: { readonly analysis: LoraAnalysis; readonly info: CheckpointInfo },
  base: CheckpointInfo,
  options: MapOptions = {},
): MappingResult {
  return mapAdapterOnIndex(adapter, base, buildBaseIndex(base), options);
}

/** mapAdapter on an index already built from `base` (the differential test hands it a reference index). */
export function mapAdapterOnIndex(
  adapter: { readonly analysis: LoraAnalysis; readonly info: CheckpointInfo },
  base: CheckpointInfo,
  index: BaseIndex,
  options: MapOptions = {},
): MappingResult {
  const high = options.highConfidence ?? DEFAULT_HIGH_CONFIDENCE;
  const nAlt = Math.max(0, options.alternatives ?? 3);
  const overrides = new Map<string, MappingOverride>();
  for (const o of options.overrides ?? []) overrides.set(o.module, o);
  const modules = adapter.analysis.modules;

  // Columns claimed by the user are out of the matcher's reach.
  const userColumns = new Set<string>();
  for (const o of overrides.values())
    if (o.target !== null)
      userColumns.add(o.slice ? `${o.target}#${o.slice.start}-${o.slice.end}` : o.target);
  const userTargets = new Set([...overrides.values()].map((o) => o.target));

  const candidates: Candidate[][] = modules.map((m) => {
    if (overrides.has(m.name)) return [];
    const found = findCandidates(m, moduleName(m, index), index, Math.max(6, nAlt + 1));
    return found.filter(
      (c) =>
        c.confidence >= MIN_CONFIDENCE && !userColumns.has(c.column) && !userTargets.has(c.column),
    );
  });
  const chosen = assignMaxWeight(
    candidates.map((cs) => cs.map((c) => ({ column: c.column, weight: c.confidence }))),
  );
  const claimedBy = new Map<string, string>();
  modules.forEach((m, i) => {
    const c = candidates[i]?.[chosen[i] ?? -1];
    if (c) claimedBy.set(c.column, m.name);
  });

  const mappings: MappingEntry[] = [];
  const unmatchedAdapter: string[] = [];
  const conflicts: MappingConflict[] = [];
  const used = new Set<string>();
  modules.forEach((m, i) => {
    const o = overrides.get(m.name);
    if (o) {
      if (o.target === null) {
        unmatchedAdapter.push(m.name);
        return;
      }
      const entry = userEntry(m, { ...o, target: o.target }, index, base, high);
      if (entry.shapeCheck === 'mismatch')
        conflicts.push({
          module: m.name,
          target: o.target,
          reason: `user override: ${entry.reason}`,
        });
      used.add(o.target);
      mappings.push(entry);
      return;
    }
    const cs = candidates[i] ?? [];
    const c = cs[chosen[i] ?? -1];
    const best = cs[0];
    if (!c) {
      unmatchedAdapter.push(m.name);
      if (best) {
        const by = claimedBy.get(best.column);
        conflicts.push({
          module: m.name,
          target: best.param.name,
          reason: `best candidate is taken by ${by ?? 'a user override'}; ${best.reason()}`,
        });
      }
      return;
    }
    if (best && best !== c && best.confidence > c.confidence) {
      conflicts.push({
        module: m.name,
        target: best.param.name,
        reason: `contested: ${claimedBy.get(best.column) ?? 'another module'} holds it; this module takes its next best`,
      });
    }
    if (c.fit.check === 'mismatch')
      conflicts.push({
        module: m.name,
        target: c.param.name,
        reason: `shape conflict: ${c.reason()}`,
      });
    used.add(c.param.name);
    mappings.push({
      module: m.name,
      ...toCandidate(c),
      level: levelOf(c.confidence, c.fit.check, high),
      source: 'matcher',
      alternatives: cs
        .filter((x) => x !== c)
        .slice(0, nAlt)
        .map(toCandidate),
    });
  });
  const unusedBase = index.usualNames().filter((name) => !used.has(name));
  return { mappings: withTargetQuant(mappings, base), unmatchedAdapter, unusedBase, conflicts };
}

/** Says which quantization scheme each target uses: the mapping matched its logical shape. */
function withTargetQuant(mappings: MappingEntry[], base: CheckpointInfo): MappingEntry[] {
  if (!base.tensors.some((t) => t.quant)) return mappings;
  const quant = new Map(base.tensors.filter((t) => t.quant).map((t) => [t.name, t.quant]));
  return mappings.map((e) => {
    const q = quant.get(e.target);
    return q ? { ...e, targetQuant: q.label } : e;
  });
}
