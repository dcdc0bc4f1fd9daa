import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Checkpoint, TensorInfo } from '../formats/checkpoint.js';
import { decodeValues } from '../formats/decode.js';
import { DTYPE_BITS, DTYPES, isDType, type DType } from '../formats/dtypes.js';
import { encodeFloats, type FloatTarget } from '../formats/encode.js';
import { CheckpointError } from '../formats/errors.js';
import { MAX_HEADER_SIZE } from '../formats/safetensors.js';
import { writeAtomically } from './atomicFile.js';
import { IoPacer } from './ioPacer.js';

/** One tensor to write: where its bytes come from and the name it gets. */
export interface TensorToWrite {
  readonly name: string;
  readonly from: TensorInfo;
  readonly checkpoint: Checkpoint;
  /** Convert floating-point data to this dtype; other dtypes are copied unchanged. */
  readonly dtype?: FloatTarget;
}

export interface WriteResult {
  readonly tensors: number;
  readonly bytes: number;
}

const FLOATS = new Set<string>(['F64', 'F32', 'F16', 'BF16']);
/** Elements converted per step, so memory stays bounded whatever the tensor size. */
const CONVERT_CHUNK = 1 << 22;
/** Bytes copied per read when no conversion is needed. */
const COPY_CHUNK = 1 << 20;
/** Small tensors read ahead of the one being written. */
const PREFETCH = 8;

/**
 * Collects small writes into blocks of COPY_CHUNK bytes: one syscall per block, not per tensor. While
 * the pacer allows, a full block is written in place (into the page cache, cheaper than a hop
 * through the thread pool). Otherwise two blocks take turns: while one is written, the next is
 * filled (reads land straight in it where they can), so reading and writing overlap.
 */
class BufferedWriter {
  private readonly blocks = [Buffer.allocUnsafe(COPY_CHUNK), Buffer.allocUnsafe(COPY_CHUNK)];
  private current = 0;
  private used = 0;
  private at = 0;
  /** The write of the other block, still running. */
  private pending: Promise<void> | undefined;
  constructor(
    private readonly handle: FileHandle,
    private readonly pacer?: IoPacer,
  ) {}

  private get buffer(): Buffer {
    return this.blocks[this.current] as Buffer;
  }

