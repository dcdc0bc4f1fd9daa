import { open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CheckpointError } from '../formats/errors.js';
import { claimTemp, releaseTemp, removeStaleTemps } from './tempFiles.js';

/**
 * Writes a file the safe way: into a temporary file beside the target, flushed to disk, then renamed
 * over it. A crash or an error leaves the old file (or nothing), never half a file. An error removes
 * the temp; a killed writer's temp is removed by the next write into the same folder (tempFiles.ts).
 */
export async function writeAtomically(
  target: string,
  write: (handle: FileHandle) => Promise<void>,
  options: { protect?: readonly string[] } = {},
): Promise<void> {
  const full = resolve(target);
  for (const p of options.protect ?? []) {
    if ((await canonical(p)) === (await canonical(full))) {
      throw new CheckpointError(
        'WouldOverwriteSource',
        `refusing to write over the source file ${p}; choose another output path`,
        p,
      );
    }
  }
  await removeStaleTemps(dirname(full));
  const temp = claimTemp(full);
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (e) {
    releaseTemp(temp);
    throw namedWriteError(e, full);
  }
  try {
    await write(handle);
    await handle.sync();
    await handle.close();
    await rename(temp, full);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw namedWriteError(e, full);
  } finally {
    releaseTemp(temp);
  }
}

/** A full disk and a folder that refuses writes get their own names; the rest pass through. */
export function namedWriteError(e: unknown, target: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new CheckpointError(
      'DiskFull',
      `the disk is full while writing ${target}: nothing was written, the old file (if any) is unchanged`,
      target,
    );
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return new CheckpointError(
      'NotWritable',
      `cannot write ${target} (${code === 'EROFS' ? 'read-only file system' : 'permission denied'}): nothing was written`,
      target,
    );
  return e;
}

async function canonical(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return resolve(p);
  }
}

/** Refuses before anything is written when an output is one of the sources. */
export async function refuseSources(
  outputs: readonly string[],
  protect: readonly string[],
): Promise<void> {
  const sources = new Map<string, string>();
  for (const p of protect) sources.set(await canonical(p), p);
  for (const o of outputs) {
    const source = sources.get(await canonical(o));
    if (source !== undefined)
      throw new CheckpointError(
        'WouldOverwriteSource',
        `refusing to write over the source file ${source}; choose another output path`,
        source,
      );
  }
}

/** Pretty JSON with a final newline, written atomically (mapping files, adapter_config.json). */
export function writeJsonAtomically(
  target: string,
  value: unknown,
  options: { protect?: readonly string[] } = {},
): Promise<void> {
  const text = JSON.stringify(value, null, 2) + '\n';
  return writeAtomically(target, async (h) => void (await h.writeFile(text)), options);
}
