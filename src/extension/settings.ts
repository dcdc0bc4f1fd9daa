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
