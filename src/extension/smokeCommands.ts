import { basename, dirname, resolve } from 'node:path';
import * as vscode from 'vscode';
import { removeStaleTemps } from '../core/export/tempFiles.js';
import { runMergeInChild, runSmokeInChild } from '../core/smoke/host/client.js';
import type { HubOptions } from '../core/formats/hub.js';
import type { SmokeReport, SmokeRequest } from '../core/smoke/types.js';
import { formatBytes } from '../shared/format.js';
import type { ErrorDto, SmokeReportDto } from '../shared/protocol.js';
import { verdictLevel } from '../shared/smokeRows.js';
import type { CheckpointDocument } from './checkpointDocument.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { hubOptionsFor } from './baseModels.js';
import { log } from './log.js';
import {
  cudaProviderPath,
  executionProviders,
  smokeReferencePath,
  smokeTimeoutMs,
} from './settings.js';
import {
  eventLogLine,
  mergedOutPath,
  overridesFromRows,
  progressStep,
  smokeErrorText,
} from './smokeLogic.js';
import { smokeBlocked } from './smokeSession.js';

/** Compile-time proof that the engine's report is what the webview is sent. */
const asDto = (r: SmokeReport): SmokeReportDto => r;

function toErrorDto(e: unknown): ErrorDto {
  const err = e as { code?: unknown; message?: unknown; subject?: unknown };
  return {
    code: typeof err.code === 'string' ? err.code : 'InternalError',
    message: typeof err.message === 'string' ? err.message : String(e),
    ...(typeof err.subject === 'string' ? { subject: err.subject } : {}),
  };
}

/** The button of the notifications that can open the log (a function: `t` must run after activation). */
function showLogLabel(): string {
  return vscode.l10n.t('Show Log');
}

function showLogOn(choice: string | undefined): void {
  if (choice === showLogLabel()) log().show(true);
}

/** Everything a run needs about one adapter: its document, local path, base and overrides. */
async function prepare(
  provider: CheckpointEditorProvider,
  secrets: vscode.SecretStorage,
  arg: unknown,
  /** What cannot run, in the user's language: "the smoke test", "the merge". */
  what: string,
): Promise<
  | {
      document: CheckpointDocument;
      adapterPath: string;
      base: { ref: string; format: string };
      overrides: NonNullable<SmokeRequest['overrides']>;
      hub: HubOptions | undefined;
    }
  | undefined
> {
  const document =
    (arg instanceof vscode.Uri ? provider.documentFor(arg) : undefined) ?? provider.activeDocument;
  if (!document) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
    );
    return undefined;
  }
  const session = provider.session(document);
  const view = await session.view();
  const blocked = smokeBlocked(document, session.hasMapping);
  if (blocked || !view.base) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t(
        'LoRA Lens: cannot run {0}: {1}.',
        what,
        blocked ?? vscode.l10n.t('no base model'),
      ),
    );
    return undefined;
  }
  const hub = await hubOptionsFor(secrets, view.base.ref);
  return {
    document,
    adapterPath: document.uri.fsPath,
    base: { ref: view.base.ref, format: view.base.format },
    overrides: overridesFromRows(session.allRows()),
    hub,
  };
}

