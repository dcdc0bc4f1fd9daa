import * as vscode from 'vscode';
import { openComparison } from './compareView.js';
import { inspectJson } from '../cli/inspectReport.js';
import { inspectModel } from '../cli/modelReport.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { viewTypeFor } from './editorProvider.js';
import { extractWeightsCommand } from './extractCommand.js';
import { log } from './log.js';
import { checkpointFilters } from './fileFilters.js';

/** Palette and menu commands. Each does real work or says clearly why it cannot. */
export function registerCommands(
  context: vscode.ExtensionContext,
  provider: CheckpointEditorProvider,
): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('loraLens.openWith', async (uri?: vscode.Uri) => {
      const target = uri ?? vscode.window.activeTextEditor?.document.uri ?? activeTabUri();
      if (!target) {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          filters: checkpointFilters(true),
          title: vscode.l10n.t('Open with LoRA Lens'),
        });
        if (!picked?.[0]) return;
        return vscode.commands.executeCommand('vscode.openWith', picked[0], viewTypeFor(picked[0]));
      }
      return vscode.commands.executeCommand('vscode.openWith', target, viewTypeFor(target));
    }),
    vscode.commands.registerCommand('loraLens.copySummaryJson', async () => {
      const doc = provider.activeDocument;
      if (!doc) {
        void vscode.window.showWarningMessage(
          vscode.l10n.t('LoRA Lens: open a checkpoint in the LoRA Lens editor first.'),
        );
        return;
      }
      const result = await doc.result();
      if (!result.ok) {
        void vscode.window.showErrorMessage(
          vscode.l10n.t(
            'LoRA Lens: {0} is not valid ({1}): {2}',
            doc.fileName,
            result.error.code,
            result.error.message,
          ),
        );
        return;
      }
      const path = doc.uri.scheme === 'file' ? doc.uri.fsPath : doc.uri.toString();
      await vscode.env.clipboard.writeText(
        JSON.stringify(
          {
            ...inspectJson(path, result.checkpoint),
            lora: result.analysis,
            ...inspectModel(result.checkpoint, result.analysis, null),
          },
          null,
          2,
        ),
      );
      void vscode.window.showInformationMessage(
        vscode.l10n.t(
          'LoRA Lens: copied the summary of {0} ({1} tensors) as JSON.',
          doc.fileName,
          result.checkpoint.tensors.length,
        ),
      );
    }),
    vscode.commands.registerCommand('loraLens.showLog', () => log().show(true)),
    vscode.commands.registerCommand('loraLens.selectBaseModel', () =>
      provider.selectBaseForActive(),
    ),
    vscode.commands.registerCommand('loraLens.setHubToken', () => provider.bases.setToken()),
    vscode.commands.registerCommand('loraLens.extractWeights', (uri?: vscode.Uri) =>
      extractWeightsCommand(uri instanceof vscode.Uri ? uri : provider.activeDocument?.uri),
    ),
    vscode.commands.registerCommand('loraLens.focusFilter', () => provider.focusFilter()),
    vscode.commands.registerCommand('loraLens.compareWith', (uri?: unknown, selected?: unknown) =>
      openComparison(context.extensionUri, uri, selected),
    ),
  );
}

function activeTabUri(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom)
    return input.uri;
  return undefined;
}
