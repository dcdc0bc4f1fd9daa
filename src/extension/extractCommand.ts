import { dirname, join, parse } from 'node:path';
import * as vscode from 'vscode';
import { writeJsonAtomically } from '../core/export/atomicFile.js';
import { sourceFiles } from '../core/export/sourceFiles.js';
import { extractWeights } from '../core/export/extract.js';
import type { FloatTarget } from '../core/formats/encode.js';
import { toCheckpointError } from '../core/formats/errors.js';
import { openPath } from '../core/formats/index.js';
import { analyzeLora } from '../core/lora/index.js';
import { scalarReader } from '../core/lora/checkpointScalars.js';
import { formatBytes, formatInt } from '../shared/format.js';
import { checkpointFilters } from './fileFilters.js';
import { log } from './log.js';

/** "LoRA Lens: Extract Weights-Only Adapter…": pick a source, a destination and a dtype; write atomically. */
export async function extractWeightsCommand(source: vscode.Uri | undefined): Promise<void> {
  const input =
    source ??
    (
      await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: checkpointFilters(false),
        title: vscode.l10n.t('Checkpoint to extract the adapter from'),
      })
    )?.[0];
  if (!input) return;
  if (input.scheme !== 'file') {
    void vscode.window.showErrorMessage(
      vscode.l10n.t('LoRA Lens: extraction needs a local file (it streams tensors from disk).'),
    );
    return;
  }
  const parsed = parse(input.fsPath);
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(join(parsed.dir, `${parsed.name}.adapter.safetensors`)),
    filters: { Safetensors: ['safetensors'] },
    title: vscode.l10n.t('Save the weights-only adapter as'),
  });
  if (!target) return;
  const dtypePick = await vscode.window.showQuickPick(
    [
      {
        label: vscode.l10n.t('Keep dtypes'),
        description: vscode.l10n.t('bytes are copied as they are'),
        dtype: undefined,
      },
      { label: 'bf16', dtype: 'BF16' as FloatTarget },
      { label: 'fp16', dtype: 'F16' as FloatTarget },
      { label: 'fp32', dtype: 'F32' as FloatTarget },
    ],
    {
      title: vscode.l10n.t('Data type of the extracted tensors'),
      placeHolder: vscode.l10n.t('Keep dtypes'),
    },
  );
  if (!dtypePick) return;

  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: vscode.l10n.t('LoRA Lens: extracting from {0}', parsed.base),
      cancellable: false,
    },
    async (progress) => {
      let ckpt;
      try {
        ckpt = await openPath(input.fsPath);
        progress.report({ message: vscode.l10n.t('analysing…') });
        const analysis = await analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
        progress.report({
          message: vscode.l10n.t('writing {0} modules…', analysis.modules.length),
        });
        const result = await extractWeights(ckpt, analysis, {
          out: target.fsPath,
          sourcePath: input.fsPath,
          ...(dtypePick.dtype ? { dtype: dtypePick.dtype } : {}),
        });
        let wroteConfig = false;
        if (result.adapterConfig) {
          const configPath = join(dirname(target.fsPath), 'adapter_config.json');
          const writeLabel = vscode.l10n.t('Write adapter_config.json');
          const write = await vscode.window.showInformationMessage(
            vscode.l10n.t('Also write adapter_config.json beside {0}?', parse(target.fsPath).base),
            writeLabel,
            vscode.l10n.t('Skip'),
          );
          if (write === writeLabel) {
            await writeJsonAtomically(configPath, result.adapterConfig, {
              protect: await sourceFiles([input.fsPath]),
            });
            wroteConfig = true;
          }
        }
        for (const w of result.warnings) log().warn(`extract: ${w}`);
        log().info(
          `extracted ${result.tensors} tensors (${result.bytes} bytes) from ${input.fsPath} to ${target.fsPath}; dropped ${result.dropped.length}`,
        );
        // Whole sentences, not a sentence with a spliced-in clause: translators need them whole.
        const args = [
          formatInt(result.tensors),
          formatBytes(result.bytes),
          formatInt(result.dropped.length),
        ];
        const openLabel = vscode.l10n.t('Open');
        const open = await vscode.window.showInformationMessage(
          wroteConfig
            ? vscode.l10n.t(
                'LoRA Lens: wrote {0} tensors ({1}) and adapter_config.json; dropped {2} that are not adapter weights.',
                ...args,
              )
            : vscode.l10n.t(
                'LoRA Lens: wrote {0} tensors ({1}); dropped {2} that are not adapter weights.',
                ...args,
              ),
          openLabel,
        );
        if (open === openLabel)
          await vscode.commands.executeCommand('vscode.openWith', target, 'loraLens.checkpoint');
      } catch (e) {
        const err = toCheckpointError(e);
        log().error(`extract: ${err.code}: ${err.message}`);
        void vscode.window.showErrorMessage(
          vscode.l10n.t('LoRA Lens: could not extract ({0}): {1}', err.code, err.message),
        );
      } finally {
        await ckpt?.close();
      }
    },
  );
}