/** "Run GPU Smoke Test": the adapter, mapped as the editor shows it, through onnxruntime in a child. */
async function runSmokeTest(
  provider: CheckpointEditorProvider,
  workerPath: string,
  secrets: vscode.SecretStorage,
  arg: unknown,
): Promise<ReturnType<typeof verdictLevel> | undefined> {
  const p = await prepare(provider, secrets, arg, vscode.l10n.t('the smoke test'));
  if (!p) return undefined;
  const { document } = p;
  const abort = provider.smoke.start(document, p.base.ref);
  if (!abort) {
    void vscode.window.showInformationMessage(
      vscode.l10n.t('LoRA Lens: a smoke test of {0} is already running.', document.fileName),
    );
    return undefined;
  }
  const scope = document.uri;
  const referencePath = smokeReferencePath(scope);
  const cuda = cudaProviderPath(scope);
  const request: SmokeRequest = {
    adapterPath: p.adapterPath,
    basePath: p.base.ref,
    overrides: p.overrides,
    eps: executionProviders(scope),
    ...(cuda ? { cudaProviderPath: cuda } : {}),
    ...(referencePath ? { referencePath } : {}),
    ...(p.hub ? { hub: p.hub } : {}),
  };
  const started = performance.now();
  const elapsed = () => `+${((performance.now() - started) / 1000).toFixed(1)} s`;
  log().info(
    `smoke: ${p.adapterPath} on ${p.base.ref}; providers ${request.eps.join(' → ')}; ${p.overrides.length} user override(s)`,
  );
  try {
    const report = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('LoRA Lens: GPU smoke test of {0}', document.fileName),
        cancellable: true,
      },
      (progress, token) => {
        token.onCancellationRequested(() => abort.abort());
        progress.report({ message: vscode.l10n.t('starting onnxruntime…') });
        return runSmokeInChild(request, {
          workerPath,
          timeoutMs: smokeTimeoutMs(scope),
          signal: abort.signal,
          ...(cuda ? { cudaProviderPath: cuda } : {}),
          onEvent: (event) => {
            const step = progressStep(event);
            progress.report(step);
            log().info(`${eventLogLine(event)} ${elapsed()}`);
            provider.smoke.event(document, event, step.message);
          },
          onLog: (line) => {
            if (line.trim()) log().info(`smoke child: ${line}`);
          },
          onUsage: (u) =>
            log().info(
              `smoke child: peak RSS ${formatBytes(u.maxRssBytes)}, CPU ${(u.cpuMs / 1000).toFixed(1)} s`,
            ),
        });
      },
    );
    log().info(
      `smoke: ${report.verdict} (ep ${report.ep ?? 'none'}; total ${report.timings.totalMs.toFixed(0)} ms, session ${report.timings.sessionMs.toFixed(0)} ms, modules ${report.timings.modulesMs.toFixed(0)} ms, model ${report.timings.modelMs.toFixed(0)} ms) ${elapsed()}`,
    );
    for (const w of report.warnings) log().warn(`smoke: ${w}`);
    await provider.smoke.finish(document, asDto(report));
    const text = vscode.l10n.t('LoRA Lens: {0}', report.verdict);
    const level = verdictLevel(report);
    if (level === 'pass') void vscode.window.showInformationMessage(text);
    else if (level === 'warn')
      void vscode.window.showWarningMessage(text, showLogLabel()).then(showLogOn);
    else void vscode.window.showErrorMessage(text, showLogLabel()).then(showLogOn);
    // The verdict is the command's result, for scripts and tests that run it.
    return level;
  } catch (e) {
    const err = toErrorDto(e);
    if (err.code === 'SmokeCancelled') {
      log().info(`smoke: cancelled ${elapsed()}`);
      provider.smoke.fail(document, null);
      return undefined;
    }
    log().error(`smoke: ${err.code}: ${err.message} ${elapsed()}`);
    provider.smoke.fail(document, err);
    void vscode.window
      .showErrorMessage(
        smokeErrorText(vscode.l10n.t('the smoke test failed'), err.code, err.message),
        showLogLabel(),
      )
      .then(showLogOn);
    return undefined;
  }
}

/**
 * The merge's success message. Whole sentences per plural form and per warning case, so translators
 * never assemble grammar from pieces; the e2e test reads "N initializers patched".
 */
function mergeWroteText(file: string, size: string, patched: number, warnings: number): string {
  if (warnings === 0)
    return patched === 1
      ? vscode.l10n.t(
          'LoRA Lens: wrote {0} ({1}) with {2} initializer patched.',
          file,
          size,
          patched,
        )
      : vscode.l10n.t(
          'LoRA Lens: wrote {0} ({1}) with {2} initializers patched.',
          file,
          size,
          patched,
        );
  return patched === 1
    ? vscode.l10n.t(
        'LoRA Lens: wrote {0} ({1}) with {2} initializer patched; {3} warning(s) in the log.',
        file,
        size,
        patched,
        warnings,
      )
    : vscode.l10n.t(
        'LoRA Lens: wrote {0} ({1}) with {2} initializers patched; {3} warning(s) in the log.',
        file,
        size,
        patched,
        warnings,
      );
}

/**
 * "Export Merged ONNX Model…" (an ONNX base: the adapter baked into its initializers) and "Export
 * Merged Model (safetensors)…" (any other base: the float model W + s·ΔW, quantized weights
 * dequantized), both written by the child.
 */
