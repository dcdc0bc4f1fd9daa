import { modelReport } from '../core/model/modelReport.js';
import { coverageDto, modelDto } from './modelDto.js';
import { quantizationSummary } from '../core/formats/quant/summary.js';
import * as vscode from 'vscode';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { toCheckpointError, type CheckpointError } from '../core/formats/errors.js';
import { expandMetadata } from '../core/view/metadata.js';
import { TensorTree } from '../core/view/tensorTree.js';
import { moduleTree, TreeViews } from '../core/view/treeViews.js';
import { analyzeLora, type LoraAnalysis } from '../core/lora/index.js';
import { scalarReader } from '../core/lora/checkpointScalars.js';
import { loraSummaryDto } from '../core/lora/summaryDto.js';
import type { SummaryDto } from '../shared/protocol.js';
import { openUri } from './fileAccess.js';
import { log, timed } from './log.js';

export type LoadResult =
  | {
      readonly ok: true;
      readonly checkpoint: Checkpoint;
      readonly summary: SummaryDto;
      readonly tree: TreeViews;
      readonly analysis: LoraAnalysis;
    }
  | { readonly ok: false; readonly error: CheckpointError };

/**
 * One open checkpoint file. It holds the parsed header (never the weights) and reloads when the file
 * changes on disk. A file that fails validation is still a document: the editor shows its error.
 */
export class CheckpointDocument implements vscode.CustomDocument {
  private loaded: Promise<LoadResult>;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly watcher: vscode.FileSystemWatcher | undefined;

  constructor(readonly uri: vscode.Uri) {
    this.loaded = this.load();
    if (uri.scheme === 'file') {
      const folder = vscode.Uri.joinPath(uri, '..');
      const name = uri.path.slice(uri.path.lastIndexOf('/') + 1);
      this.watcher = vscode.workspace.createFileSystemWatcher(
        new vscode.RelativePattern(folder, name),
      );
      const reload = () => this.reload();
      this.watcher.onDidChange(reload);
      this.watcher.onDidCreate(reload);
      this.watcher.onDidDelete(reload);
    }
  }

  get fileName(): string {
    return this.uri.path.slice(this.uri.path.lastIndexOf('/') + 1);
  }

  result(): Promise<LoadResult> {
    return this.loaded;
  }

  private reload(): void {
    const previous = this.loaded;
    this.loaded = this.load();
    void previous.then((r) => (r.ok ? r.checkpoint.close() : undefined));
    this.changed.fire();
  }

  private async load(): Promise<LoadResult> {
    try {
      const { value, ms } = await timed(`open ${this.uri.toString(true)}`, () => openUri(this.uri));
      const { checkpoint, access } = value;
      // Header facts plus a few alpha scalars: cheap, so every file gets its LoRA analysis.
      const analysis = await analyzeLora(checkpoint, { readScalar: scalarReader(checkpoint) });
      const lora = analysis.family === 'none' ? undefined : loraSummaryDto(analysis);
      const quantization = quantizationSummary(checkpoint);
      // A model gets "what is it" (header only, linear); an adapter its layers × modules grid.
      const model = analysis.modules.length === 0 ? modelDto(modelReport(checkpoint)) : undefined;
      const coverage = analysis.modules.length > 0 ? coverageDto(checkpoint, analysis) : undefined;
      const summary: SummaryDto = {
        fileName: this.fileName,
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
        ...(model ? { model } : {}),
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
        openMs: ms,
      };
      const tree = new TreeViews(
        new TensorTree(checkpoint.tensors),
        analysis.modules.length ? moduleTree(checkpoint.tensors, analysis) : undefined,
      );
      log().info(
        `${this.fileName}: ${checkpoint.tensors.length} tensors, ${checkpoint.parameterCount} parameters (${access} read)`,
      );
      return { ok: true, checkpoint, summary, tree, analysis };
    } catch (e) {
      const error = toCheckpointError(e);
      log().warn(`${this.fileName}: ${error.code}: ${error.message}`);
      return { ok: false, error };
    }
  }

  dispose(): void {
    this.watcher?.dispose();
    this.changed.dispose();
    void this.loaded.then((r) => (r.ok ? r.checkpoint.close() : undefined));
  }
}
