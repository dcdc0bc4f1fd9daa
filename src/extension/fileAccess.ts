import * as vscode from 'vscode';
import { FileByteSource, MemoryByteSource, type ByteSource } from '../core/formats/byteSource.js';
import { CheckpointError, toCheckpointError } from '../core/formats/errors.js';
import { formatBytes } from '../shared/format.js';
import { maxNonFileReadBytes } from './settings.js';

export interface OpenedSource {
  readonly source: ByteSource;
  /** `ranged`: positioned reads of a local file; `whole`: read through workspace.fs in one go. */
  readonly access: 'ranged' | 'whole';
}

function fileName(uri: vscode.Uri): string {
  return uri.path.slice(uri.path.lastIndexOf('/') + 1) || uri.toString();
}

/**
 * Local files are read by range, whatever their size. Other schemes (virtual workspaces, remote file
 * systems without a local path) can only be read whole, so a size setting guards them.
 */
export async function openUri(uri: vscode.Uri): Promise<OpenedSource> {
  if (uri.scheme === 'file') {
    return { source: await FileByteSource.open(uri.fsPath), access: 'ranged' };
  }
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
  const bytes = await vscode.workspace.fs.readFile(uri);
  return { source: new MemoryByteSource(bytes, fileName(uri)), access: 'whole' };
}
