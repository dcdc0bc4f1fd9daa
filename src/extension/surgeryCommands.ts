/**
 * "Resize Adapter…", "Combine With…" and "Export For Architecture…": what to do and where to write
 * asked for, then the shared staged flow (surgeryFlow.ts).
 */
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { combineAdapters } from '../core/surgery/combine.js';
import { resizeAdapter } from '../core/surgery/resize.js';
import type { CheckpointEditorProvider } from './editorProvider.js';
import { exportForArchitectureCommand } from './exportForArchitecture.js';
import { checkpointFilters } from './fileFilters.js';
import { adapterUri, askDestination, pickDtype, stageAndWrite } from './surgeryFlow.js';
import { combineRows, parseRule, parseWeights, resizeRows, type RuleKind } from './surgeryLogic.js';

async function resizeCommand(provider: CheckpointEditorProvider, arg: unknown): Promise<void> {
  const source = adapterUri(provider, arg);
  if (!source) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
    );
    return;
  }
  const kinds: (vscode.QuickPickItem & { rule: RuleKind })[] = [
    { label: vscode.l10n.t('To a rank'), description: 'e.g. 16', rule: 'rank' },
    {
      label: vscode.l10n.t('Keep a share of ‖ΔW‖'),
      description: vscode.l10n.t('e.g. 0.9 (kohya sv_fro)'),
      rule: 'energy',
    },
    {
      label: vscode.l10n.t('Keep σ ≥ σmax / R'),
      description: vscode.l10n.t('e.g. 8 (kohya sv_ratio)'),
      rule: 'ratio',
    },
  ];
  const kind = await vscode.window.showQuickPick(kinds, {
    title: vscode.l10n.t('Resize {0}', basename(source.fsPath)),
  });
  if (!kind) return;
  const text = await vscode.window.showInputBox({
    title: kind.label,
    prompt: kind.description,
    validateInput: (v) => {
      const r = parseRule(kind.rule, v);
      return typeof r === 'string' ? r : undefined;
    },
  });
  if (text === undefined) return;
  const rule = parseRule(kind.rule, text);
  if (typeof rule === 'string') return;
  const dtype = await pickDtype();
  if (dtype === null) return;
  const suffix =
    rule.kind === 'rank'
      ? `r${rule.rank}`
      : rule.kind === 'energy'
        ? `e${rule.energy}`
        : `sv${rule.ratio}`;
  const destination = await askDestination(source, suffix);
  if (!destination) return;
  await stageAndWrite(
    provider,
    [source],
    destination,
    vscode.l10n.t('LoRA Lens: resizing {0}', basename(source.fsPath)),
    (out) => resizeAdapter(source.fsPath, out, { rule, ...(dtype ? { dtype } : {}) }),
    resizeRows,
  );
}

async function combineCommand(provider: CheckpointEditorProvider, arg: unknown): Promise<void> {
  const first = adapterUri(provider, arg);
  if (!first) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('LoRA Lens: open an adapter in the LoRA Lens editor first.'),
    );
    return;
  }
  const others = await vscode.window.showOpenDialog({
    canSelectMany: true,
    filters: checkpointFilters(false),
    defaultUri: vscode.Uri.file(dirname(first.fsPath)),
    title: vscode.l10n.t('Combine {0} with…', basename(first.fsPath)),
  });
  if (!others?.length) return;
  const sources = [first, ...others];
  const text = await vscode.window.showInputBox({
    title: vscode.l10n.t('Weights, one per adapter'),
    prompt: sources.map((s, i) => `#${i + 1} ${basename(s.fsPath)}`).join(', '),
    value: sources.map(() => '1').join(', '),
    validateInput: (v) => {
      const w = parseWeights(v, sources.length);
      return typeof w === 'string' ? w : undefined;
    },
  });
  if (text === undefined) return;
  const weights = parseWeights(text, sources.length);
  if (typeof weights === 'string') return;
  const method = await vscode.window.showQuickPick(
    [
      {
        label: 'cat',
        description: vscode.l10n.t('exact: the ranks add up'),
        method: 'cat' as const,
      },
      {
        label: 'svd',
        description: vscode.l10n.t('re-factorised to the largest input rank; error reported'),
        method: 'svd' as const,
      },
    ],
    { title: vscode.l10n.t('How to combine') },
  );
  if (!method) return;
  const dtype = await pickDtype();
  if (dtype === null) return;
  const destination = await askDestination(first, 'combined');
  if (!destination) return;
  await stageAndWrite(
    provider,
    sources,
    destination,
    vscode.l10n.t('LoRA Lens: combining {0} adapters', sources.length),
    (out) =>
      combineAdapters(
        sources.map((s) => s.fsPath),
        out,
        { weights, method: method.method, ...(dtype ? { dtype } : {}) },
      ),
    combineRows,
  );
}

export function registerSurgeryCommands(
  context: vscode.ExtensionContext,
  provider: CheckpointEditorProvider,
): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('loraLens.resizeAdapter', (arg?: unknown) =>
      resizeCommand(provider, arg),
    ),
    vscode.commands.registerCommand('loraLens.combineWith', (arg?: unknown) =>
      combineCommand(provider, arg),
    ),
    vscode.commands.registerCommand('loraLens.exportForArchitecture', (arg?: unknown) =>
      exportForArchitectureCommand(context, provider, arg),
    ),
  );
}
