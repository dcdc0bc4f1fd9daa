import * as vscode from 'vscode';
import { MemoryByteSource } from '../core/formats/byteSource.js';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { CheckpointError, toCheckpointError } from '../core/formats/errors.js';
import { logicalView, openCheckpoint, openPath } from '../core/formats/index.js';
import { formatBytes } from '../shared/format.js';
import { maxNonFileReadBytes } from './settings.js';

export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** `ranged`: positioned reads of local files; `whole`: read through workspace.fs in one go. */
  readonly access: 'ranged' | 'whole';
}

function fileName(uri: vscode.Uri): string {
  return uri.path.slice(uri.path.lastIndexOf('/') + 1) || uri.toString();
}

/**
 * Local files are read by range, whatever their size, with their folder at hand (shards, ONNX external
 * data, adapter_config.json). Other schemes (virtual workspaces) can only be read whole, so a size
 * setting guards them, and sibling files are not followed.
 */
export async function openUri(uri: vscode.Uri): Promise<OpenedCheckpoint> {
  if (uri.scheme === 'file') return { checkpoint: await openPath(uri.fsPath), access: 'ranged' };
  let size: number;
  try {
    size = (await vscode.workspace.fs.stat(uri)).size;
  } catch (e) {
    throw toCheckpointError(e);
  }
  const limit = maxNonFileReadBytes(uri);
  if (size > limit) {
    throw new CheckpointError(
      'FileTooLargeForWholeRead',
      `${fileName(uri)} is ${formatBytes(size)} on a ${uri.scheme}: file system, which can only be read whole; ` +
        `that is over the ${formatBytes(limit)} limit set by loraLens.maxNonFileReadBytes. Raise the setting, or open a local copy.`,
    );
  }
  const source = new MemoryByteSource(await vscode.workspace.fs.readFile(uri), fileName(uri));
  return { checkpoint: await logicalView(await openCheckpoint(source)), access: 'whole' };
}
