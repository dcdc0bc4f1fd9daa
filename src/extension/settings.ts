import { isAbsolute } from 'node:path';
import * as vscode from 'vscode';
import type { EpName } from '../core/smoke/types.js';
import { log } from './log.js';
import { parseExecutionProviders, parseOptionalPath, parseTimeoutSeconds } from './smokeLogic.js';

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
  return inWorkspaceFolder(v, scope);
}

/** A relative path setting, resolved against the workspace folder of `scope` (or the first one). */
function inWorkspaceFolder(relative: string, scope?: vscode.Uri): string {
  const folder = scope
    ? vscode.workspace.getWorkspaceFolder(scope)
    : vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.joinPath(folder.uri, relative).fsPath : relative;
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

/** A refused setting value is logged once per distinct message, not on every run. */
const warned = new Set<string>();
function warnOnce(warning: string | undefined): void {
  if (!warning || warned.has(warning)) return;
  warned.add(warning);
  log().warn(`settings: ${warning}`);
}

function smokeSetting(key: string, scope?: vscode.Uri): unknown {
  return vscode.workspace.getConfiguration('loraLens', scope).get<unknown>(key);
}

/** `loraLens.executionProviders`: the ladder the smoke test tries, in order. */
export function executionProviders(scope?: vscode.Uri): EpName[] {
  const r = parseExecutionProviders(smokeSetting('executionProviders', scope));
  warnOnce(r.warning);
  return r.value;
}

/** `loraLens.cudaProviderPath`: where the CUDA provider and its libraries are, when set. */
export function cudaProviderPath(scope?: vscode.Uri): string | undefined {
  const r = parseOptionalPath('loraLens.cudaProviderPath', smokeSetting('cudaProviderPath', scope));
  warnOnce(r.warning);
  return r.value;
}

/** `loraLens.smokeTest.timeoutSeconds`, in ms. */
export function smokeTimeoutMs(scope?: vscode.Uri): number {
  const r = parseTimeoutSeconds(smokeSetting('smokeTest.timeoutSeconds', scope));
  warnOnce(r.warning);
  return r.value * 1000;
}

/** `loraLens.smokeTest.referencePath`: absolute, or relative to the workspace folder. */
export function smokeReferencePath(scope?: vscode.Uri): string | undefined {
  const r = parseOptionalPath(
    'loraLens.smokeTest.referencePath',
    smokeSetting('smokeTest.referencePath', scope),
  );
  warnOnce(r.warning);
  if (!r.value || isAbsolute(r.value)) return r.value;
  return inWorkspaceFolder(r.value, scope);
}

/** `loraLens.charts.enabled`: false hides the statistics chart of the Overview. */
export function chartsEnabled(scope?: vscode.Uri): boolean {
  const value = smokeSetting('charts.enabled', scope);
  if (value === undefined || typeof value === 'boolean') return value !== false;
  warnOnce(`loraLens.charts.enabled must be true or false (got ${JSON.stringify(value)})`);
  return true;
}
