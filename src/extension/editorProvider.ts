import * as vscode from 'vscode';
import { CheckpointError } from '../core/formats/errors.js';
import { metadataEntry } from '../core/view/metadata.js';
import {
  HostEndpoint,
  type Message,
  type ReadyResult,
  type TreeStateDto,
} from '../shared/protocol.js';
import { CheckpointDocument, type LoadResult } from './checkpointDocument.js';
import { log } from './log.js';
import { CheckpointStatusBar } from './statusBar.js';
import { StatsService } from './statsService.js';
import { BaseModels } from './baseModels.js';
import { MappingSession } from './mappingSession.js';
import { editorHtml, webviewOptions } from './webviewHtml.js';

export const VIEW_TYPE = 'loraLens.checkpoint';
/** The same editor, offered through "Open With…" for formats other tools also open. */
export const OTHER_VIEW_TYPE = 'loraLens.checkpointOther';

export function viewTypeFor(uri: { path: string }): string {
  return /\.safetensors$/i.test(uri.path) ? VIEW_TYPE : OTHER_VIEW_TYPE;
}
const MAX_ROWS_PER_REQUEST = 2000;

/** Read-only editor for checkpoint files. All parsing stays here; the webview pages through rows. */
export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  private active: CheckpointDocument | undefined;
  private readonly panels = new Map<
    vscode.WebviewPanel,
    { document: CheckpointDocument; endpoint: HostEndpoint }
  >();

  readonly status = new CheckpointStatusBar();

  private readonly sessions = new WeakMap<CheckpointDocument, MappingSession>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly stats: StatsService,
    readonly bases: BaseModels,
    private readonly workspaceState: vscode.Memento,
  ) {}

  static register(context: vscode.ExtensionContext): CheckpointEditorProvider {
    const bases = new BaseModels(context);
    const provider = new CheckpointEditorProvider(
      context.extensionUri,
      new StatsService(context.globalStorageUri),
      bases,
      context.workspaceState,
    );
    context.subscriptions.push(provider.status, bases);
    for (const viewType of [VIEW_TYPE, OTHER_VIEW_TYPE]) {
      context.subscriptions.push(
        vscode.window.registerCustomEditorProvider(viewType, provider, {
          supportsMultipleEditorsPerDocument: true,
          webviewOptions: { retainContextWhenHidden: false },
        }),
      );
    }
    return provider;
  }

  /** The mapping of a document onto its base model (one per document, shared by its editors). */
  session(document: CheckpointDocument): MappingSession {
    let session = this.sessions.get(document);
    if (!session) {
      session = new MappingSession(document, this.bases, this.workspaceState);
      this.sessions.set(document, session);
      session.onDidChange(() => {
        this.updateMappingContext();
        for (const { document: d, endpoint } of this.panels.values())
          if (d === document) endpoint.notify('mappingChanged', {});
      });
    }
    return session;
  }

  /** `loraLens.hasMapping`: the export commands show only when there is something to export. */
  private updateMappingContext(): void {
    const has = this.active !== undefined && this.sessions.get(this.active)?.hasMapping === true;
    void vscode.commands.executeCommand('setContext', 'loraLens.hasMapping', has);
  }

  /** "Select Base Model…" from the palette or the editor title. */
  async selectBaseForActive(): Promise<void> {
    const document = this.active;
    if (!document) {
      void vscode.window.showWarningMessage(
        'LoRA Lens: open an adapter in the LoRA Lens editor first.',
      );
      return;
    }
    await this.session(document).choose();
  }

  /** The document of the LoRA Lens editor in focus, if any. */
  get activeDocument(): CheckpointDocument | undefined {
    return this.active;
  }

  focusFilter(): void {
    for (const [panel, { endpoint }] of this.panels)
      if (panel.active) endpoint.notify('focusFilter', {});
  }

  openCustomDocument(uri: vscode.Uri): CheckpointDocument {
    return new CheckpointDocument(uri);
  }

  resolveCustomEditor(document: CheckpointDocument, panel: vscode.WebviewPanel): void {
    const webview = panel.webview;
    webview.options = webviewOptions(this.extensionUri);
    webview.html = editorHtml(webview, this.extensionUri, document.fileName);

    const post = (m: Message) => void webview.postMessage(m);
    const loaded = async (): Promise<Extract<LoadResult, { ok: true }>> => {
      const r = await document.result();
      if (!r.ok) throw r.error;
      return r;
    };
    const tree = async (which?: 'file' | 'base') =>
      which === 'base' ? this.session(document).baseTree() : (await loaded()).tree;
    const endpoint = new HostEndpoint(post, {
      ready: async (): Promise<ReadyResult> => {
        const r = await document.result();
        if (!r.ok) return { ok: false, fileName: document.fileName, error: r.error.toJSON() };
        return { ok: true, summary: r.summary, tree: r.tree.state() };
      },
      rows: async ({ start, count, tree: which }) => {
        const t = await tree(which);
        return {
          state: t.state(),
          start,
          rows: t.rows(start, Math.min(count, MAX_ROWS_PER_REQUEST)),
        };
      },
      setQuery: async ({ query, tree: which }) =>
        (await tree(which)).setQuery(String(query).slice(0, 500)),
      setGrouping: async ({ grouping, tree: which }) =>
        (await tree(which)).setGrouping(
          grouping === 'flat' || grouping === 'module' ? grouping : 'tree',
        ),
      setExpanded: async ({ id, expanded, tree: which }) =>
        (await tree(which)).setExpanded(id, expanded),
      expandAll: async ({ tree: which }): Promise<TreeStateDto> => (await tree(which)).expandAll(),
      collapseAll: async ({ tree: which }): Promise<TreeStateDto> =>
        (await tree(which)).collapseAll(),
      reveal: async ({ path, tree: which }) => {
        const t = await tree(which);
        const row = t.reveal(path);
        return { state: t.state(), row };
      },
      metadataValue: async ({ key }) => {
        const { checkpoint } = await loaded();
        const value = Object.prototype.hasOwnProperty.call(checkpoint.metadata, key)
          ? checkpoint.metadata[key]
          : undefined;
        if (value === undefined)
          throw new CheckpointError('TensorNotFound', `no metadata key "${key}"`, key);
        return metadataEntry(key, value);
      },
      computeStats: () => this.stats.compute(document),
      mapping: () => this.session(document).view(),
      selectBase: () => this.session(document).choose(),
      setOverride: ({ module, target }) => this.session(document).setOverride(module, target),
      clearOverride: ({ module }) => this.session(document).clearOverride(module),
      retarget: ({ module }) => this.session(document).retarget(module),
      copyText: async ({ text, what }) => {
        await vscode.env.clipboard.writeText(text);
        void vscode.window.setStatusBarMessage(`LoRA Lens: copied ${what}`, 2500);
        return null;
      },
    });
    this.panels.set(panel, { document, endpoint });
    const track = () => {
      if (panel.active) this.active = document;
      else if (this.active === document && ![...this.panels.keys()].some((p) => p.active))
        this.active = undefined;
      void vscode.commands.executeCommand(
        'setContext',
        'loraLens.editorActive',
        this.active !== undefined,
      );
      void this.status.show(this.active);
      this.updateMappingContext();
    };
    track();

    const subscriptions = [
      webview.onDidReceiveMessage((m) => endpoint.receive(m)),
      document.onDidChange(() => endpoint.notify('reload', {})),
      panel.onDidChangeViewState(track),
    ];
    panel.onDidDispose(() => {
      subscriptions.forEach((s) => s.dispose());
      this.panels.delete(panel);
      track();
    });
    log().debug(`editor opened for ${document.uri.toString(true)}`);
  }
}
