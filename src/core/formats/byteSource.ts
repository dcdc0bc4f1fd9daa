import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { CheckpointError, toCheckpointError } from './errors.js';

/**
 * Random access to the bytes of one file. Readers only ever ask for the ranges they need, so a
 * multi-gigabyte checkpoint costs a header read, not a file read.
 */
export interface ByteSource {
  /** A label for messages: usually the file name. */
  readonly name: string;
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`, or fails with a named error. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Reads `target.length` bytes at `offset` into `target` and returns it. Sources that can fill a
   * caller's buffer implement it, so a loop over large tensors reuses one buffer instead of
   * allocating (and page-faulting) a fresh one per read.
   */
  readInto?(offset: number, target: Uint8Array): Promise<Uint8Array>;
  /**
   * `readInto` without the trip through the thread pool, for local files only. It blocks the thread,
   * so callers keep each read small and give way often (see export/ioPacer.ts).
   */
  readIntoSync?(offset: number, target: Uint8Array): Uint8Array;
  close(): Promise<void>;
}

/** `length` bytes at `offset`, into `into` when the source can and the sizes agree. */
export function readRange(
  source: ByteSource,
  offset: number,
  length: number,
  into?: Uint8Array,
): Promise<Uint8Array> {
  return into && into.length === length && source.readInto
    ? source.readInto(offset, into)
    : source.read(offset, length);
}

function checkRange(source: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CheckpointError(
      'InvalidRange',
      `invalid byte range ${offset}+${length} in ${source.name}`,
    );
  }
  if (offset + length > source.size) {
    throw new CheckpointError(
      'InvalidRange',
      `byte range ${offset}..${offset + length} runs past the end of ${source.name} (${source.size} bytes)`,
    );
  }
}

/** A read that found the end of the file before the bytes it was promised. */
function endedEarly(name: string, at: number): CheckpointError {
  return new CheckpointError(
    'IoError',
    `${name} ended early at byte ${at}; was it truncated while open?`,
  );
}

/** Past this, glibc's malloc never serves a block from its heap: DEFAULT_MMAP_THRESHOLD_MAX on 64-bit. */
const MMAP_THRESHOLD_MAX = 32 * 1024 * 1024;
/** Reads from here up are given a block of their own (see unpooledBytes). */
const LARGE_READ = 1024 * 1024;

/**
 * `length` unzeroed bytes that go back to the system when they are dropped. glibc's malloc serves a
 * block under its mmap threshold from its heap, and once a large mmap'd block is freed it raises the
 * threshold to that block's size (up to 32 MiB): from then on every header buffer of that size came
 * from the heap and stayed resident after it was freed (ten 100k-tensor opens kept about 80 MB of
 * RSS). A block past 32 MiB is always mmap'd and unmapped on free, and pages never written are never
 * resident, so a large read asks for one that size and uses the front of it.
 */
export function unpooledBytes(length: number): Uint8Array {
  const size =
    length >= LARGE_READ && length <= MMAP_THRESHOLD_MAX ? MMAP_THRESHOLD_MAX + 4096 : length;
  return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, length);
}

/** Positioned reads on a local file: never reads more than asked, works past 2 GiB. */
export class FileByteSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly name: string,
    readonly size: number,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<FileByteSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw toCheckpointError(e);
    }
    try {
      const stat = await handle.stat();
      if (stat.isDirectory())
        throw new CheckpointError('UnsupportedFormat', `${path} is a folder, not a file`);
      return new FileByteSource(handle, basename(path), stat.size, path);
    } catch (e) {
      await handle.close();
      throw toCheckpointError(e);
    }
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    // Unzeroed and unpooled: every byte is overwritten by readInto (or it throws), and callers may
    // keep it.
    return this.readInto(offset, unpooledBytes(length));
  }

  async readInto(offset: number, out: Uint8Array): Promise<Uint8Array> {
    const length = out.length;
    checkRange(this, offset, length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw endedEarly(this.name, offset + done);
      done += bytesRead;
    }
    return out;
  }

  readIntoSync(offset: number, out: Uint8Array): Uint8Array {
    const length = out.length;
    checkRange(this, offset, length);
    let done = 0;
    while (done < length) {
      let bytesRead: number;
      try {
        bytesRead = readSync(this.handle.fd, out, done, length - done, offset + done);
      } catch (e) {
        throw toCheckpointError(e);
      }
      if (bytesRead === 0) throw endedEarly(this.name, offset + done);
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Bytes already in memory (virtual file systems, tests). */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'buffer',
  ) {
    this.size = bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/** Wraps a source and counts what is read: the proof that we read headers only. */
export class CountingByteSource implements ByteSource {
  bytesRead = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    this.bytesRead += length;
    return this.inner.read(offset, length);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
