/**
 * Output plumbing for the merge: where the base's ONNX file is, refusing to write over a source, a
 * streamed file copy, and writing several files so that a failure leaves none of them.
 */
import { readdir, rm, stat, open, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseHubRef } from '../../formats/hub.js';
import { CheckpointError } from '../../formats/errors.js';
import { refuseSources, writeAtomically } from '../atomicFile.js';

export { refuseSources };

const COPY_CHUNK = 4 * 1024 * 1024;

/** The local .onnx file behind a base path (a file, or a folder with model.onnx or one .onnx). */
export async function onnxFileOf(basePath: string): Promise<string> {
  if (parseHubRef(basePath))
    throw new CheckpointError(
      'InvalidExport',
      `${basePath} is a Hub repo; merging needs a local ONNX model file`,
      basePath,
    );
  const full = resolve(basePath);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new CheckpointError('FileNotFound', `${basePath} does not exist`, basePath);
  if (!info.isDirectory()) return full;
  const names = (await readdir(full)).filter((n) => n.toLowerCase().endsWith('.onnx'));
  const pick = names.includes('model.onnx')
    ? 'model.onnx'
    : names.length === 1
      ? names[0]
      : undefined;
  if (!pick)
    throw new CheckpointError(
      'InvalidExport',
      `${basePath} holds ${names.length} .onnx files; name the one to merge into`,
      basePath,
    );
  return join(full, pick);
}

/** Streams `source` into `h` from byte `at`; returns the bytes copied. */
export async function copyInto(
  source: string,
  h: FileHandle,
  at: number,
  signal?: AbortSignal,
): Promise<number> {
  const input = await open(source, 'r');
  try {
    const buf = new Uint8Array(COPY_CHUNK);
    let done = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await input.read(buf, 0, buf.length, done);
      if (bytesRead === 0) return done;
      await h.write(buf, 0, bytesRead, at + done);
      done += bytesRead;
    }
  } finally {
    await input.close();
  }
}

export interface OutputFile {
  readonly path: string;
  write(handle: FileHandle): Promise<void>;
}

/**
 * Writes every file through a temp file. The last file is renamed first and the first file last, so
 * the model (first) only appears once its data is in place; a failure removes what was renamed.
 */
export async function writeAllAtomically(
  files: readonly OutputFile[],
  protect: readonly string[],
): Promise<void> {
  const [first, ...rest] = files;
  if (!first) return;
  let restWritten = false;
  try {
    await writeAtomically(
      first.path,
      async (h) => {
        await first.write(h);
        await writeAllAtomically(rest, protect);
        restWritten = true;
      },
      { protect },
    );
  } catch (e) {
    if (restWritten) await Promise.all(rest.map((f) => rm(f.path, { force: true })));
    throw e;
  }
}
