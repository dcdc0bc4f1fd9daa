import * as l10n from '@vscode/l10n';
import * as vscode from 'vscode';
import { registerCommands } from './commands.js';
import { registerMappingCommands } from './mappingCommands.js';
import { registerSmokeCommands } from './smokeCommands.js';
import { registerSurgeryCommands } from './surgeryCommands.js';
import { CheckpointEditorProvider } from './editorProvider.js';
import { onStaleTempsRemoved, removeLiveTempsSync } from '../core/export/tempFiles.js';
import { log } from './log.js';

declare const LORA_LENS_VERSION: string;

export function activate(context: vscode.ExtensionContext): void {
  const started = performance.now();
  // Modules kept free of `vscode` (smokeLogic) translate through @vscode/l10n: same bundle, same keys.
  if (vscode.l10n.bundle) l10n.config({ contents: vscode.l10n.bundle });
  const provider = CheckpointEditorProvider.register(context);
  registerCommands(context, provider);
  registerMappingCommands(context, provider);
  registerSmokeCommands(context, provider);
  registerSurgeryCommands(context, provider);
  context.subscriptions.push(log());
  const stopHearing = onStaleTempsRemoved((removed) => {
    for (const p of removed) log().info(`removed ${p}, left by an interrupted write`);
  });
  context.subscriptions.push({ dispose: stopHearing });
  log().info(
    `LoRA Lens ${typeof LORA_LENS_VERSION === 'string' ? LORA_LENS_VERSION : 'dev'} activated in ${(performance.now() - started).toFixed(1)} ms (trusted workspace: ${vscode.workspace.isTrusted})`,
  );
}

export function deactivate(): void {
  // Documents close their file handles when their editors are disposed. A write still running when
  // the window closes leaves no temp file behind.
  removeLiveTempsSync();
}