async function exportMerged(
  provider: CheckpointEditorProvider,
  workerPath: string,
  secrets: vscode.SecretStorage,
  arg: unknown,
  onnx: boolean,
): Promise<void> {
  const p = await prepare(provider, secrets, arg, vscode.l10n.t('the merge'));
  if (!p) return;
  if (onnx && (p.base.format !== 'onnx' || p.base.ref.startsWith('hf:'))) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t(
        'LoRA Lens: the merged export needs a local ONNX base model (select a .onnx file as the base).',
      ),
    );
    return;
  }
  if (!onnx && p.base.format === 'onnx') {
    void vscode.window.showWarningMessage(
      vscode.l10n.t(
        'LoRA Lens: the base is an ONNX model; use "Export Merged ONNX Model…" to bake the adapter into it.',
      ),
    );
    return;
  }
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(
      mergedOutPath(p.adapterPath, p.base.ref, onnx ? 'onnx' : 'safetensors'),
    ),
    filters: onnx
      ? { [vscode.l10n.t('ONNX model')]: ['onnx'] }
      : { [vscode.l10n.t('safetensors model')]: ['safetensors'] },
    title: onnx
      ? vscode.l10n.t('Export the merged ONNX model')
      : vscode.l10n.t('Export the merged model as safetensors'),
  });
  if (!target) return;
  if (resolve(target.fsPath) === resolve(p.base.ref)) {
    void vscode.window.showErrorMessage(
      vscode.l10n.t(
        'LoRA Lens: the merged model cannot replace its base; choose another file name.',
      ),
    );
    return;
  }
  const scope = p.document.uri;
  const started = performance.now();
  log().info(`merge: ${p.adapterPath} into ${p.base.ref} → ${target.fsPath}`);
  try {
    const report = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t(
          'LoRA Lens: merging {0} into {1}',
          p.document.fileName,
          basename(p.base.ref),
        ),
        cancellable: true,
      },
      (_progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        return runMergeInChild(
          {
            adapterPath: p.adapterPath,
            basePath: p.base.ref,
            overrides: p.overrides,
            outPath: target.fsPath,
            ...(p.hub ? { hub: p.hub } : {}),
          },
          {
            workerPath,
            timeoutMs: smokeTimeoutMs(scope),
            signal: abort.signal,
            onLog: (line) => {
              if (line.trim()) log().info(`merge child: ${line}`);
            },
          },
        );
      },
    );
    for (const note of report.notes ?? []) log().info(`merge: ${note}`);
    for (const w of report.warnings) log().warn(`merge: ${w}`);
    for (const x of report.patched)
      log().debug(`merge: ${x.initializer} ← ${x.module}${x.transposed ? ' (transposed)' : ''}`);
    log().info(
      `merge: wrote ${report.files.join(', ')} (${formatBytes(report.bytes)}) in ${(performance.now() - started).toFixed(0)} ms`,
    );
    const n = report.patched.length;
    const reveal = vscode.l10n.t('Reveal');
    const openFolder = vscode.l10n.t('Open Folder');
    const choice = await vscode.window.showInformationMessage(
      mergeWroteText(basename(report.out), formatBytes(report.bytes), n, report.warnings.length),
      reveal,
      openFolder,
    );
    const out = vscode.Uri.file(report.out);
    if (choice === reveal) await vscode.commands.executeCommand('revealInExplorer', out);
    else if (choice === openFolder) await vscode.commands.executeCommand('revealFileInOS', out);
  } catch (e) {
    // A cancelled, timed-out or crashed child was killed mid-write: its temps go now (the listener
    // in extension.ts logs each), not at the next export into this folder.
    await removeStaleTemps(dirname(target.fsPath));
    const err = toErrorDto(e);
    if (err.code === 'SmokeCancelled') {
      log().info('merge: cancelled');
      return;
    }
    log().error(`merge: ${err.code}: ${err.message}`);
    void vscode.window
      .showErrorMessage(
        smokeErrorText(vscode.l10n.t('the merge failed'), err.code, err.message),
        showLogLabel(),
      )
      .then(showLogOn);
  }
}

/** "Run GPU Smoke Test" and the merged exports. onnxruntime only ever loads in the child. */
export function registerSmokeCommands(
  context: vscode.ExtensionContext,
  provider: CheckpointEditorProvider,
): void {
  const workerPath = vscode.Uri.joinPath(context.extensionUri, 'dist', 'smokeWorker.js').fsPath;
  context.subscriptions.push(
    vscode.commands.registerCommand('loraLens.runSmokeTest', (arg?: unknown) =>
      runSmokeTest(provider, workerPath, context.secrets, arg),
    ),
    vscode.commands.registerCommand('loraLens.exportMergedOnnx', (arg?: unknown) =>
      exportMerged(provider, workerPath, context.secrets, arg, true),
    ),
    vscode.commands.registerCommand('loraLens.exportMergedSafetensors', (arg?: unknown) =>
      exportMerged(provider, workerPath, context.secrets, arg, false),
    ),
  );
}
