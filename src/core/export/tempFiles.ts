/**
 * The temporary files of atomic writes: their naming, the ones this process is writing, and the sweep
 * that removes the ones a killed writer left behind. A temp is `.<target name>.<pid>.<8 hex>.tmp`
 * beside its target (`.partial`: a finished shard of a sharded write, waiting for its rename); it is stale when the process with that pid is gone (or is this process, which
 * is not writing it). A live pid reused by another program keeps its file: we never guess.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.(?:tmp|partial)$/;

/** Temps this process has open now (absolute paths). */
const live = new Set<string>();

type StaleListener = (removed: readonly string[]) => void;
const listeners = new Set<StaleListener>();

/** Hears of every stale temp a sweep removed (the CLI prints them, the extension logs them). */
export function onStaleTempsRemoved(listener: StaleListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A fresh temp path beside `target` (absolute), registered as live until `releaseTemp`. */
export function claimTemp(target: string, kind: 'tmp' | 'partial' = 'tmp'): string {
  const temp = join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.${kind}`,
  );
  live.add(temp);
  return temp;
}

export function releaseTemp(temp: string): void {
  live.delete(temp);
}

/** Is a process with this pid running? EPERM means it runs under another user. */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(name: string, full: string): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  return pid === process.pid ? !live.has(full) : !processAlive(pid);
}

/** Removes the stale temps in `dir`; returns their paths. A folder that cannot be read has none. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const full = join(dir, name);
    if (!isStale(name, full)) continue;
    try {
      // A staging folder (the editor's Resize…/Combine With…) has the same naming.
      await rm(full, { force: true, recursive: true });
      removed.push(full);
    } catch {
      // A temp we cannot remove (permissions) stays; the write itself reports what matters.
    }
  }
  if (removed.length > 0) for (const l of listeners) l(removed);
  return removed;
}

/**
 * Removes every temp this process is writing, synchronously: for SIGINT/SIGTERM handlers and
 * deactivation, where no promise will run to its end.
 */
export function removeLiveTempsSync(): number {
  let n = 0;
  for (const temp of live) {
    try {
      rmSync(temp, { force: true });
      n++;
    } catch {
      // Best effort: the next write's sweep removes it once this process is gone.
    }
  }
  live.clear();
  return n;
}
