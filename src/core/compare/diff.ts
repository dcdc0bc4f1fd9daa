/**
 * diffCheckpoints: what differs between two checkpoints of any format the readers open. Header-only
 * (and the 0-d alpha scalars) unless norms are asked for; then each paired module's factors are read
 * once from each file.
 */
import type { Checkpoint, CheckpointInfo } from '../formats/checkpoint.js';
import { scalarReader } from '../lora/checkpointScalars.js';
import { analyzeLora } from '../lora/index.js';
import type { LoraAnalysis } from '../lora/types.js';
import { DEFAULT_TOLERANCE } from './tolerance.js';
import { adapterDiff, pairModuleTensors } from './adapterDiff.js';
import { DEFAULT_MAX_DENSE_ELEMENTS, moduleNorm } from './deltaNorms.js';
import { KeyMatcher } from './keyDiff.js';
import { MAX_MAPPED, pairModules, type ModulePairing } from './modulePairs.js';
import type {
  DiffCounts,
  AdapterDiff,
  DiffReport,
  DifferenceKind,
  KeyDiff,
  ModuleNorm,
  NormDiff,
  SideSummary,
} from './types.js';

export { DEFAULT_TOLERANCE } from './tolerance.js';

export interface DiffOptions {
  /** Compute ‖ΔW_A − ΔW_B‖ per module pair (reads the factors). */
  readonly norms?: boolean;
  readonly tolerance?: number;
  /** Renamed keys (and alpha scalars that only move the alpha) do not make the checkpoints differ. */
  readonly ignoreRenames?: boolean;
  readonly maxDenseElements?: number;
  /** Unpaired modules a side above which the mapping engine is not run. */
  readonly maxMapped?: number;
  readonly signal?: AbortSignal;
}

export interface HeaderDiff {
  readonly keys: KeyDiff;
  readonly adapters: AdapterDiff | null;
  readonly pairing: ModulePairing | null;
}

const isAdapter = (x: LoraAnalysis | null): x is LoraAnalysis => x !== null && x.modules.length > 0;

/** Keys and modules, from the headers and analyses alone. */
export function diffHeaders(
  a: { info: CheckpointInfo; analysis: LoraAnalysis | null },
  b: { info: CheckpointInfo; analysis: LoraAnalysis | null },
  options: Pick<DiffOptions, 'maxMapped'> = {},
): HeaderDiff {
  const keys = new KeyMatcher(a.info.tensors, b.info.tensors);
  let adapters: AdapterDiff | null = null;
  let pairing: ModulePairing | null = null;
  let alphaOf = new Map<string, string>();
  if (isAdapter(a.analysis) && isAdapter(b.analysis)) {
    pairing = pairModules(
      a.analysis,
      b.analysis,
      { a: a.info, b: b.info },
      options.maxMapped ?? MAX_MAPPED,
    );
    alphaOf = pairModuleTensors(pairing, keys);
    adapters = adapterDiff(a.analysis, b.analysis, pairing);
  }
  // A module's tensors are paired with their module or not at all: half a module is no rename.
  const moduleTensors = new Set<string>();
  for (const l of [a.analysis, b.analysis])
    for (const m of l?.modules ?? []) for (const t of m.tensors) moduleTensors.add(t);
  keys.pairByNormalizedName(moduleTensors);
  return { keys: keys.result(alphaOf), adapters, pairing };
}

/** The categories found; with ignoreRenames, renames and alpha scalars that only moved do not count. */
export function differencesOf(
  h: Pick<HeaderDiff, 'keys' | 'adapters'>,
  norms: NormDiff | null,
  ignoreRenames: boolean,
): DifferenceKind[] {
  const out: DifferenceKind[] = [];
  const counts = (list: readonly { alphaOf?: string }[]): boolean =>
    list.some((k) => !(ignoreRenames && k.alphaOf !== undefined));
  if (counts(h.keys.onlyA)) out.push('keys-only-in-a');
  if (counts(h.keys.onlyB)) out.push('keys-only-in-b');
  if (h.keys.changed.length > 0) out.push('shape-or-dtype');
  if (!ignoreRenames && h.keys.renamed.length > 0) out.push('renamed');
  if (h.adapters && h.adapters.changes.length > 0) out.push('module-settings');
  if (norms && norms.changed > 0) out.push('norms');
  return out;
}

