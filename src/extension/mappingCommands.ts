import { parse } from 'node:path';
import * as vscode from 'vscode';
import { toCheckpointError } from '../core/formats/errors.js';
import { EXPORT_NAMINGS, type ExportNaming } from '../core/mapping/export/index.js';
import { formatBytes, formatInt } from '../shared/format.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { log } from './log.js';
import type { MappingSession } from './mappingSession.js';

const NAMING_HELP: Record<ExportNaming, string> = {
  base: "the base model's own parameter names + .lora_A/.lora_B",
  peft: 'base_model.model.… + adapter_config.json',
  kohya: 'lora_unet_… / lora_te_… with lora_down/lora_up/alpha',
  diffusers: '<component>.… lora_A/lora_B, as diffusers loads it',
  gguf: 'llama.cpp names blk.N.attn_q.weight.lora_a/b (safetensors)',
};

async function activeSession(
  provider: CheckpointEditorProvider,
): Promise<{ session: MappingSession; uri: vscode.Uri } | undefined> {
  const document = provider.activeDocument;
  if (!document) {
    void vscode.window.showWarningMessage(
      'LoRA Lens: open an adapter in the LoRA Lens editor first.',
    );
    return undefined;
  }
  if (document.uri.scheme !== 'file') {
    void vscode.window.showErrorMessage('LoRA Lens: exports need a local adapter file.');
    return undefined;
  }
  return { session: provider.session(document), uri: document.uri };
}

function report(what: string, e: unknown): void {
  const err = toCheckpointError(e);
  log().error(`${what}: ${err.code}: ${err.message}`);
  void vscode.window.showErrorMessage(`LoRA Lens: ${what} failed (${err.code}): ${err.message}`);
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
        filters: { 'Mapping JSON': ['json'] },
        title: 'Export the key mapping',
      });
      if (!target) return;
      try {
        await active.session.exportMappingFile(target.fsPath);
        void vscode.window.showInformationMessage(
          `LoRA Lens: wrote the mapping to ${parse(target.fsPath).base}.`,
        );
      } catch (e) {
        report('exporting the mapping', e);
      }
    }),
    vscode.commands.registerCommand('loraLens.exportRemapped', async () => {
      const active = await activeSession(provider);
      if (!active) return;
      const naming = await vscode.window.showQuickPick(
        EXPORT_NAMINGS.map((n) => ({ label: n, description: NAMING_HELP[n], naming: n })),
        { title: 'Naming of the remapped adapter' },
      );
      if (!naming) return;
      const p = parse(active.uri.fsPath);
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.file(`${p.dir}/${p.name}.${naming.naming}.safetensors`),
        filters: { Safetensors: ['safetensors'] },
        title: 'Export the remapped adapter',
      });
      if (!target) return;
      try {
        const r = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: 'LoRA Lens: writing the remapped adapter',
          },
          () => active.session.exportRemapped(target.fsPath, naming.naming),
        );
        void vscode.window.showInformationMessage(
          `LoRA Lens: wrote ${formatInt(r.tensors)} tensors (${formatBytes(r.bytes)}) in ${naming.naming} naming` +
            (r.adapterConfig ? ' and adapter_config.json' : '') +
            (r.skipped ? `; ${r.skipped} module(s) left out (see the LoRA Lens log)` : '.'),
        );
      } catch (e) {
        report('exporting the remapped adapter', e);
      }
    }),
    vscode.commands.registerCommand('loraLens.copyLoaderSnippet', async () => {
      const active = await activeSession(provider);
      if (!active) return;
      try {
        await vscode.env.clipboard.writeText(await active.session.snippet());
        void vscode.window.showInformationMessage(
          'LoRA Lens: copied a Python snippet that loads the mapped weights with safetensors.safe_open.',
        );
      } catch (e) {
        report('building the loader snippet', e);
      }
    }),
  );
}
