import { randomBytes } from 'node:crypto';
import { open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError } from '../formats/errors.js';

/**
 * Writes a file the safe way: into a temporary file beside the target, flushed to disk, then renamed
 * over it. A crash or an error leaves the old file (or nothing), never half a file.
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
  const temp = join(
    dirname(full),
    `.${basename(full)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const handle = await open(temp, 'wx');
  try {
    await write(handle);
    await handle.sync();
    await handle.close();
    await rename(temp, full);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
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
