import { modelReport } from '../core/model/modelReport.js';
import { coverageDto, modelDto } from './modelDto.js';
import { quantizationSummary } from '../core/formats/quant/summary.js';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { expandMetadata } from '../core/view/metadata.js';
import { TensorTree } from '../core/view/tensorTree.js';
import { moduleTree, TreeViews } from '../core/view/treeViews.js';
import { analyzeLora, type LoraAnalysis } from '../core/lora/index.js';
import { scalarReader } from '../core/lora/checkpointScalars.js';
import { loraSummaryDto } from '../core/lora/summaryDto.js';
import type { SummaryDto } from '../shared/protocol.js';
import type { ModelDto } from '../shared/modelProtocol.js';

/**
 * Up to this many tensors the tree is built before the first paint and its state rides on the `ready`
 * reply (about 45 ms at 50,000; one round trip fewer). Past it the summary is painted first and the
 * tree is built when the Tensors tab is first shown (0.8 s at 1,000,000 tensors).
 */
export const EAGER_TREE_TENSORS = 50_000;

/** What an open editor document keeps besides its checkpoint. */
export interface DocumentModel {
  readonly summary: SummaryDto;
  /** The tensor trees, built on first call. */
  readonly tree: () => TreeViews;
  /** Whether the tree is small enough to build before the first paint (EAGER_TREE_TENSORS). */
  readonly eagerTree: boolean;
  readonly analysis: LoraAnalysis;
  /** A model's report, built on first ask (it walks every tensor: at 1M tensors, seconds). */
  readonly fileModel: () => ModelDto | undefined;
}

/**
 * Everything CheckpointDocument builds from an opened checkpoint, free of vscode so benches and tests can
 * measure it: the LoRA analysis, the Overview's summary and (on demand) the tensor trees.
 */
export async function buildDocumentModel(
  checkpoint: Checkpoint,
  fileName: string,
  access: SummaryDto['access'],
  openMs: number,
): Promise<DocumentModel> {
  // Header facts plus a few alpha scalars: cheap, so every file gets its LoRA analysis.
  const analysis = await analyzeLora(checkpoint, { readScalar: scalarReader(checkpoint) });
  const lora = analysis.family === 'none' ? undefined : loraSummaryDto(analysis);
  const quantization = quantizationSummary(checkpoint);
  // A model gets "what is it" (header only, linear; asked for after the first paint); an adapter its
  // layers × modules grid.
  const hasModel = analysis.modules.length === 0;
  let model: ModelDto | undefined;
  const fileModel = () => (hasModel ? (model ??= modelDto(modelReport(checkpoint))) : undefined);
  const coverage = analysis.modules.length > 0 ? coverageDto(checkpoint, analysis) : undefined;
  const summary: SummaryDto = {
    fileName,
    format: checkpoint.format,
    fileSize: checkpoint.fileSize,
    headerBytes: checkpoint.headerByteLength,
    dataBytes: checkpoint.dataBytes,
    tensorCount: checkpoint.tensors.length,
    parameterCount: checkpoint.parameterCount,
    dtypes: checkpoint.dtypes,
    metadata: expandMetadata(checkpoint.metadata),
    configs: Object.entries(checkpoint.configs ?? {}).map(([key, value]) => ({
      key,
      value: JSON.stringify(value),
      length: 0,
      truncated: false,
      parsed: value,
    })),
    warnings: [...(checkpoint.warnings ?? [])],
    ...(lora ? { lora } : {}),
    ...(quantization ? { quantization } : {}),
    ...(hasModel ? { hasModel } : {}),
    ...(coverage ? { coverage } : {}),
    values: Object.entries(checkpoint.values ?? {})
      .slice(0, 500)
      .map(([key, value]) => ({
        key,
        value: typeof value === 'string' ? value : JSON.stringify(value),
        length: 0,
        truncated: false,
      })),
    access,
    openMs,
  };
  let views: TreeViews | undefined;
  const tree = () =>
    (views ??= new TreeViews(
      new TensorTree(checkpoint.tensors),
      // The by-module tree is only built if the user switches to it.
      analysis.modules.length ? () => moduleTree(checkpoint.tensors, analysis) : undefined,
    ));
  const eagerTree = checkpoint.tensors.length <= EAGER_TREE_TENSORS;
  return { summary, tree, eagerTree, analysis, fileModel };
}
