/** core/model's reports as the Overview's DTOs (modelProtocol.ts): trimmed, bounded, plain data. */
import type { CheckpointInfo } from '../core/formats/checkpoint.js';
import type { LoraAnalysis } from '../core/lora/types.js';
import { adapterCoverage } from '../core/model/adapterCoverage.js';
import { toCheckpointError } from '../core/formats/errors.js';
import { adapterTarget } from '../core/model/adapterTarget.js';
import { adapterModelReport, type ModelReport } from '../core/model/modelReport.js';
import type { BaseModelDto, CoverageDto, ModelDto } from '../shared/modelProtocol.js';

/** Grid rows sent at most: deeper adapters are rare, and the Tensors tab lists every module. */
export const MAX_GRID_ROWS = 2000;

export function modelDto(r: ModelReport): ModelDto {
  const a = r.architecture;
  return {
    architecture: {
      family: a.family,
      variant: a.variant,
      kind: a.kind,
      evidence: a.evidence,
      dims: a.dims,
      undetermined: a.undetermined,
      components: a.components.map((c) => ({
        prefix: c.prefix,
        family: c.family,
        variant: c.variant,
        kind: c.kind,
        tensorCount: c.tensorCount,
        parameterCount: c.parameterCount,
      })),
    },
    parts: {
      parameters: r.parts.parameters,
      parts: r.parts.parts.map((p) => ({ part: p.part, label: p.label, parameters: p.parameters })),
    },
    memory: { figures: r.memory.figures },
  };
}

export function coverageDto(info: CheckpointInfo, analysis: LoraAnalysis): CoverageDto {
  const shapes = new Map(info.tensors.map((t) => [t.name, t.shape]));
  const c = adapterCoverage(analysis, { shapeOf: (t) => shapes.get(t) });
  return {
    columns: c.columns,
    rows: c.rows.slice(0, MAX_GRID_ROWS).map((r) => ({
      key: r.key,
      label: r.label,
      cells: Object.fromEntries(
        Object.entries(r.cells).map(([k, cell]) => [
          k,
          { module: cell.module, rank: cell.rank, norm: cell.norm },
        ]),
      ),
    })),
    moreRows: Math.max(0, c.rows.length - MAX_GRID_ROWS),
    modules: c.modules,
    trainableParameters: c.trainableParameters,
    trainableExact: c.trainableExact,
  };
}

/** An adapter's base model report for the Overview, or why there is none. */
export async function baseModelDto(
  ref: string | undefined,
  loaded: () => Promise<{ checkpoint: CheckpointInfo; analysis: LoraAnalysis } | undefined>,
  load: (ref: string) => Promise<CheckpointInfo>,
  messages: { noBase: string; failed: (code: string, message: string) => string },
): Promise<BaseModelDto> {
  const adapter = await loaded();
  const said = adapter ? adapterTarget(adapter.checkpoint) : null;
  const declared = said
    ? {
        family: said.family,
        variant: said.variant,
        evidence: said.evidence.map((e) => e.claim).join('; '),
      }
    : null;
  if (!ref) return { base: null, model: null, note: messages.noBase, declared };
  try {
    const base = await load(ref);
    if (!adapter) return { base: ref, model: null, note: null, declared };
    const r = adapterModelReport(adapter.checkpoint, adapter.analysis, base);
    return { base: ref, model: r.base ? modelDto(r.base) : null, note: null, declared };
  } catch (e) {
    const err = toCheckpointError(e);
    return { base: ref, model: null, note: messages.failed(err.code, err.message), declared };
  }
}
