/**
 * Atomic writes leave no debris: an error removes the temp, a killed writer's temp is removed by the
 * next write into its folder (and said so), a live writer's temp is left alone, and a full disk or a
 * folder that refuses writes is a named error with the old file intact.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { namedWriteError, writeAtomically } from '../../../src/core/export/atomicFile.js';
import {
  claimTemp,
  onStaleTempsRemoved,
  processAlive,
  releaseTemp,
  removeLiveTempsSync,
} from '../../../src/core/export/tempFiles.js';
import { CheckpointError } from '../../../src/core/formats/errors.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lora-lens-atomic-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: injected`), { code });

/** A pid that is certainly not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid as number;
  await new Promise((r) => child.on('exit', r));
  return pid;
}

describe('atomic writes', () => {
  it('an error in the write removes the temp and keeps the old file', async () => {
    const dir = freshDir();
    const target = join(dir, 'out.safetensors');
    writeFileSync(target, 'old');
    await assert.rejects(
      writeAtomically(target, async (h) => {
        await h.write('half of the new');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
  });

  it('ENOSPC mid-write is DiskFull, the temp removed, the old file intact', async () => {
    const dir = freshDir();
    const target = join(dir, 'out.safetensors');
    writeFileSync(target, 'old');
    await assert.rejects(
      writeAtomically(target, async (h) => {
        await h.write('some bytes');
        throw errno('ENOSPC');
      }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'DiskFull',
    );
    assert.equal(readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
  });

  it('EACCES, EPERM and EROFS are NotWritable; other errors pass through unchanged', () => {
    for (const code of ['EACCES', 'EPERM', 'EROFS']) {
      const e = namedWriteError(errno(code), '/x/out.safetensors');
      assert.ok(e instanceof CheckpointError && e.code === 'NotWritable', code);
    }
    const other = errno('EIO');
    assert.equal(namedWriteError(other, '/x'), other);
  });

  it('a folder that refuses writes is NotWritable (non-root only)', async (t) => {
    if (process.getuid?.() === 0) return t.skip('root writes anywhere');
    const dir = freshDir();
    const { chmodSync } = await import('node:fs');
    chmodSync(dir, 0o555);
    try {
      await assert.rejects(
        writeAtomically(join(dir, 'out.json'), async (h) => void (await h.write('x'))),
        (e: unknown) => e instanceof CheckpointError && e.code === 'NotWritable',
      );
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it("removes a dead writer's temps (any target in the folder) and says so", async () => {
    const dir = freshDir();
    const pid = await deadPid();
    assert.equal(processAlive(pid), false);
    const stale = [
      `.out.safetensors.${pid}.0a1b2c3d.tmp`,
      `.model-00001-of-00002.safetensors.${pid}.deadbeef.partial`,
    ];
    for (const n of stale) writeFileSync(join(dir, n), 'debris');
    const heard: string[] = [];
    const stop = onStaleTempsRemoved((r) => heard.push(...r));
    try {
      await writeAtomically(join(dir, 'out.safetensors'), async (h) => void (await h.write('new')));
    } finally {
      stop();
    }
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
    assert.deepEqual(heard.sort(), stale.map((n) => join(dir, n)).sort());
  });

  it("keeps a live writer's temp, files that only look alike, and this process's own live temps", async () => {
    const dir = freshDir();
    const keep = [
      `.out.safetensors.${process.ppid}.0a1b2c3d.tmp`, // the parent runs
      `.notes.${process.ppid}.txt`,
      'out.safetensors.1.0a1b2c3d.tmp', // no leading dot: not ours
    ];
    for (const n of keep) writeFileSync(join(dir, n), 'x');
    const mine = claimTemp(join(dir, 'other.safetensors'));
    writeFileSync(mine, 'in progress');
    try {
      await writeAtomically(join(dir, 'out.safetensors'), async (h) => void (await h.write('new')));
      assert.deepEqual(
        readdirSync(dir).sort(),
        [...keep, 'out.safetensors', mine.slice(dir.length + 1)].sort(),
      );
    } finally {
      releaseTemp(mine);
    }
  });

  it("this process's temps of a write that is no longer running are stale", async () => {
    const dir = freshDir();
    const orphan = join(dir, `.out.safetensors.${process.pid}.0a1b2c3d.tmp`);
    writeFileSync(orphan, 'left by an earlier process with this pid');
    await writeAtomically(join(dir, 'out.safetensors'), async (h) => void (await h.write('new')));
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
  });

  it('removeLiveTempsSync removes what a running write holds (for signal handlers)', async () => {
    const dir = freshDir();
    let removed = -1;
    await assert.rejects(
      writeAtomically(join(dir, 'out.safetensors'), async (h) => {
        await h.write('partial');
        removed = removeLiveTempsSync();
        throw new Error('interrupted');
      }),
      /interrupted/,
    );
    assert.equal(removed, 1);
    assert.deepEqual(readdirSync(dir), []);
  });
});
