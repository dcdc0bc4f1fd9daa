import type { Checkpoint } from '../../formats/checkpoint.js';
import type { LoraAnalysis, LoraModule, LoraModuleKind } from '../types.js';
import type { StatsCache } from './cache.js';
import { noNorm, type DeltaFn, type DeltaResult } from './delta.js';
import { lohaDelta, lokrDelta } from './lycoris.js';
import { lowRankDelta } from './lowRank.js';
import { methodDelta } from './methodEffects.js';
import { fullDelta, multiplicativeDelta, normDelta } from './otherKinds.js';
import { PartReader } from './partReader.js';
import type { DoraStats, ModuleStats, PartStats, StatsOptions } from './types.js';

const DELTA: Partial<Record<LoraModuleKind, DeltaFn>> = {
  linear: lowRankDelta,
  conv: lowRankDelta,
  embedding: lowRankDelta,
  adalora: lowRankDelta,
  loha: lohaDelta,
  lokr: lokrDelta,
  ia3: multiplicativeDelta,
  oft: multiplicativeDelta,
  boft: multiplicativeDelta,
  full: fullDelta,
  norm: normDelta,
};

// Tensors beside the delta's factors: a NaN in them leaves the delta norm meaningful.
const SIDE_PARTS: ReadonlySet<string> = new Set([
  'alpha',
  'magnitude',
  'dora_scale',
  'up_bias',
  'ranknum',
  'diff_b',
  'b_norm',
  'on_input',
]);

export interface StatsCacheRef {
  readonly cache: StatsCache;
  /** fileKey(…) of the checkpoint the module belongs to. */
  readonly file: string;
}

export interface ModuleStatsOptions extends StatsOptions {
  /** Consulted first; filled with results that had no error. */
  readonly cache?: StatsCacheRef;
}

/**
 * Statistics of one module from its own tensors only, streamed in bounded chunks. A cache hit reads
 * nothing. Aborting rejects with the signal's reason; any other failure (an unreadable or
 * undecodable tensor) comes back as `error` with null norms.
 */
export async function computeModuleStats(
  ckpt: Checkpoint,
  module: LoraModule,
  options: ModuleStatsOptions = {},
): Promise<ModuleStats> {
  const hit = options.cache?.cache.get(options.cache.file, module.name);
  if (hit) return hit;
  options.signal?.throwIfAborted();
  const started = performance.now();
  const reader = new PartReader(ckpt, module.parts, options.chunkElements, options.signal);
  let delta: DeltaResult;
  let error: string | undefined;
  try {
    const fn = DELTA[module.kind];
    delta = fn ? await fn(reader, module, options) : await methodDelta(ckpt, module);
    await reader.readRest();
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    error = e instanceof Error ? e.message : String(e);
    delta = noNorm(`the data could not be read: ${error}`);
  }
  const parts = reader.collected();
  const stats = assemble(
    module,
    delta,
    parts,
    reader.bytesRead,
    performance.now() - started,
    error,
  );
  if (error === undefined) options.cache?.cache.set(options.cache.file, module.name, stats);
  return stats;
}

