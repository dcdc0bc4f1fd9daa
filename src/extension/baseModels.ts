import * as vscode from 'vscode';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { CheckpointPool, type Lease } from '../core/formats/checkpointPool.js';
import type { HubOptions } from '../core/formats/hub.js';
import { openPath, parseHubRef } from '../core/formats/index.js';
import { checkpointFilters } from './fileFilters.js';
import { log, timed } from './log.js';
import { defaultBaseModel, hubEndpoint } from './settings.js';

const TOKEN_KEY = 'loraLens.hubToken';

/** Hub endpoint (setting) and token (SecretStorage, only for `hf:` refs) to open `ref` with. */
export async function hubOptionsFor(
  secrets: vscode.SecretStorage,
  ref: string,
): Promise<HubOptions | undefined> {
  const token = parseHubRef(ref) ? await secrets.get(TOKEN_KEY) : undefined;
  const endpoint = hubEndpoint();
  return token || endpoint
    ? { ...(endpoint ? { endpoint } : {}), ...(token ? { token } : {}) }
    : undefined;
}
const CHOICES_KEY = 'loraLens.baseByAdapter';
const RECENT_KEY = 'loraLens.recentBases';

/**
 * Which base model goes with which adapter (remembered per adapter in the workspace), and the open base
 * checkpoints, shared by every editor that uses them. Only headers are read, but a 1M-tensor base still
 * holds ~140 MB of tables: each is reference-counted, and one nobody holds closes after a grace period
 * (at most two stay open unheld), so switching editors or bases back and forth does not reopen it.
 */
export class BaseModels implements vscode.Disposable {
  private readonly pool = new CheckpointPool<Checkpoint>(
    async (ref) => {
      const hub = await hubOptionsFor(this.context.secrets, ref);
      const { value } = await timed(`open base ${ref}`, () => openPath(ref, hub ? { hub } : {}));
      return value;
    },
    {
      graceMs: 30_000,
      maxIdle: 2,
      onCloseError: (ref, e) => log().warn(`closing base ${ref}: ${String(e)}`),
    },
  );

  constructor(private readonly context: vscode.ExtensionContext) {}

  /** The base for an adapter: the user's choice for it, else the `loraLens.baseModel` setting. */
  baseFor(adapter: vscode.Uri): string | undefined {
    const choices = this.context.workspaceState.get<Record<string, string>>(CHOICES_KEY, {});
    return choices[adapter.toString()] ?? defaultBaseModel(adapter);
  }

  async remember(adapter: vscode.Uri, ref: string | undefined): Promise<void> {
    const key = adapter.toString();
    const kept = Object.entries(
      this.context.workspaceState.get<Record<string, string>>(CHOICES_KEY, {}),
    ).filter(([k]) => k !== key);
    const choices = Object.fromEntries(ref === undefined ? kept : [...kept, [key, ref]]);
    await this.context.workspaceState.update(CHOICES_KEY, choices);
    if (ref) {
      const recent = [
        ref,
        ...this.context.globalState.get<string[]>(RECENT_KEY, []).filter((r) => r !== ref),
      ].slice(0, 8);
      await this.context.globalState.update(RECENT_KEY, recent);
    }
  }

  /**
   * Opens (once while anyone holds it) the base checkpoint for a reference and holds it until the
   * lease is released. A failed open is not kept: the next call tries again.
   */
  acquire(ref: string): Promise<Lease<Checkpoint>> {
    return this.pool.acquire(ref);
  }

  /** One-shot use of a base: held while `fn` runs, released after. */
  use<R>(ref: string, fn: (checkpoint: Checkpoint) => R | Promise<R>): Promise<R> {
    return this.pool.use(ref, fn);
  }

  /**
   * The picker: a file, a folder, a Hub repo id, or a recent base. Returns the reference, '' when the
   * user cleared the base, or undefined. `target`: picking another model to export for (no "clear").
   */
  async pick(adapter: vscode.Uri, target?: { title: string }): Promise<string | undefined> {
    const current = this.baseFor(adapter);
    const recent = this.context.globalState.get<string[]>(RECENT_KEY, []);
    type Item = vscode.QuickPickItem & {
      action: 'file' | 'folder' | 'hub' | 'ref' | 'clear';
      ref?: string;
    };
    const items: Item[] = [
      {
        label: `$(file) ${vscode.l10n.t('Choose a checkpoint file…')}`,
        description: vscode.l10n.t('.safetensors, .bin, .gguf, .onnx, shard index'),
        action: 'file',
      },
      {
        label: `$(folder) ${vscode.l10n.t('Choose a model folder…')}`,
        description: vscode.l10n.t('config.json + weights'),
        action: 'folder',
      },
      {
        label: `$(cloud) ${vscode.l10n.t('Hugging Face repo id…')}`,
        description: vscode.l10n.t('headers only, over HTTP ranges'),
        action: 'hub',
      },
      ...recent.map((ref): Item => ({
        label: `$(history) ${ref}`,
        description: ref === current ? vscode.l10n.t('current') : vscode.l10n.t('recent'),
        action: 'ref',
        ref,
      })),
      ...(current && !target
        ? [{ label: `$(close) ${vscode.l10n.t('Clear the base model')}`, action: 'clear' as const }]
        : []),
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: target?.title ?? vscode.l10n.t('LoRA Lens: base model for this adapter'),
      placeHolder: current ?? vscode.l10n.t('No base model yet'),
    });
    if (!picked) return undefined;
    if (picked.action === 'clear') {
      await this.remember(adapter, undefined);
      return '';
    }
    if (picked.action === 'ref') return picked.ref;
    if (picked.action === 'hub') {
      const id = await vscode.window.showInputBox({
        title: vscode.l10n.t('Hugging Face repo'),
        prompt: vscode.l10n.t('org/name, optionally @revision'),
        placeHolder: 'meta-llama/Llama-3.1-8B',
        validateInput: (v) =>
          parseHubRef(`hf:${v.replace(/^hf:/, '')}`)
            ? undefined
            : vscode.l10n.t('Expected org/name or org/name@revision'),
      });
      return id ? `hf:${id.replace(/^hf:/, '')}` : undefined;
    }
    const uris = await vscode.window.showOpenDialog({
      canSelectFiles: picked.action === 'file',
      canSelectFolders: picked.action === 'folder',
      canSelectMany: false,
      title: vscode.l10n.t('Base model'),
      ...(picked.action === 'file' ? { filters: checkpointFilters(true) } : {}),
    });
    const uri = uris?.[0];
    if (!uri) return undefined;
    if (uri.scheme !== 'file') {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('LoRA Lens: base models must be local files, folders or hf: repos.'),
      );
      return undefined;
    }
    return uri.fsPath;
  }

  async setToken(): Promise<void> {
    const token = await vscode.window.showInputBox({
      title: vscode.l10n.t('Hugging Face token'),
      prompt: vscode.l10n.t(
        'Kept in the OS keychain (VS Code SecretStorage), never in settings. Leave empty to remove it.',
      ),
      password: true,
      ignoreFocusOut: true,
    });
    if (token === undefined) return;
    if (token === '') await this.context.secrets.delete(TOKEN_KEY);
    else await this.context.secrets.store(TOKEN_KEY, token.trim());
    // Later opens use the new token; bases in use close when released.
    this.pool.invalidate();
    log().info(token ? 'Hub token stored' : 'Hub token removed');
  }

  dispose(): void {
    void this.pool.close();
  }
}
