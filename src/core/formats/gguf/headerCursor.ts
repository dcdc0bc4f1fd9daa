import type { ByteSource } from '../byteSource.js';
import { CheckpointError } from '../errors.js';

/** Headers hold tokenizers of a few hundred thousand entries: tens of MB at most. */
export const MAX_HEADER_BYTES = 128 * 1024 * 1024;
/** One string (a key, a value, a tensor name); chat templates are the longest, at tens of KB. */
export const MAX_STRING_BYTES = 16 * 1024 * 1024;
const MAX_STRING_LENGTH = BigInt(MAX_STRING_BYTES);

/** Reads start small (a LoRA header is a few KB) and double, so a large header costs few reads. */
const FIRST_READ = 64 * 1024;
const LARGEST_READ = 8 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8');

/**
 * Reads a GGUF header front to back through a window on a ByteSource. Every length is checked against
 * the file size before it is used, so a hostile header fails by name and never reads past the file.
 */
export class HeaderCursor {
  /** Absolute offset of the next byte to read. */
  pos = 0;
  littleEndian = true;
  /** Width of counts and lengths: 4 bytes in GGUF v1, 8 after. */
  sizeBytes = 8;
  private window: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.window.buffer);
  private windowStart = 0;
  private nextRead = FIRST_READ;

  constructor(private readonly source: ByteSource) {}

  get fileSize(): number {
    return this.source.size;
  }

  /** Makes bytes [pos, pos + n) readable; returns a promise only when it has to read. */
  need(n: number, what: string): Promise<void> | undefined {
    if (this.has(n)) return undefined;
    const end = this.pos + n;
    if (end > this.source.size) throw this.truncated(what, n);
    if (end > MAX_HEADER_BYTES) {
      throw new CheckpointError(
        'LimitExceeded',
        `the GGUF header runs past ${MAX_HEADER_BYTES.toLocaleString('en-US')} bytes while reading ${what}; no real header is that large`,
      );
    }
    return this.fill(n);
  }

  private async fill(n: number): Promise<void> {
    const length = Math.min(this.source.size - this.pos, Math.max(n, this.nextRead));
    this.window = await this.source.read(this.pos, length);
    this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
    this.windowStart = this.pos;
    this.nextRead = Math.min(this.nextRead * 2, LARGEST_READ);
  }

  /** Whether bytes [pos, pos + n) are readable now, without a read. */
  has(n: number): boolean {
    return this.pos + n <= this.windowStart + this.window.byteLength;
  }

  /** Moves past `n` bytes without reading them. */
  skip(n: number, what: string): void {
    if (this.pos + n > this.source.size) throw this.truncated(what, n);
    this.pos += n;
  }

  /** Raw bytes at the cursor (already made readable by `need`). */
  bytes(n: number): Uint8Array {
    const at = this.advance(n);
    return this.window.subarray(at, at + n);
  }

  private advance(n: number): number {
    const at = this.pos - this.windowStart;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.advance(1));
  }
  i8(): number {
    return this.view.getInt8(this.advance(1));
  }
  u16(): number {
    return this.view.getUint16(this.advance(2), this.littleEndian);
  }
  i16(): number {
    return this.view.getInt16(this.advance(2), this.littleEndian);
  }
  u32(): number {
    return this.view.getUint32(this.advance(4), this.littleEndian);
  }
  i32(): number {
    return this.view.getInt32(this.advance(4), this.littleEndian);
  }
  f32(): number {
    return this.view.getFloat32(this.advance(4), this.littleEndian);
  }
  u64(): bigint {
    return this.view.getBigUint64(this.advance(8), this.littleEndian);
  }
  i64(): bigint {
    return this.view.getBigInt64(this.advance(8), this.littleEndian);
  }
  f64(): number {
    return this.view.getFloat64(this.advance(8), this.littleEndian);
  }
  /** A count or length: u32 in v1, u64 after. */
  size(): bigint {
    return this.sizeBytes === 4 ? BigInt(this.u32()) : this.u64();
  }

  /** A length-prefixed string. `what` names it in errors ("the key of pair 3"). */
  async string(what: string): Promise<string> {
    const head = this.need(this.sizeBytes, what);
    if (head) await head;
    const n = this.stringLength(what);
    const body = this.need(n, what);
    if (body) await body;
    return this.text(n);
  }

  /** Moves past `count` strings, reading only their length prefixes (vocabularies, merges). */
  async skipStrings(count: number, what: string): Promise<void> {
    for (let i = 0; i < count; i++) {
      // Awaiting only when a read is due keeps a 1M-entry vocabulary at a few ms.
      const wait = this.need(this.sizeBytes, what);
      if (wait) await wait;
      this.skip(this.stringLength(what), what);
    }
  }

  /** Reads a string's length prefix (already readable); refuses one over MAX_STRING_BYTES. */
  stringLength(what: string): number {
    const start = this.pos;
    const length = this.size();
    if (length > MAX_STRING_LENGTH) {
      throw new CheckpointError(
        'LimitExceeded',
        `${what} at byte ${start} declares ${length} bytes, over the ${MAX_STRING_BYTES.toLocaleString('en-US')}-byte limit for one string`,
      );
    }
    return Number(length);
  }

  /** Decodes `n` readable bytes as UTF-8 (not validated, as in llama.cpp). */
  text(n: number): string {
    const bytes = this.bytes(n);
    // Tensor names and keys are short ASCII: skip the decoder's per-call cost for them.
    if (n <= 64) {
      let ascii = true;
      for (let i = 0; i < n && ascii; i++) ascii = (bytes[i] as number) < 0x80;
      if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
    return utf8.decode(bytes);
  }

  truncated(what: string, n: number | bigint): CheckpointError {
    return new CheckpointError(
      'Truncated',
      `${what} at byte ${this.pos} needs ${n} bytes, but ${this.source.name} ends at byte ${this.source.size}: the GGUF header runs past the end of the file`,
    );
  }
}
