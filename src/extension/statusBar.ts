import * as vscode from 'vscode';
import type { CheckpointDocument } from './checkpointDocument.js';
import type { MappingState } from './mappingSession.js';

/**
 * While a LoRA Lens editor is active: what the file is (`PEFT r=16`), its module or tensor count or
 * its error, and once a base is chosen the mapping state (`42/42 mapped`, `3 unmatched`).
 */
export class CheckpointStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'loraLens.status',
    vscode.StatusBarAlignment.Right,
    100,
  );

  constructor() {
    this.item.name = 'LoRA Lens';
    this.item.command = 'loraLens.showLog';
  }

  async show(document: CheckpointDocument | undefined, mapping?: MappingState): Promise<void> {
    if (!document) {
      this.item.hide();
      return;
    }
    const r = await document.result();
    if (!r.ok) {
      this.item.text = `$(error) ${r.error.code}`;
      this.item.tooltip = r.error.message;
    } else if (r.summary.lora) {
      const l = r.summary.lora;
      const rank =
        l.ranks.length === 1
          ? `r=${l.ranks[0]?.value ?? '?'}`
          : l.ranks.length > 1
            ? vscode.l10n.t('mixed ranks')
            : '';
      const args = { family: l.familyLabel, rank, modules: l.modules };
      const unmatched = mapping ? mapping.total - mapping.mapped : 0;
      const state = !mapping
        ? ''
        : unmatched > 0
          ? ` · ${vscode.l10n.t('{0} unmatched', unmatched)}`
          : ` · ${vscode.l10n.t('{0}/{1} mapped', mapping.mapped, mapping.total)}`;
      this.item.text = `$(layers) ${
        rank
          ? vscode.l10n.t('{family} {rank} · {modules} modules', args)
          : vscode.l10n.t('{family} · {modules} modules', args)
      }${state}`;
      this.item.tooltip = vscode.l10n.t('{file}: {family} adapter, {modules} modules', {
        file: document.fileName,
        family: l.familyLabel,
        modules: l.modules,
      });
    } else {
      this.item.text = `$(layers) ${vscode.l10n.t('{format} · {tensors} tensors', { format: r.summary.format, tensors: r.summary.tensorCount.toLocaleString('en-US') })}`;
      this.item.tooltip = document.fileName;
    }
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