function assemble(
  m: LoraModule,
  delta: DeltaResult,
  parts: Record<string, PartStats>,
  bytesRead: number,
  ms: number,
  error: string | undefined,
): ModuleStats {
  const all = Object.entries(parts);
  const nanCount = all.reduce((n, [, p]) => n + p.nanCount, 0);
  const infCount = all.reduce((n, [, p]) => n + p.infCount, 0);
  const bad = all.filter(([part, p]) => !SIDE_PARTS.has(part) && p.nanCount + p.infCount > 0);
  const notes: string[] = [];
  let normUnscaled = delta.normUnscaled;
  if (bad.length > 0 || (normUnscaled !== null && !Number.isFinite(normUnscaled))) {
    normUnscaled = null;
    const where = bad.map(([part, p]) => `${part}: ${p.nanCount} NaN, ${p.infCount} Inf`);
    notes.push(`non-finite values (${where.join('; ') || 'overflow'})`);
  } else if (delta.note) notes.push(delta.note);
  const scale = m.scale;
  const norm = normUnscaled !== null && scale !== null ? Math.abs(scale) * normUnscaled : null;
  if (normUnscaled !== null && scale === null) notes.push('scale unknown: only normUnscaled');
  const dora = doraStats(m, parts);
  if (dora)
    notes.push(
      "excludes DoRA's magnitude: the merged weight m·(W+ΔW)/‖W+ΔW‖ needs the base weight",
    );
  const spectrum = normUnscaled !== null ? delta.spectrum : undefined;
  const top = spectrum?.singularValues[0];
  return {
    module: m.name,
    kind: m.kind,
    norm,
    normUnscaled,
    ...(notes.length ? { normNote: notes.join('; ') } : {}),
    effectiveScale: scale,
    ...(spectrum && top !== undefined
      ? { spectralNorm: scale === null ? null : Math.abs(scale) * top, spectrum }
      : {}),
    maxAbs: Object.fromEntries(all.map(([part, p]) => [part, p.maxAbs])),
    parts,
    nanCount,
    infCount,
    zeroB: zeroB(m, parts),
    ...(dora ? { dora } : {}),
    bytesRead,
    ms: Math.round(ms * 1000) / 1000,
    ...(error !== undefined ? { error } : {}),
  };
}

const allZero = (p: PartStats | undefined): boolean =>
  p !== undefined && p.count > 0 && p.zeroCount === p.count;

/**
 * The factor trainers initialise to zero is all zeros, so the delta is exactly zero: B / lora_up
 * for LoRA pairs, lora_embedding_A for PEFT embeddings (PEFT zeroes A there), and any factor for
 * LoHa / LoKr (PEFT and LyCORIS zero different ones).
 */
function zeroB(m: LoraModule, parts: Record<string, PartStats>): boolean {
  const entries = Object.entries(parts);
  switch (m.kind) {
    case 'linear':
    case 'conv':
    case 'adalora': {
      const ups = entries.filter(([part]) => part === 'up' || part.startsWith('up.'));
      return ups.length > 0 && ups.every(([, p]) => allZero(p));
    }
    case 'embedding':
      return allZero(parts['down']);
    case 'loha':
    case 'lokr':
      return entries.some(([part, p]) => /^(hada|lokr)_[wt]/.test(part) && allZero(p));
    default:
      return false;
  }
}

function doraStats(m: LoraModule, parts: Record<string, PartStats>): DoraStats | undefined {
  if (!m.dora) return undefined;
  const part = parts['magnitude'] ? 'magnitude' : 'dora_scale';
  const p = parts[part];
  return {
    part,
    axis: m.dora.axis,
    min: p?.min ?? null,
    max: p?.max ?? null,
    mean: p?.mean ?? null,
  };
}

export interface StatsProgress {
  readonly done: number;
  readonly total: number;
  readonly module: string;
  readonly cached: boolean;
}

export interface AllStatsOptions extends ModuleStatsOptions {
  readonly onProgress?: (p: StatsProgress) => void;
  /** Modules in flight at once (default 1, at most 8): memory is O(concurrency × chunk). */
  readonly concurrency?: number;
  /** Only these module names (default: all). */
  readonly modules?: readonly string[];
}

/**
 * Stats of every module (or those named), in analysis order. Modules run one at a time or a few
 * side by side; aborting stops between reads and rejects with the signal's reason.
 */
export async function computeAllStats(
  ckpt: Checkpoint,
  analysis: LoraAnalysis,
  options: AllStatsOptions = {},
): Promise<ModuleStats[]> {
  const wanted = options.modules ? new Set(options.modules) : undefined;
  const modules = analysis.modules.filter((m) => !wanted || wanted.has(m.name));
  const out: ModuleStats[] = new Array<ModuleStats>(modules.length);
  const workers = Math.min(8, Math.max(1, Math.floor(options.concurrency ?? 1)));
  let next = 0;
  let done = 0;
  const work = async (): Promise<void> => {
    while (next < modules.length) {
      const i = next++;
      const m = modules[i] as LoraModule;
      const cached = options.cache?.cache.get(options.cache.file, m.name) !== undefined;
      out[i] = await computeModuleStats(ckpt, m, options);
      options.onProgress?.({ done: ++done, total: modules.length, module: m.name, cached });
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, modules.length) }, work));
  return out;
}
