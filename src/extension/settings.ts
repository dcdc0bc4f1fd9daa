import * as vscode from 'vscode';

export const DEFAULT_MAX_NON_FILE_READ_BYTES = 256 * 1024 * 1024;

/** Settings are validated where they are used; a bad value falls back to the default and says so. */
export function maxNonFileReadBytes(scope?: vscode.Uri): number {
  const value = vscode.workspace
    .getConfiguration('loraLens', scope)
    .get<unknown>('maxNonFileReadBytes');
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  return DEFAULT_MAX_NON_FILE_READ_BYTES;
}

/** `loraLens.baseModel`: a path (absolute, or relative to the workspace folder) or `hf:org/name`. */
export function defaultBaseModel(scope?: vscode.Uri): string | undefined {
  const value = vscode.workspace.getConfiguration('loraLens', scope).get<unknown>('baseModel');
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  if (v.startsWith('hf:') || v.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(v)) return v;
  const folder = scope
    ? vscode.workspace.getWorkspaceFolder(scope)
    : vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.joinPath(folder.uri, v).fsPath : v;
}

export function hubEndpoint(): string | undefined {
  const value = vscode.workspace.getConfiguration('loraLens').get<unknown>('hub.endpoint');
  return typeof value === 'string' && /^https?:\/\//.test(value)
    ? value.replace(/\/+$/, '')
    : undefined;
}

/** `loraLens.mapping.highConfidence`: the confidence from which a suggestion is "high" (0.5–1). */
export function highConfidence(scope?: vscode.Uri): number {
  const value = vscode.workspace
    .getConfiguration('loraLens', scope)
    .get<unknown>('mapping.highConfidence');
  return typeof value === 'number' && value >= 0.5 && value <= 1 ? value : 0.9;
}
