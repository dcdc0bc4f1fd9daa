import { parse } from 'node:path';
import * as vscode from 'vscode';
import { toCheckpointError } from '../core/formats/errors.js';
import { EXPORT_NAMINGS, type ExportNaming } from '../core/mapping/export/index.js';
import { formatBytes, formatInt } from '../shared/format.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { log } from './log.js';
import type { MappingSession } from './mappingSession.js';

/** Built when the picker opens, so that the help is in the display language. */
function namingHelp(): Record<ExportNaming, string> {
  return {
    base: vscode.l10n.t("the base model's own parameter names + .lora_A/.lora_B"),
    peft: vscode.l10n.t('base_model.model.… + adapter_config.json'),
    kohya: vscode.l10n.t('lora_unet_… / lora_te_… with lora_down/lora_up/alpha'),
    diffusers: vscode.l10n.t('<component>.… lora_A/lora_B, as diffusers loads it'),
    gguf: vscode.l10n.t('llama.cpp names blk.N.attn_q.weight.lora_a/b (safetensors)'),
  };
}

async function activeSession(
  provider: CheckpointEditorProvider,
): Promise<{ session: MappingSession; uri: vscode.Uri } | undefined> {
  const document = provider.activeDocument;
  if (!document) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
    );
    return undefined;
  }
  if (document.uri.scheme !== 'file') {
    void vscode.window.showErrorMessage(
      vscode.l10n.t('LoRA Lens: exports need a local adapter file.'),
    );
    return undefined;
  }
  return { session: provider.session(document), uri: document.uri };
}

/**
 * Logs a failure (in English, for bug reports) and shows it. `shown` builds the whole localized
 * sentence: a translated verb phrase spliced into a translated frame would not read right.
 */
function report(what: string, e: unknown, shown: (code: string, message: string) => string): void {
  const err = toCheckpointError(e);
  log().error(`${what}: ${err.code}: ${err.message}`);
  void vscode.window.showErrorMessage(shown(err.code, err.message));
}

/** "Export Key Mapping…", "Export Remapped Adapter…" and "Copy Python Loader Snippet". */
export function registerMappingCommands(
  context: vscode.ExtensionContext,
  provider: CheckpointEditorProvider,
): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('loraLens.exportMapping', async () => {
      const active = await activeSession(provider);
      if (!active) return;
      const p = parse(active.uri.fsPath);
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.file(`${p.dir}/${p.name}.mapping.json`),
        filters: { [vscode.l10n.t('Mapping JSON')]: ['json'] },
        title: vscode.l10n.t('Export the key mapping'),
      });
      if (!target) return;
      try {
        await active.session.exportMappingFile(target.fsPath);
        void vscode.window.showInformationMessage(
          vscode.l10n.t('LoRA Lens: wrote the mapping to {0}.', parse(target.fsPath).base),
        );
      } catch (e) {
        report('exporting the mapping', e, (code, message) =>
          vscode.l10n.t('LoRA Lens: exporting the mapping failed ({0}): {1}', code, message),
        );
      }
    }),
    vscode.commands.registerCommand('loraLens.exportRemapped', async () => {
      const active = await activeSession(provider);
      if (!active) return;
      const help = namingHelp();
      const naming = await vscode.window.showQuickPick(
        EXPORT_NAMINGS.map((n) => ({ label: n, description: help[n], naming: n })),
        { title: vscode.l10n.t('Naming of the remapped adapter') },
      );
      if (!naming) return;
      const p = parse(active.uri.fsPath);
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.file(`${p.dir}/${p.name}.${naming.naming}.safetensors`),
        filters: { Safetensors: ['safetensors'] },
        title: vscode.l10n.t('Export the remapped adapter'),
      });
      if (!target) return;
      try {
        const r = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: vscode.l10n.t('LoRA Lens: writing the remapped adapter'),
          },
          () => active.session.exportRemapped(target.fsPath, naming.naming),
        );
        void vscode.window.showInformationMessage(
          remappedMessage(formatInt(r.tensors), formatBytes(r.bytes), naming.naming, r),
        );
      } catch (e) {
        report('exporting the remapped adapter', e, (code, message) =>
          vscode.l10n.t(
            'LoRA Lens: exporting the remapped adapter failed ({0}): {1}',
            code,
            message,
          ),
        );
      }
    }),
    vscode.commands.registerCommand('loraLens.copyLoaderSnippet', async () => {
      const active = await activeSession(provider);
      if (!active) return;
      try {
        await vscode.env.clipboard.writeText(await active.session.snippet());
        void vscode.window.showInformationMessage(
          vscode.l10n.t(
            'LoRA Lens: copied a Python snippet that loads the mapped weights with safetensors.safe_open.',
          ),
        );
      } catch (e) {
        report('building the loader snippet', e, (code, message) =>
          vscode.l10n.t('LoRA Lens: building the loader snippet failed ({0}): {1}', code, message),
        );
      }
    }),
  );
}

/** The four whole sentences (with or without adapter_config.json, with or without left-out modules). */
function remappedMessage(
  tensors: string,
  bytes: string,
  naming: string,
  r: { skipped: number; adapterConfig: string | null },
): string {
  const args = { tensors, bytes, naming, skipped: r.skipped };
  if (r.adapterConfig && r.skipped)
    return vscode.l10n.t(
      'LoRA Lens: wrote {tensors} tensors ({bytes}) in {naming} naming and adapter_config.json; {skipped} module(s) left out (see the LoRA Lens log)',
      args,
    );
  if (r.adapterConfig)
    return vscode.l10n.t(
      'LoRA Lens: wrote {tensors} tensors ({bytes}) in {naming} naming and adapter_config.json.',
      args,
    );
  if (r.skipped)
    return vscode.l10n.t(
      'LoRA Lens: wrote {tensors} tensors ({bytes}) in {naming} naming; {skipped} module(s) left out (see the LoRA Lens log)',
      args,
    );
  return vscode.l10n.t('LoRA Lens: wrote {tensors} tensors ({bytes}) in {naming} naming.', args);
}
