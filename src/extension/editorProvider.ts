import * as vscode from 'vscode';
import { CheckpointError } from '../core/formats/errors.js';
import { metadataEntry } from '../core/view/metadata.js';
import {
  HostEndpoint,
  type Message,
  type ReadyResult,
  type SmokeViewDto,
  type TreeStateDto,
} from '../shared/protocol.js';
import { CheckpointDocument, type LoadResult } from './checkpointDocument.js';
import { log } from './log.js';
import { baseModelDto } from './modelDto.js';
import { CheckpointStatusBar } from './statusBar.js';
import { StatsService } from './statsService.js';
import { BaseModels } from './baseModels.js';
import { MappingTable } from './mappingRows.js';
import { MappingSession } from './mappingSession.js';
import { chartsEnabled } from './settings.js';
import { SmokeRuns, smokeBlocked } from './smokeSession.js';
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

  /** Smoke runs per adapter: the one in progress and the last report per base. */
  readonly smoke: SmokeRuns;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly stats: StatsService,
    readonly bases: BaseModels,
    private readonly workspaceState: vscode.Memento,
  ) {
    this.smoke = new SmokeRuns(workspaceState);
    this.smoke.onDidChange(({ document, reveal }) => void this.notifySmoke(document, reveal));
    this.smoke.onEvent(({ document, event }) => {
      for (const { document: d, endpoint } of this.panels.values())
        if (d === document) endpoint.notify('smokeEvent', event);
    });
  }

  static register(context: vscode.ExtensionContext): CheckpointEditorProvider {
    const bases = new BaseModels(context);
    const provider = new CheckpointEditorProvider(
      context.extensionUri,
      new StatsService(context.globalStorageUri),
      bases,
      context.workspaceState,
    );
    context.subscriptions.push(
      provider.status,
      bases,
      provider.smoke,
      // Trust changes what the smoke button may do; the editors redraw it.
      vscode.workspace.onDidGrantWorkspaceTrust(() => provider.refreshSmokeAll()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('loraLens.charts.enabled'))
          for (const { endpoint } of provider.panels.values()) endpoint.notify('reload', {});
      }),
    );
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
        // A new base means another last report and maybe another reason to block the button.
        void this.notifySmoke(document, false);
      });
    }
    return session;
  }

  /** `loraLens.hasAdapter`: Resize… and Combine With… show for a local adapter file only. */
  private async updateAdapterContext(document: CheckpointDocument | undefined): Promise<void> {
    const r = document ? await document.result() : undefined;
    const is = document?.uri.scheme === 'file' && r?.ok === true && r.analysis.modules.length > 0;
    if (document === this.active)
      await vscode.commands.executeCommand('setContext', 'loraLens.hasAdapter', is);
  }

  /**
   * `loraLens.hasMapping`: the export commands show only when there is something to export.
   * `loraLens.editorIsFile` and `loraLens.baseIsOnnx` gate the smoke test and the merged export.
   */
  private updateMappingContext(): void {
    const session = this.active ? this.sessions.get(this.active) : undefined;
    const has = session?.hasMapping === true;
    void this.status.show(this.active, session?.mappingState);
    void vscode.commands.executeCommand('setContext', 'loraLens.hasMapping', has);
    void vscode.commands.executeCommand(
      'setContext',
      'loraLens.editorIsFile',
      this.active?.uri.scheme === 'file',
    );
    void this.updateAdapterContext(this.active);
    void vscode.commands.executeCommand(
      'setContext',
      'loraLens.baseIsOnnx',
      has && session?.dto().base?.format === 'onnx',
    );
  }

  /** The open document of an editor for this URI (commands from the editor title pass the URI). */
  documentFor(uri: vscode.Uri): CheckpointDocument | undefined {
    const key = uri.toString();
    for (const { document } of this.panels.values())
      if (document.uri.toString() === key) return document;
    return undefined;
  }

  /** The Smoke tab's state for a document. */
  async smokeView(document: CheckpointDocument): Promise<SmokeViewDto> {
    const session = this.session(document);
    const r = await document.result();
    const view = r.ok ? await session.view() : undefined;
    const blocked = r.ok
      ? smokeBlocked(document, session.hasMapping)
      : vscode.l10n.t('the file cannot be read ({0})', r.error.code);
    return this.smoke.view(document, view?.base?.ref, blocked);
  }

  private async notifySmoke(document: CheckpointDocument, reveal: boolean): Promise<void> {
    const targets = [...this.panels.values()].filter((p) => p.document === document);
    if (targets.length === 0) return;
    const view = await this.smokeView(document);
    for (const { endpoint } of targets) endpoint.notify('smokeChanged', { view, reveal });
  }

  private refreshSmokeAll(): void {
    this.updateMappingContext();
    for (const document of new Set([...this.panels.values()].map((p) => p.document)))
      void this.notifySmoke(document, false);
  }

  /** "Select Base Model…" from the palette or the editor title. */
  async selectBaseForActive(): Promise<void> {
    const document = this.active;
    if (!document) {
      void vscode.window.showWarningMessage(
        vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
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
    // The header is read once the page is on its way (after VS Code's queued messages go out), so
    // the webview loads while the host parses.
    setTimeout(() => void document.result(), 0);

    const post = (m: Message) => void webview.postMessage(m);
    const loaded = async (): Promise<Extract<LoadResult, { ok: true }>> => {
      const r = await document.result();
      if (!r.ok) throw r.error;
      return r;
    };
    const tree = async (which?: 'file' | 'base') =>
      which === 'base' ? this.session(document).baseTree() : (await loaded()).tree();
    // This editor's Mapping table: its own filter and selection over the document's mapping.
    const table = new MappingTable();
    const endpoint = new HostEndpoint(post, {
      ready: async (): Promise<ReadyResult> => {
        const r = await document.result();
        if (!r.ok) return { ok: false, fileName: document.fileName, error: r.error.toJSON() };
        return {
          ok: true,
          summary: r.summary,
          // A large tree is built after the summary is painted, when the list asks for its rows.
          ...(r.eagerTree ? { tree: r.tree().state() } : {}),
          ui: { charts: chartsEnabled(document.uri) },
        };
      },
      rows: async ({ start, count, tree: which }) => {
        const t = await tree(which);
        return {
          state: t.state(),
          start,
          rows: t.rows(start, Math.min(count, MAX_ROWS_PER_REQUEST)),
        };
      },
      setQuery: async ({ query, rows: first, tree: which }) => {
        const t = await tree(which);
        const state = t.setQuery(String(query).slice(0, 500));
        // The first page rides along: one round trip per keystroke instead of two.
        return first
          ? { ...state, firstRows: t.rows(0, Math.min(first, MAX_ROWS_PER_REQUEST)) }
          : state;
      },
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
      fileModel: async () => ({ model: (await loaded()).fileModel() ?? null }),
      baseModel: async () => {
        // A one-shot use: the base is held while the report is built (the session may hold it too).
        const held: { release(): void }[] = [];
        try {
          return await baseModelDto(
            this.bases.baseFor(document.uri),
            async () => {
              const r = await document.result();
              return r.ok ? r : undefined;
            },
            async (ref) => {
              const lease = await this.bases.acquire(ref);
              held.push(lease);
              return lease.value;
            },
            {
              noBase: vscode.l10n.t(
                "Choose a base model (Mapping tab) to see its architecture, and memory at this adapter's rank.",
              ),
              failed: (code, message) =>
                vscode.l10n.t('The base model could not be opened ({0}): {1}', code, message),
            },
          );
        } finally {
          for (const l of held) l.release();
        }
      },
      mapping: () => this.session(document).view(table),
      mappingRows: ({ start, count }) => this.session(document).tableRows(table, start, count),
      mappingQuery: ({ query }) => this.session(document).setTableQuery(table, query),
      mappingSelect: ({ index }) => this.session(document).selectRow(table, index),
      mappingTable: () => this.session(document).tableState(table),
      selectBase: () => this.session(document).choose(table),
      setOverride: ({ module, target }) =>
        this.session(document).setOverride(module, target, table),
      clearOverride: ({ module }) => this.session(document).clearOverride(module, table),
      retarget: ({ module }) => this.session(document).retarget(module, table),
      smoke: () => this.smokeView(document),
      runSmoke: () => {
        void vscode.commands.executeCommand('loraLens.runSmokeTest', document.uri);
        return null;
      },
      cancelSmoke: () => {
        this.smoke.cancel(document);
        return null;
      },
      copyText: async ({ text, what }) => {
        await vscode.env.clipboard.writeText(text);
        void vscode.window.setStatusBarMessage(vscode.l10n.t('LoRA Lens: copied {0}', what), 2500);
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
      this.updateMappingContext();
    };
    track();

    endpoint.onInvalid = (reason) => log().warn(`webview message refused: ${reason}`);
    const subscriptions = [
      webview.onDidReceiveMessage((m) => endpoint.receive(m)),
      document.onDidChange(() => endpoint.notify('reload', {})),
      panel.onDidChangeViewState(track),
    ];
    panel.onDidDispose(() => {
      subscriptions.forEach((s) => s.dispose());
      this.panels.delete(panel);
      // The document's last editor closed: its mapping session lets go of its base model.
      if (![...this.panels.values()].some((p) => p.document === document)) {
        this.sessions.get(document)?.dispose();
        this.sessions.delete(document);
      }
      track();
    });
    log().debug(`editor opened for ${document.uri.toString(true)}`);
  }
}
