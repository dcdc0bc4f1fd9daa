import { constants } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { FileByteSource, type ByteSource } from './byteSource.js';
import { CheckpointError } from './errors.js';

/**
 * The files next to a checkpoint: shards, ONNX external data, config.json. Paths are relative to the
 * checkpoint's folder and must stay inside it; a file that names `../../etc/passwd` is refused, never
 * opened.
 */
export interface Siblings {
  /** A label for messages: the folder path or the repo id. */
  readonly label: string;
  open(relativePath: string): Promise<ByteSource>;
  exists(relativePath: string): Promise<boolean>;
  size(relativePath: string): Promise<number>;
  /** Top-level file names, sorted. */
  list(): Promise<string[]>;
}

/** Refuses absolute paths, `..` escapes and NUL bytes; returns the normalised relative path. */
export function checkRelativePath(relativePath: string, label: string): string {
  if (
    relativePath.includes('\0') ||
    isAbsolute(relativePath) ||
    /^[a-zA-Z]:[\\/]/.test(relativePath)
  ) {
    throw new CheckpointError(
      'PathOutsideFolder',
      `"${relativePath}" is not a path inside ${label}`,
      relativePath,
    );
  }
  const normal = normalize(relativePath.replace(/\\/g, '/'));
  if (normal === '..' || normal.startsWith(`..${sep}`) || normal.startsWith('../')) {
    throw new CheckpointError(
      'PathOutsideFolder',
      `"${relativePath}" points outside ${label}`,
      relativePath,
    );
  }
  return normal;
}

export class LocalFolder implements Siblings {
  constructor(readonly folder: string) {}

  get label(): string {
    return this.folder;
  }

  private resolve(relativePath: string): string {
    const normal = checkRelativePath(relativePath, this.folder);
    const full = join(this.folder, normal);
    const rel = relative(this.folder, full);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new CheckpointError(
        'PathOutsideFolder',
        `"${relativePath}" points outside ${this.folder}`,
        relativePath,
      );
    }
    return full;
  }

  /** Also follows links: a symlink inside the folder that points outside it is refused. */
  async open(relativePath: string): Promise<ByteSource> {
    const full = this.resolve(relativePath);
    let real: string;
    let root: string;
    try {
      [real, root] = await Promise.all([realpath(full), realpath(this.folder)]);
    } catch {
      return FileByteSource.open(full); // let the open report ENOENT by name
    }
    const rel = relative(root, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new CheckpointError(
        'PathOutsideFolder',
        `"${relativePath}" links to ${real}, outside ${this.folder}`,
        relativePath,
      );
    }
    return FileByteSource.open(full);
  }

  async exists(relativePath: string): Promise<boolean> {
    try {
      await access(this.resolve(relativePath), constants.R_OK);
      return true;
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      return false;
    }
  }

  async size(relativePath: string): Promise<number> {
    return (await stat(this.resolve(relativePath))).size;
  }

  async list(): Promise<string[]> {
    return (await readdir(this.folder)).sort();
  }
}
