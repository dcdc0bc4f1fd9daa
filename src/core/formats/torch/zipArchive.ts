/**
 * A zip reader over positioned reads: the end records, the central directory and, per record,
 * its local header. Every offset and length the file gives is checked against the file before it
 * is used, so a lying archive fails with a named error, never a huge allocation.
 *
 * Layout reference: APPNOTE.TXT §4.3 (PKWARE); PyTorch writes it with miniz
 * (caffe2/serialize/inline_container.cc), always with ZIP64 end records.
 */
import { inflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import type { ByteSource } from '../byteSource.js';
import { CheckpointError } from '../errors.js';

const inflateRawAsync = promisify(inflateRaw);

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
/** First tail read: the end records plus, usually, the whole central directory of a small file. */
const FIRST_TAIL_BYTES = 4096;

export const ZIP_LIMITS = {
  /** The central directory is read whole: 100,000 records take about 10 MB. */
  maxCentralDirectoryBytes: 256 * 1024 * 1024,
} as const;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

export interface ZipEntry {
  readonly name: string;
  /** Bytes of the name as stored, to check the local header against. */
  readonly nameLength: number;
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  readonly crc32: number;
}

const fail = (
  code: 'InvalidZip' | 'Truncated' | 'LimitExceeded',
  message: string,
  subject?: string,
) => new CheckpointError(code, message, subject);

const utf8 = new TextDecoder('utf-8');

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A u64 as a number; anything past 2^53 is past the end of any file we can open. */
function u64(dv: DataView, at: number): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
}

interface EndRecord {
  readonly entries: number;
  readonly cdOffset: number;
  readonly cdSize: number;
  /** Where the central directory must end: the ZIP64 end record, or the classic one. */
  readonly cdLimit: number;
  readonly zip64: boolean;
  /** The bytes read from the end of the file, reused when the central directory is in them. */
  readonly tail: Uint8Array;
  readonly tailStart: number;
}

/** `length` bytes at `offset`, from the tail already read when it holds them. */
function readWithTail(
  source: ByteSource,
  tail: Uint8Array,
  tailStart: number,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (offset >= tailStart && offset + length <= tailStart + tail.byteLength)
    return Promise.resolve(tail.subarray(offset - tailStart, offset - tailStart + length));
  return source.read(offset, length);
}

export class ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();
  private readonly dataStarts = new Map<ZipEntry, number>();

  private constructor(
    private readonly source: ByteSource,
    readonly entries: readonly ZipEntry[],
    readonly zip64: boolean,
    private readonly cdOffset: number,
  ) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  static async open(source: ByteSource): Promise<ZipArchive> {
    const end = await readEndRecord(source);
    if (end.cdSize > ZIP_LIMITS.maxCentralDirectoryBytes) {
      throw fail(
        'LimitExceeded',
        `the zip central directory is ${end.cdSize.toLocaleString('en-US')} bytes, over the ${ZIP_LIMITS.maxCentralDirectoryBytes.toLocaleString('en-US')}-byte limit`,
      );
    }
    if (end.cdOffset + end.cdSize > end.cdLimit) {
      throw fail(
        'InvalidZip',
        `the zip central directory (${end.cdSize} bytes at ${end.cdOffset}) runs past the end records at ${end.cdLimit} in a ${source.size}-byte file`,
      );
    }
    if (end.entries > end.cdSize / CENTRAL_HEADER_SIZE) {
      throw fail(
        'InvalidZip',
        `the zip end record claims ${end.entries} records, more than a ${end.cdSize}-byte central directory can hold`,
      );
    }
    const cd = await readWithTail(source, end.tail, end.tailStart, end.cdOffset, end.cdSize);
    const entries = parseCentralDirectory(cd, end);
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.name)) {
        throw fail(
          'InvalidZip',
          `the zip holds two records named "${e.name}"; readers disagree on which one wins, so the file is refused`,
          e.name,
        );
      }
      seen.add(e.name);
    }
    return new ZipArchive(source, entries, end.zip64, end.cdOffset);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Absolute offset of a record's data: after its LOCAL header, whose extra field may differ. */
  async dataStart(entry: ZipEntry): Promise<number> {
    const known = this.dataStarts.get(entry);
    if (known !== undefined) return known;
    const head = await this.source.read(entry.localHeaderOffset, LOCAL_HEADER_SIZE);
    const dv = view(head);
    if (dv.getUint32(0, true) !== SIG_LOCAL) {
      throw fail(
        'InvalidZip',
        `record "${entry.name}": no local header at byte ${entry.localHeaderOffset}`,
        entry.name,
      );
    }
    const nameLen = dv.getUint16(26, true);
    const extraLen = dv.getUint16(28, true);
    if (nameLen !== entry.nameLength) {
      throw fail(
        'InvalidZip',
        `record "${entry.name}": its local header names a different file (${nameLen}-byte name)`,
        entry.name,
      );
    }
    const start = entry.localHeaderOffset + LOCAL_HEADER_SIZE + nameLen + extraLen;
    if (start + entry.compressedSize > this.cdOffset) {
      throw fail(
        'InvalidZip',
        `record "${entry.name}": ${entry.compressedSize} bytes at ${start} run into the central directory at ${this.cdOffset}`,
        entry.name,
      );
    }
    this.dataStarts.set(entry, start);
    return start;
  }

  /**
   * The whole record, uncompressed, refusing anything that declares or inflates to more than
   * `limit` bytes (or to more than it declares: a zip bomb).
   */
  async read(entry: ZipEntry, limit: number): Promise<Uint8Array> {
    if (entry.uncompressedSize > limit) {
      throw fail(
        'LimitExceeded',
        `record "${entry.name}" declares ${entry.uncompressedSize.toLocaleString('en-US')} bytes, over the ${limit.toLocaleString('en-US')}-byte limit for it`,
        entry.name,
      );
    }
    const start = await this.dataStart(entry);
    const raw = await this.source.read(start, entry.compressedSize);
    if (entry.method === METHOD_STORED) return raw;
    return inflateCapped(raw, entry);
  }
}

