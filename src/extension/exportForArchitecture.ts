/**
 * "Export For Architecture…": the adapter written for another model, which may fuse what this one
 * splits (Llama q/k/v → Phi-3 qkv_proj) or split what it fuses. The mapping engine places every
 * module on the chosen model, the export fuses or splits exactly (s·B·A unchanged), and the report
 * lists each conversion and each module left out before anything is written. The result remembers
 * the chosen model as its base, so its smoke test runs in one click.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { sourceFiles } from '../core/export/sourceFiles.js';
import { CheckpointError } from '../core/formats/errors.js';
import { openMappedPair } from '../core/mapping/mappedPair.js';
import { EXPORT_NAMINGS, writeRemappedAdapter } from '../core/mapping/export/index.js';
import { hubOptionsFor } from './baseModels.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { adapterUri, askDestination, stageAndWrite } from './surgeryFlow.js';
import { exportRows } from './surgeryLogic.js';

const shortName = (ref: string): string => basename(ref.replace(/^hf:/, '').replace(/@.*$/, ''));

export async function exportForArchitectureCommand(
  context: vscode.ExtensionContext,
  provider: CheckpointEditorProvider,
  arg: unknown,
): Promise<void> {
  const source = adapterUri(provider, arg);
  if (!source) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
    );
    return;
  }
  const target = await provider.bases.pick(source, {
    title: vscode.l10n.t('Export {0} for which model?', basename(source.fsPath)),
  });
  if (!target) return;
  const picked = await vscode.window.showQuickPick(
    // PEFT first: it is what loads onto a Hugging Face model of another architecture.
    [...EXPORT_NAMINGS]
      .sort((a, b) => Number(b === 'peft') - Number(a === 'peft'))
      .map((n) => ({ label: n, naming: n })),
    { title: vscode.l10n.t('Naming of the exported adapter') },
  );
  if (!picked) return;
  const naming = picked.naming;
  const name = shortName(target);
  const destination = await askDestination(source, `for-${name}`, naming === 'peft');
  if (!destination) return;
  const hub = await hubOptionsFor(context.secrets, target);
  await stageAndWrite(
    provider,
    [source],
    destination,
    vscode.l10n.t('LoRA Lens: exporting {0} for {1}', basename(source.fsPath), name),
    async (out) => {
      const pair = await openMappedPair({
        adapterPath: source.fsPath,
        basePath: target,
        ...(hub ? { hub } : {}),
      });
      try {
        const r = await writeRemappedAdapter(pair.adapter, pair.base, pair.analysis, pair.mapping, {
          out,
          naming,
          sourcePaths: await sourceFiles([source.fsPath, ...(hub ? [] : [target])]),
        });
        if (r.modules.length === 0)
          throw new CheckpointError(
            'InvalidExport',
            `no module of ${basename(source.fsPath)} has a place in ${name}: ${r.skipped[0]?.reason ?? 'the model has no matching parameters'}`,
            source.fsPath,
          );
        return r;
      } finally {
        await pair.close();
      }
    },
    (r) => exportRows(r, name),
    target,
  );
}
