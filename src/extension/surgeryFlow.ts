/**
 * The flow every editor surgery shares (Resize…, Combine With…, Export For Architecture…): the
 * result computed into a staging folder beside the destination, the per-module report shown, and
 * only on "Write" the files renamed into place; then the result opens, or its smoke test runs, in one
 * click (it remembers the base it was made for).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import * as vscode from 'vscode';
import { sourceFiles } from '../core/export/sourceFiles.js';
import type { StoreDtype } from '../core/surgery/castReport.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { log } from './log.js';
import { Staging, type ReportRow } from './surgeryLogic.js';

export function adapterUri(
  provider: CheckpointEditorProvider,
  arg: unknown,
): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  return provider.activeDocument?.uri;
}

export async function pickDtype(): Promise<StoreDtype | undefined | null> {
  const items: (vscode.QuickPickItem & { dtype: StoreDtype | undefined })[] = [
    { label: vscode.l10n.t('Keep the source dtype'), dtype: undefined },
    { label: 'F16', dtype: 'F16' },
    { label: 'BF16', dtype: 'BF16' },
    { label: 'F32', dtype: 'F32' },
    { label: 'F8_E4M3', description: vscode.l10n.t('smallest; a few % error'), dtype: 'F8_E4M3' },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Store the factors as'),
  });
  return pick ? pick.dtype : null;
}

export async function askDestination(
  source: vscode.Uri,
  suffix: string,
  writesConfig?: boolean,
): Promise<vscode.Uri | undefined> {
  const ext = extname(source.fsPath) || '.safetensors';
  const folder = dirname(source.fsPath);
  // A PEFT adapter's config goes beside its weights: a folder of its own keeps the source's intact.
  const peft = writesConfig ?? existsSync(join(folder, 'adapter_config.json'));
  const own = existsSync(join(folder, 'adapter_config.json'));
  const proposed = peft
    ? own
      ? join(dirname(folder), `${basename(folder)}-${suffix}`, basename(source.fsPath))
      : join(folder, `${basename(source.fsPath, ext)}-${suffix}`, 'adapter_model.safetensors')
    : join(folder, `${basename(source.fsPath, ext)}-${suffix}.safetensors`);
  return vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(proposed),
    filters: { [vscode.l10n.t('safetensors adapter')]: ['safetensors'] },
    title: vscode.l10n.t('Write the new adapter to'),
  });
}

/** The report as a list; true when the user chose to write. */
async function confirm(report: { title: string; rows: ReportRow[] }, to: string): Promise<boolean> {
  const write: vscode.QuickPickItem = {
    label: `$(check) ${vscode.l10n.t('Write {0}', basename(to))}`,
    description: dirname(to),
    alwaysShow: true,
  };
  const items: vscode.QuickPickItem[] = [
    write,
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    ...report.rows,
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: report.title,
    placeHolder: vscode.l10n.t('Review the modules; choose "Write" to write the adapter'),
    matchOnDescription: true,
  });
  return pick === write;
}

/** Computes into a staging folder, shows the report, and writes on confirmation. */
export async function stageAndWrite<R>(
  provider: CheckpointEditorProvider,
  sources: readonly vscode.Uri[],
  destination: vscode.Uri,
  what: string,
  compute: (out: string) => Promise<R>,
  rows: (r: R) => { title: string; rows: ReportRow[] },
  /** The base the result goes with; the first source's when not given. */
  baseRef?: string,
): Promise<void> {
  const staging = await Staging.create(destination.fsPath);
  try {
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: what },
      () => compute(staging.output),
    );
    const shown = rows(report);
    log().info(`${what}: ${shown.title}`);
    if (!(await confirm(shown, destination.fsPath))) {
      log().info(`${what}: not written (the user closed the report)`);
      return;
    }
    const written = await staging.commit(await sourceFiles(sources.map((s) => s.fsPath)));
    log().info(`${what}: wrote ${written.join(', ')}`);
    const base = baseRef ?? provider.bases.baseFor(sources[0] as vscode.Uri);
    if (base) await provider.bases.remember(destination, base);
    await offerNext(destination, base !== undefined);
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const code = typeof err.code === 'string' ? err.code : 'InternalError';
    const message = typeof err.message === 'string' ? err.message : String(e);
    log().error(`${what}: ${code}: ${message}`);
    void vscode.window.showErrorMessage(vscode.l10n.t('LoRA Lens: {0}: {1}', code, message));
  } finally {
    await staging.discard();
  }
}

async function offerNext(written: vscode.Uri, hasBase: boolean): Promise<void> {
  const open = vscode.l10n.t('Open');
  const smoke = vscode.l10n.t('Run Smoke Test');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('LoRA Lens: wrote {0}.', basename(written.fsPath)),
    ...(hasBase ? [smoke, open] : [open]),
  );
  if (choice === open || choice === smoke)
    await vscode.commands.executeCommand('vscode.openWith', written, 'loraLens.checkpoint');
  if (choice === smoke) await vscode.commands.executeCommand('loraLens.runSmokeTest', written);
}
