import * as vscode from 'vscode';
import type { CheckpointDocument } from './checkpointDocument.js';

/** While a LoRA Lens editor is active: what the file is (`PEFT r=16`), its tensor count, or its error. */
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

  async show(document: CheckpointDocument | undefined): Promise<void> {
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
          ? ` r=${l.ranks[0]?.value ?? '?'}`
          : l.ranks.length > 1
            ? ' mixed ranks'
            : '';
      this.item.text = `$(layers) ${l.familyLabel}${rank} · ${l.modules} modules`;
      this.item.tooltip = `${document.fileName}: ${l.familyLabel} adapter, ${l.modules} modules`;
    } else {
      this.item.text = `$(layers) ${r.summary.format} · ${r.summary.tensorCount.toLocaleString('en-US')} tensors`;
      this.item.tooltip = document.fileName;
    }
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
