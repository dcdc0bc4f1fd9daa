/**
 * "Know the model" in one object, as `inspect --json` prints it and the Overview shows it: what the
 * file is (architecture), where its parameters sit (parts), the memory people plan with (each figure
 * with its formula), and for an adapter, the layers × module-types grid it patches.
 */
import type { CheckpointInfo } from '../formats/checkpoint.js';
import type { LoraAnalysis } from '../lora/types.js';
import { adapterCoverage, type AdapterCoverage } from './adapterCoverage.js';
import { modelFacts } from './facts.js';
import { estimateMemory, type MemoryEstimate } from './memory.js';
import { parametersByPart, type PartBreakdown } from './parts.js';
import { recognizeModel } from './recognize.js';
import type { ModelArchitecture } from './types.js';

export interface ModelReport {
  readonly architecture: ModelArchitecture;
  readonly parts: PartBreakdown;
  readonly memory: MemoryEstimate;
}

export interface AdapterModelReport {
  readonly coverage: AdapterCoverage;
  /** The base's report, when the base is known; the memory figures then use this adapter's rank. */
  readonly base: ModelReport | null;
}

/** The model report of a (base) checkpoint, from its header only. */
export function modelReport(
  info: CheckpointInfo,
  adapter?: { readonly trainableParameters: number; readonly rank: number | null },
): ModelReport {
  const architecture = recognizeModel(modelFacts(info));
  return {
    architecture,
    parts: parametersByPart(info.tensors),
    memory: estimateMemory({
      parameterCount: info.parameterCount,
      dims: architecture.dims,
      ...(adapter ? { adapter } : {}),
    }),
  };
}

/** The rank the memory figures use: the adapter's one rank, or its largest when ranks vary. */
export function adapterRank(analysis: LoraAnalysis): number | null {
  let max: number | null = null;
  for (const r of analysis.summary.ranks)
    if (r.value !== null && (max === null || r.value > max)) max = r.value;
  return max;
}

export function adapterModelReport(
  adapter: CheckpointInfo,
  analysis: LoraAnalysis,
  base: CheckpointInfo | null,
  stats?: readonly { readonly module: string; readonly norm: number | null }[],
): AdapterModelReport {
  const shapes = new Map(adapter.tensors.map((t) => [t.name, t.shape]));
  const coverage = adapterCoverage(analysis, {
    shapeOf: (t) => shapes.get(t),
    baseParameters: base?.parameterCount ?? null,
    ...(stats ? { stats } : {}),
  });
  return {
    coverage,
    base: base
      ? modelReport(base, {
          trainableParameters: coverage.trainableParameters,
          rank: adapterRank(analysis),
        })
      : null,
  };
}
