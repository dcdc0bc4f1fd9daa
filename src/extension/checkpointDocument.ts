import * as vscode from 'vscode';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { toCheckpointError, type CheckpointError } from '../core/formats/errors.js';
import type { TreeViews } from '../core/view/treeViews.js';
import type { LoraAnalysis } from '../core/lora/index.js';
import type { SummaryDto } from '../shared/protocol.js';
import { buildDocumentModel } from './documentModel.js';
import type { ModelDto } from '../shared/modelProtocol.js';
import { openUri } from './fileAccess.js';
import { log, timed } from './log.js';

export type LoadResult =
  | {
      readonly ok: true;
      readonly checkpoint: Checkpoint;
      readonly summary: SummaryDto;
      /** Built on first call (see documentModel.ts). */
      readonly tree: () => TreeViews;
      readonly eagerTree: boolean;
      readonly analysis: LoraAnalysis;
      readonly fileModel: () => ModelDto | undefined;
    }
  | { readonly ok: false; readonly error: CheckpointError };

/**
 * One open checkpoint file. It holds the parsed header (never the weights) and reloads when the file
 * changes on disk. A file that fails validation is still a document: the editor shows its error.
 */
export class CheckpointDocument implements vscode.CustomDocument {
  /** Started on first need (see result): not while VS Code is still making the editor. */
  private loaded: Promise<LoadResult> | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly watcher: vscode.FileSystemWatcher | undefined;

  constructor(readonly uri: vscode.Uri) {
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

  /**
   * The parsed file, read on the first call. The editor provider calls it once the webview's page is
   * on its way: a large header's parse holds the extension host for seconds, and started any earlier
   * it would hold up VS Code creating the editor itself (a reopened 1M-tensor file took 4 s to show
   * its frame, against 0.3 s when opened the first time).
   */
  result(): Promise<LoadResult> {
    return (this.loaded ??= this.load());
  }

  private reload(): void {
    const previous = this.loaded;
    if (!previous) return;
    this.loaded = this.load();
    void previous.then((r) => (r.ok ? r.checkpoint.close() : undefined));
    this.changed.fire();
  }

  private async load(): Promise<LoadResult> {
    try {
      const { value, ms } = await timed(`open ${this.uri.toString(true)}`, () => openUri(this.uri));
      const { checkpoint, access } = value;
      const { summary, tree, eagerTree, analysis, fileModel } = await buildDocumentModel(
        checkpoint,
        this.fileName,
        access,
        ms,
      );
      log().info(
        `${this.fileName}: ${checkpoint.tensors.length} tensors, ${checkpoint.parameterCount} parameters (${access} read)`,
      );
      return { ok: true, checkpoint, summary, tree, eagerTree, analysis, fileModel };
    } catch (e) {
      const error = toCheckpointError(e);
      log().warn(`${this.fileName}: ${error.code}: ${error.message}`);
      return { ok: false, error };
    }
  }

  dispose(): void {
    this.watcher?.dispose();
    this.changed.dispose();
    void this.loaded?.then((r) => (r.ok ? r.checkpoint.close() : undefined));
  }
}