  async put(bytes: Uint8Array): Promise<void> {
    if (this.used + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length >= this.buffer.length) {
      await this.drain();
      await this.write(bytes, this.at);
      this.at += bytes.length;
      return;
    }
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Lets `fill` read `n` bytes straight into the block (n ≤ the block's size). */
  async putFrom(n: number, fill: (into: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    if (this.used + n > this.buffer.length) await this.flush();
    const view = this.buffer.subarray(this.used, this.used + n);
    const got = await fill(view);
    if (got !== view) view.set(got);
    this.used += n;
  }

  /** `putFrom` with a synchronous fill (a read from the page cache, see IoPacer). */
  async putFromSync(n: number, fill: (into: Uint8Array) => Uint8Array): Promise<void> {
    if (this.used + n > this.buffer.length) await this.flush();
    fill(this.buffer.subarray(this.used, this.used + n));
    this.used += n;
  }

  /** Starts writing the current block and switches to the other one once its own write is done. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.drain();
    const n = this.used;
    const at = this.at;
    this.at += n;
    this.used = 0;
    if (this.pacer?.sync) {
      const block = this.buffer.subarray(0, n);
      this.pacer.run(() => {
        for (let done = 0; done < n;)
          done += writeSync(this.handle.fd, block, done, n - done, at + done);
      });
      return;
    }
    const writing = this.write(this.buffer.subarray(0, n), at);
    // Awaited at the next drain; until then a failure must not surface as an unhandled rejection.
    writing.catch(() => undefined);
    this.pending = writing;
    this.current ^= 1;
  }

  /** Waits for the write in flight (and throws its error). */
  async drain(): Promise<void> {
    const p = this.pending;
    this.pending = undefined;
    await p;
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.drain();
  }

  private async write(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(
        bytes,
        done,
        bytes.length - done,
        position + done,
      );
      done += bytesWritten;
    }
  }
}

function targetDtype(t: TensorToWrite): DType {
  if (!isDType(t.from.dtype)) {
    throw new CheckpointError(
      'InvalidExport',
      `tensor "${t.from.name}" has dtype ${t.from.dtype}, which safetensors cannot hold`,
      t.from.name,
    );
  }
  return t.dtype && FLOATS.has(t.from.dtype) ? t.dtype : t.from.dtype;
}

/**
 * Writes a safetensors file as the reference crate does (tensors ordered by descending alignment, then
 * name; header padded with spaces to 8 bytes), streaming one tensor at a time, atomically. Bytes are
 * copied as they are unless a dtype change is asked for.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string>,
  options: { protect?: readonly string[]; pacer?: IoPacer } = {},
): Promise<WriteResult> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__')
      throw new CheckpointError(
        'ReservedTensorName',
        'a tensor may not be named "__metadata__"',
        t.name,
      );
    if (seen.has(t.name))
      throw new CheckpointError('DuplicateKey', `two tensors would be named "${t.name}"`, t.name);
    seen.add(t.name);
  }
  const planned = tensors.map((t) => {
    const dtype = targetDtype(t);
    const bytes = (t.from.parameterCount * DTYPE_BITS[dtype]) / 8;
    return { t, dtype, bytes };
  });
  const rank = (d: DType) => DTYPES.indexOf(d);
  planned.sort(
    (a, b) =>
      rank(b.dtype) - rank(a.dtype) || (a.t.name < b.t.name ? -1 : a.t.name > b.t.name ? 1 : 0),
  );

  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const p of planned) {
    Object.defineProperty(header, p.t.name, {
      value: { dtype: p.dtype, shape: p.t.from.shape, data_offsets: [offset, offset + p.bytes] },
      enumerable: true,
    });
    offset += p.bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const headerBytes = Buffer.from(text, 'utf8');
  if (headerBytes.length > MAX_HEADER_SIZE)
    throw new CheckpointError('HeaderTooLarge', 'the header would be over 100,000,000 bytes');

  await writeAtomically(
    path,
    async (handle) => {
      const pacer = options.pacer ?? new IoPacer();
      const out = new BufferedWriter(handle, pacer);
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(headerBytes.length));
      await out.put(prefix);
      await out.put(headerBytes);
      // Small tensors are read a few ahead, so reading the source and writing the output overlap.
      const small = (p: (typeof planned)[number]) =>
        p.dtype === p.t.from.dtype && p.t.from.byteLength <= COPY_CHUNK;
      const ahead = new Map<number, Promise<Uint8Array>>();
      const prefetch = (i: number) => {
        const p = planned[i];
        if (p && small(p) && !ahead.has(i) && spanRun(planned, i).count === 0) {
          const read = p.t.checkpoint.readTensorBytes(p.t.from);
          // An error stops the write at an earlier tensor; one read ahead must not go unhandled.
          read.catch(() => undefined);
          ahead.set(i, read);
        }
      };
      for (let i = 0; i < planned.length; i++) {
        const run = spanRun(planned, i);
        if (run.count > 0) {
          // Adjacent small tensors of one file: one read, straight into the output buffer.
          const from = (planned[i] as (typeof planned)[number]).t;
          const readSync = from.checkpoint.readSpanSync;
          if (readSync && pacer.sync) {
            await out.putFromSync(run.bytes, (into) =>
              pacer.run(() => readSync(from.from.offset, into)),
            );
            await pacer.pace();
            i += run.count - 1;
            continue;
          }
          const read = from.checkpoint.readSpan?.bind(from.checkpoint);
          if (read) {
            await out.putFrom(run.bytes, (into) => read(from.from.offset, run.bytes, into));
            i += run.count - 1;
            continue;
          }
        }
        for (let k = i; k < i + PREFETCH; k++) prefetch(k);
        const p = planned[i] as (typeof planned)[number];
        const ready = ahead.get(i);
        if (ready) {
          ahead.delete(i);
          await out.put(await ready);
        } else await writeTensor(p.t, p.dtype, out, pacer);
      }
      await out.finish();
    },
    options,
  );
  return { tensors: planned.length, bytes: 8 + headerBytes.length + offset };
}

interface Planned {
  readonly t: TensorToWrite;
  readonly dtype: DType;
  readonly bytes: number;
}

/**
 * How many tensors from `i` on are byte-for-byte copies lying back to back in one single-file
 * checkpoint (files written by the crate keep the same order), up to COPY_CHUNK bytes in all.
 * 0 when `planned[i]` cannot be copied that way.
 */
function spanRun(planned: readonly Planned[], i: number): { count: number; bytes: number } {
  const plain = (p: Planned | undefined): p is Planned =>
    p !== undefined &&
    p.dtype === p.t.from.dtype &&
    p.t.from.offset >= 0 &&
    p.t.from.file === undefined &&
    p.t.from.byteLength === p.bytes &&
    p.t.checkpoint.readSpan !== undefined;
  const first = planned[i];
  if (!plain(first) || first.bytes > COPY_CHUNK) return { count: 0, bytes: 0 };
  let count = 1;
  let bytes = first.bytes;
  for (;;) {
    const next = planned[i + count];
    if (
      !plain(next) ||
      next.t.checkpoint !== first.t.checkpoint ||
      next.t.from.offset !== first.t.from.offset + bytes ||
      bytes + next.bytes > COPY_CHUNK
    )
      break;
    bytes += next.bytes;
    count++;
  }
  return { count, bytes };
}

async function writeTensor(
  t: TensorToWrite,
  dtype: DType,
  out: BufferedWriter,
  pacer: IoPacer,
): Promise<void> {
  const put = (b: Uint8Array) => out.put(b);
  const { from, checkpoint } = t;
  const n = from.parameterCount;
  const converting = dtype !== from.dtype;
  if (
    !converting &&
    from.offset >= 0 &&
    from.byteLength > COPY_CHUNK &&
    isDType(from.dtype) &&
    DTYPE_BITS[from.dtype] % 8 === 0
  ) {
    const size = DTYPE_BITS[from.dtype] / 8;
    const per = Math.floor(COPY_CHUNK / size);
    // Each piece is read straight into a writer block, while the previous block is written.
    const readSync = from.file === undefined ? checkpoint.readSpanSync : undefined;
    for (let start = 0; start < n; start += per) {
      const count = Math.min(per, n - start);
      if (readSync && pacer.sync) {
        const at = from.offset + start * size;
        await out.putFromSync(count * size, (into) => pacer.run(() => readSync(at, into)));
        await pacer.pace();
        continue;
      }
      await out.putFrom(count * size, (into) =>
        checkpoint.readTensorBytes(from, { start, count }, into),
      );
    }
    return;
  }
  if (!converting) {
    await put(await checkpoint.readTensorBytes(from));
    return;
  }
  const source = from.dtype as DType;
  const ranged = from.offset >= 0;
  if (!ranged) {
    await put(
      encodeFloats(
        decodeValues(await checkpoint.readTensorBytes(from), source),
        dtype as FloatTarget,
      ),
    );
    return;
  }
  for (let start = 0; start < n; start += CONVERT_CHUNK) {
    const count = Math.min(CONVERT_CHUNK, n - start);
    await put(
      encodeFloats(
        decodeValues(await checkpoint.readTensorBytes(from, { start, count }), source),
        dtype as FloatTarget,
      ),
    );
  }
}