/** DEFLATE with the output capped at the declared size: a bomb stops at that size. */
export async function inflateCapped(raw: Uint8Array, entry: ZipEntry): Promise<Uint8Array> {
  let out: Buffer;
  try {
    out = await inflateRawAsync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw fail(
        'LimitExceeded',
        `record "${entry.name}" inflates to more than the ${entry.uncompressedSize.toLocaleString('en-US')} bytes it declares (a zip bomb?); stopped there`,
        entry.name,
      );
    }
    throw fail(
      'InvalidZip',
      `record "${entry.name}": its DEFLATE data is corrupt (${(e as Error).message})`,
      entry.name,
    );
  }
  if (out.byteLength !== entry.uncompressedSize) {
    throw fail(
      'InvalidZip',
      `record "${entry.name}" inflates to ${out.byteLength} bytes, not the ${entry.uncompressedSize} it declares`,
      entry.name,
    );
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The last end-record signature whose comment fits in `tail`, or -1. */
function findEndRecord(tail: Uint8Array): number {
  const dv = view(tail);
  for (let i = tail.byteLength - EOCD_SIZE; i >= 0; i--) {
    if (
      dv.getUint32(i, true) === SIG_EOCD &&
      i + EOCD_SIZE + dv.getUint16(i + 20, true) <= tail.byteLength
    )
      return i;
  }
  return -1;
}

async function readEndRecord(source: ByteSource): Promise<EndRecord> {
  const size = source.size;
  if (size < EOCD_SIZE) {
    throw fail(
      'Truncated',
      `${source.name} is ${size} bytes: too short for a zip end record (truncated?)`,
    );
  }
  // torch writes no archive comment, so the end record is in the last few bytes; a commented
  // zip gets a second read of the whole 64 KiB the comment may span.
  let tail: Uint8Array = new Uint8Array(0);
  let tailStart = size;
  let at = -1;
  for (const want of [FIRST_TAIL_BYTES, MAX_COMMENT + EOCD_SIZE]) {
    const tailLength = Math.min(size, want);
    if (tailLength <= tail.byteLength) break;
    tailStart = size - tailLength;
    tail = await source.read(tailStart, tailLength);
    at = findEndRecord(tail);
    if (at >= 0) break;
  }
  if (at < 0) {
    throw fail(
      'Truncated',
      `${source.name} has no zip end-of-central-directory record in its last ${tail.byteLength.toLocaleString('en-US')} bytes: the file is truncated or not a zip`,
    );
  }
  const dv = view(tail);
  const eocdOffset = tailStart + at;
  const disk = dv.getUint16(at + 4, true);
  const cdDisk = dv.getUint16(at + 6, true);
  if (disk !== 0 || cdDisk !== 0)
    throw fail('InvalidZip', `${source.name} is one part of a split zip archive`);
  let entries = dv.getUint16(at + 10, true);
  let cdSize = dv.getUint32(at + 12, true);
  let cdOffset = dv.getUint32(at + 16, true);
  let cdLimit = eocdOffset;
  let zip64 = false;

  // The ZIP64 locator sits right before the classic end record.
  const locatorOffset = eocdOffset - 20;
  if (locatorOffset >= 0) {
    const loc = view(await readWithTail(source, tail, tailStart, locatorOffset, 20));
    if (loc.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
      const recordOffset = u64(loc, 8);
      if (recordOffset + 56 > locatorOffset) {
        throw fail(
          'InvalidZip',
          `the ZIP64 end record offset ${recordOffset} is past its locator at ${locatorOffset}`,
        );
      }
      const rec = view(await readWithTail(source, tail, tailStart, recordOffset, 56));
      if (rec.getUint32(0, true) !== SIG_ZIP64_EOCD)
        throw fail('InvalidZip', `no ZIP64 end record at byte ${recordOffset}`);
      entries = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
      cdLimit = recordOffset;
      zip64 = true;
    }
  }
  if (cdOffset > size || cdSize > size) {
    throw fail(
      'InvalidZip',
      `the zip central directory offset ${cdOffset} (${cdSize} bytes) is past the end of the ${size}-byte file`,
    );
  }
  return { entries, cdOffset, cdSize, cdLimit, zip64, tail, tailStart };
}

function parseCentralDirectory(cd: Uint8Array, end: EndRecord): ZipEntry[] {
  const dv = view(cd);
  const entries: ZipEntry[] = [];
  let p = 0;
  while (p < cd.byteLength) {
    if (p + CENTRAL_HEADER_SIZE > cd.byteLength || dv.getUint32(p, true) !== SIG_CENTRAL)
      throw fail(
        'InvalidZip',
        `central directory entry ${entries.length} is malformed at byte ${end.cdOffset + p}`,
      );
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let uncompressedSize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const diskStart = dv.getUint16(p + 34, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    const next = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (next > cd.byteLength)
      throw fail(
        'InvalidZip',
        `central directory entry ${entries.length} runs past the central directory`,
      );
    const name = utf8.decode(
      cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen),
    );

    // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order.
    let e = p + CENTRAL_HEADER_SIZE + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      const body = e + 4;
      if (body + len > extraEnd)
        throw fail('InvalidZip', `record "${name}": its extra field is malformed`, name);
      if (id === 0x0001) {
        let q = body;
        const take = (): number => {
          if (q + 8 > body + len)
            throw fail('InvalidZip', `record "${name}": its ZIP64 extra field is too short`, name);
          const v = u64(dv, q);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e = body + len;
    }

    if (flags & 0x1) throw fail('InvalidZip', `record "${name}" is encrypted`, name);
    if (diskStart !== 0 && diskStart !== 0xffff)
      throw fail('InvalidZip', `record "${name}" is on another disk of a split archive`, name);
    if (method !== METHOD_STORED && method !== METHOD_DEFLATE) {
      throw fail(
        'InvalidZip',
        `record "${name}" uses compression method ${method}; only STORED (0) and DEFLATE (8) are read`,
        name,
      );
    }
    if (method === METHOD_STORED && compressedSize !== uncompressedSize) {
      throw fail(
        'InvalidZip',
        `record "${name}" is stored uncompressed but declares ${compressedSize} stored and ${uncompressedSize} uncompressed bytes`,
        name,
      );
    }
    if (localHeaderOffset + LOCAL_HEADER_SIZE + nameLen > end.cdOffset) {
      throw fail(
        'InvalidZip',
        `record "${name}": its local header at byte ${localHeaderOffset} is past the start of the central directory (${end.cdOffset})`,
        name,
      );
    }
    if (localHeaderOffset + LOCAL_HEADER_SIZE + nameLen + compressedSize > end.cdOffset) {
      throw fail(
        'InvalidZip',
        `record "${name}" claims ${compressedSize.toLocaleString('en-US')} bytes at byte ${localHeaderOffset}, more than fit before the central directory at ${end.cdOffset}`,
        name,
      );
    }
    entries.push({
      name,
      nameLength: nameLen,
      method,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
      crc32,
    });
    p = next;
  }
  if (entries.length !== end.entries) {
    throw fail(
      'InvalidZip',
      `the zip end record counts ${end.entries} records but the central directory holds ${entries.length}`,
    );
  }
  return entries;
}