function countsOf(h: Pick<HeaderDiff, 'keys' | 'adapters'>, norms: NormDiff | null): DiffCounts {
  return {
    same: h.keys.same,
    onlyA: h.keys.onlyA.length,
    onlyB: h.keys.onlyB.length,
    changed: h.keys.changed.length,
    renamed: h.keys.renamed.length,
    modulePairs: h.adapters?.pairs.length ?? 0,
    moduleChanges: h.adapters?.changes.length ?? 0,
    modulesOnlyA: h.adapters?.onlyA.length ?? 0,
    modulesOnlyB: h.adapters?.onlyB.length ?? 0,
    normsChanged: norms?.changed ?? 0,
    normsNotComputed: norms?.notComputed ?? 0,
  };
}

/** The report with every list cut to its first `limit` entries (counts stay whole). */
export function limitReport(r: DiffReport, limit: number): DiffReport {
  let cut = false;
  const first = <T>(list: readonly T[]): readonly T[] => {
    if (list.length <= limit) return list;
    cut = true;
    return list.slice(0, limit);
  };
  const keys: KeyDiff = {
    same: r.keys.same,
    onlyA: first(r.keys.onlyA),
    onlyB: first(r.keys.onlyB),
    changed: first(r.keys.changed),
    renamed: first(r.keys.renamed),
  };
  const adapters: AdapterDiff | null = r.adapters && {
    ...r.adapters,
    pairs: first(r.adapters.pairs),
    onlyA: first(r.adapters.onlyA),
    onlyB: first(r.adapters.onlyB),
    changes: first(r.adapters.changes),
  };
  const norms: NormDiff | null = r.norms && { ...r.norms, modules: first(r.norms.modules) };
  return { ...r, keys, adapters, norms, truncated: r.truncated || cut };
}

function side(path: string, c: CheckpointInfo, analysis: LoraAnalysis | null): SideSummary {
  return {
    path,
    format: c.format,
    tensors: c.tensors.length,
    family: analysis?.family ?? 'none',
    modules: analysis?.modules.length ?? 0,
  };
}

async function analyse(c: Checkpoint): Promise<LoraAnalysis> {
  return analyzeLora(c, { readScalar: scalarReader(c) });
}

async function normsOf(
  ckpts: { a: Checkpoint; b: Checkpoint },
  pairing: ModulePairing | null,
  options: DiffOptions,
): Promise<NormDiff> {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  if (!pairing)
    return {
      tolerance,
      modules: [],
      changed: 0,
      notComputed: 0,
      note: 'norms compare adapter modules: one of the checkpoints has no LoRA modules',
    };
  const modules: ModuleNorm[] = [];
  for (const p of pairing.pairs) {
    options.signal?.throwIfAborted();
    modules.push(
      await moduleNorm(ckpts, p, tolerance, options.maxDenseElements ?? DEFAULT_MAX_DENSE_ELEMENTS),
    );
  }
  return {
    tolerance,
    modules,
    changed: modules.filter((m) => m.changed).length,
    notComputed: modules.filter((m) => m.diff === null).length,
  };
}

export async function diffCheckpoints(
  a: { path: string; checkpoint: Checkpoint },
  b: { path: string; checkpoint: Checkpoint },
  options: DiffOptions = {},
): Promise<DiffReport> {
  const [la, lb] = [await analyse(a.checkpoint), await analyse(b.checkpoint)];
  const h = diffHeaders(
    { info: a.checkpoint, analysis: la },
    { info: b.checkpoint, analysis: lb },
    options,
  );
  const norms = options.norms
    ? await normsOf({ a: a.checkpoint, b: b.checkpoint }, h.pairing, options)
    : null;
  const ignoreRenames = options.ignoreRenames === true;
  const differences = differencesOf(h, norms, ignoreRenames);
  return {
    a: side(a.path, a.checkpoint, la),
    b: side(b.path, b.checkpoint, lb),
    differ: differences.length > 0,
    differences,
    ignoreRenames,
    counts: countsOf(h, norms),
    truncated: false,
    keys: h.keys,
    adapters: h.adapters,
    norms,
  };
}
