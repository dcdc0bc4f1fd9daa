import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileByteSource, unpooledBytes } from '../../../src/core/formats/byteSource.js';
import { CheckpointError } from '../../../src/core/formats/errors.js';

describe('file byte source', () => {
  let dir = '';
  const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 255);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-bytes-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the same bytes in place as through the thread pool', async () => {
    const path = join(dir, 'a.bin');
    await writeFile(path, bytes);
    const source = await FileByteSource.open(path);
    try {
      const pooled = await source.readInto(1000, new Uint8Array(777));
      const target = new Uint8Array(777);
      assert.equal(source.readIntoSync(1000, target), target, 'fills the buffer it is given');
      assert.deepEqual(target, pooled);
      assert.deepEqual(target, bytes.subarray(1000, 1777));
    } finally {
      await source.close();
    }
  });

  it('names a range past the end, and a file cut short while open', async () => {
    const path = join(dir, 'b.bin');
    await writeFile(path, bytes);
    const source = await FileByteSource.open(path);
    try {
      assert.throws(
        () => source.readIntoSync(4000, new Uint8Array(200)),
        (e: unknown) => e instanceof CheckpointError && e.code === 'InvalidRange',
      );
      await truncate(path, 2048);
      assert.throws(
        () => source.readIntoSync(2000, new Uint8Array(100)),
        (e: unknown) =>
          e instanceof CheckpointError && e.code === 'IoError' && /ended early/.test(e.message),
      );
    } finally {
      await source.close();
    }
  });

  it('gives a large read a block past the mmap threshold, and reads it whole', async () => {
    const MiB = 1024 * 1024;
    assert.equal(unpooledBytes(4096).buffer.byteLength, 4096, 'a small read is its own size');
    const large = unpooledBytes(3 * MiB);
    assert.equal(large.length, 3 * MiB);
    assert.ok(large.buffer.byteLength > 32 * MiB, 'a block glibc always maps and unmaps');
    assert.equal(unpooledBytes(40 * MiB).buffer.byteLength, 40 * MiB, 'past 32 MiB, its own size');
    const path = join(dir, 'c.bin');
    const big = Uint8Array.from({ length: 2 * MiB + 3 }, (_, i) => (i * 13 + (i >> 11)) & 255);
    await writeFile(path, big);
    const source = await FileByteSource.open(path);
    try {
      const read = await source.read(1, big.length - 1);
      assert.equal(read.length, big.length - 1);
      assert.deepEqual(read, big.subarray(1));
    } finally {
      await source.close();
    }
  });
});
