import * as vscode from 'vscode';

/** File extensions LoRA Lens opens as checkpoints (shard indexes are `.json`). */
const CHECKPOINT_EXTENSIONS = ['safetensors', 'bin', 'pt', 'pth', 'ckpt', 'gguf', 'onnx'];

/** The open dialog's filter for checkpoints; `withIndex` adds shard indexes (`*.index.json`). */
export function checkpointFilters(withIndex: boolean): Record<string, string[]> {
  return {
    [vscode.l10n.t('Checkpoints')]: withIndex
      ? [...CHECKPOINT_EXTENSIONS, 'json']
      : CHECKPOINT_EXTENSIONS,
  };
}
