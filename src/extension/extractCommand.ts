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
import { log } from './log.js';

const CHECKPOINT_FILTERS = {
  Checkpoints: ['safetensors', 'bin', 'pt', 'pth', 'ckpt', 'gguf', 'onnx'],
};

/** "LoRA Lens: Extract Weights-Only Adapter…": pick a source, a destination and a dtype; write atomically. */
export async function extractWeightsCommand(source: vscode.Uri | undefined): Promise<void> {
  const input =
    source ??
    (
      await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: CHECKPOINT_FILTERS,
        title: 'Checkpoint to extract the adapter from',
      })
    )?.[0];
  if (!input) return;
  if (input.scheme !== 'file') {
    void vscode.window.showErrorMessage(
      'LoRA Lens: extraction needs a local file (it streams tensors from disk).',
    );
    return;
  }
  const parsed = parse(input.fsPath);
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(join(parsed.dir, `${parsed.name}.adapter.safetensors`)),
    filters: { Safetensors: ['safetensors'] },
    title: 'Save the weights-only adapter as',
  });
  if (!target) return;
  const dtypePick = await vscode.window.showQuickPick(
    [
      { label: 'Keep dtypes', description: 'bytes are copied as they are', dtype: undefined },
      { label: 'bf16', dtype: 'BF16' as FloatTarget },
      { label: 'fp16', dtype: 'F16' as FloatTarget },
      { label: 'fp32', dtype: 'F32' as FloatTarget },
    ],
    { title: 'Data type of the extracted tensors', placeHolder: 'Keep dtypes' },
  );
  if (!dtypePick) return;

  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `LoRA Lens: extracting from ${parsed.base}`,
      cancellable: false,
    },
    async (progress) => {
      let ckpt;
      try {
        ckpt = await openPath(input.fsPath);
        progress.report({ message: 'analysing…' });
        const analysis = await analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
        progress.report({ message: `writing ${analysis.modules.length} modules…` });
        const result = await extractWeights(ckpt, analysis, {
          out: target.fsPath,
          sourcePath: input.fsPath,
          ...(dtypePick.dtype ? { dtype: dtypePick.dtype } : {}),
        });
        let configNote = '';
        if (result.adapterConfig) {
          const configPath = join(dirname(target.fsPath), 'adapter_config.json');
          const write = await vscode.window.showInformationMessage(
            `Also write adapter_config.json beside ${parse(target.fsPath).base}?`,
            'Write adapter_config.json',
            'Skip',
          );
          if (write === 'Write adapter_config.json') {
            await writeJsonAtomically(configPath, result.adapterConfig, {
              protect: await sourceFiles([input.fsPath]),
            });
            configNote = ' and adapter_config.json';
          }
        }
        for (const w of result.warnings) log().warn(`extract: ${w}`);
        log().info(
          `extracted ${result.tensors} tensors (${result.bytes} bytes) from ${input.fsPath} to ${target.fsPath}; dropped ${result.dropped.length}`,
        );
        const open = await vscode.window.showInformationMessage(
          `LoRA Lens: wrote ${formatInt(result.tensors)} tensors (${formatBytes(result.bytes)})${configNote}; dropped ${formatInt(result.dropped.length)} that are not adapter weights.`,
          'Open',
        );
        if (open)
          await vscode.commands.executeCommand('vscode.openWith', target, 'loraLens.checkpoint');
      } catch (e) {
        const err = toCheckpointError(e);
        log().error(`extract: ${err.code}: ${err.message}`);
        void vscode.window.showErrorMessage(
          `LoRA Lens: could not extract (${err.code}): ${err.message}`,
        );
      } finally {
        await ckpt?.close();
      }
    },
  );
}
