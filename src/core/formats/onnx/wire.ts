import type { ByteSource } from '../byteSource.js';
import { CheckpointError } from '../errors.js';

/** Protobuf wire types ONNX uses; groups (3, 4) are deprecated and refused. */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** One field header. The payload of LEN, I32 and I64 fields starts at `ProtoReader.pos`. */
export interface Field {
  readonly number: number;
  readonly wire: number;
  /** Absolute offset of the tag, for messages. */
  readonly at: number;
  /** VARINT: the value (64 bits, unsigned). Zero otherwise. */
  readonly value: bigint;
  /** Payload bytes still to consume or skip: LEN length, 4, 8, or 0 for a VARINT. */
  readonly length: number;
}

/** Read-ahead starts small so skipping tensor data reads little of it, and grows on sequential reads. */
const MIN_READ_AHEAD = 1024;
const MAX_READ_AHEAD = 1024 * 1024;
const MAX_VARINT_BYTES = 10;

const invalid = (message: string) => new CheckpointError('InvalidOnnx', message);

/**
 * Forward-only protobuf reader over a ByteSource. It buffers what it reads, so tags, lengths and names
 * are cheap, and it skips length-delimited payloads (tensor data) by offset arithmetic, never reading
 * them. Every length is checked against the enclosing message and the file before it is used.
 */
export class ProtoReader {
  pos: number;
  /** Bytes fetched from the source so far. */
  bytesRead = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private readAhead = MIN_READ_AHEAD;

  constructor(
    private readonly source: ByteSource,
    start = 0,
  ) {
    this.pos = start;
  }

  get fileSize(): number {
    return this.source.size;
  }

  private buffered(n: number): boolean {
    return this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length;
  }

  /** Buffers `n` bytes from `pos`, or up to `end` when fewer remain. */
  private async fill(n: number, end: number): Promise<void> {
    const want = Math.min(n, end - this.pos);
    if (want <= 0 || this.buffered(want)) return;
    const sequential = this.pos === this.bufStart + this.buf.length;
    this.readAhead = sequential ? Math.min(this.readAhead * 2, MAX_READ_AHEAD) : MIN_READ_AHEAD;
    const length = Math.min(Math.max(want, this.readAhead), this.source.size - this.pos);
    this.buf = await this.source.read(this.pos, length);
    this.bufStart = this.pos;
    this.bytesRead += length;
  }

  /** Decodes a varint from the buffer; the caller has filled up to 10 bytes or to `end`. */
  private varintAt(end: number): bigint {
    const available = Math.min(end, this.bufStart + this.buf.length) - this.pos;
    let i = this.pos - this.bufStart;
    let low = 0;
    let shift = 0;
    // Seven bytes hold 49 bits: exact in a double. Longer varints switch to BigInt.
    for (let n = 0; n < Math.min(available, 7); n++) {
      const b = this.buf[i++] as number;
      low += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) {
        this.pos += n + 1;
        return BigInt(low);
      }
    }
    let value = BigInt(low);
    for (let n = 7; n < Math.min(available, MAX_VARINT_BYTES); n++) {
      const b = this.buf[i++] as number;
      value |= BigInt(b & 0x7f) << BigInt(shift);
      shift += 7;
      if (b < 0x80) {
        this.pos += n + 1;
        return BigInt.asUintN(64, value);
      }
    }
    if (available >= MAX_VARINT_BYTES) {
      throw invalid(`a varint at byte ${this.pos} is longer than 10 bytes`);
    }
    throw this.pastEnd(end, `a varint at byte ${this.pos}`);
  }

  private pastEnd(end: number, what: string): CheckpointError {
    return end >= this.source.size
      ? new CheckpointError(
          'Truncated',
          `${what} runs past the end of ${this.source.name} (${this.source.size} bytes); is the file truncated?`,
        )
      : invalid(`${what} runs past the end of its message (byte ${end})`);
  }

  /** Reads the next field header of a message ending at `end`. */
  async next(end: number): Promise<Field> {
    const at = this.pos;
    if (!this.buffered(2 * MAX_VARINT_BYTES)) await this.fill(2 * MAX_VARINT_BYTES, end);
    const tag = this.varintAt(end);
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (number === 0 || tag >> 3n > 0x1fffffffn) {
      throw invalid(`invalid protobuf field number ${tag >> 3n} at byte ${at}`);
    }
    switch (wire) {
      case WIRE_VARINT:
        return { number, wire, at, value: this.varintAt(end), length: 0 };
      case WIRE_I64:
      case WIRE_I32: {
        const length = wire === WIRE_I64 ? 8 : 4;
        this.checkLength(length, end, `field ${number} at byte ${at}`);
        return { number, wire, at, value: 0n, length };
      }
      case WIRE_LEN: {
        const declared = this.varintAt(end);
        if (declared > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw this.pastEnd(end, `field ${number} at byte ${at} (${declared} bytes)`);
        }
        const length = Number(declared);
        this.checkLength(length, end, `field ${number} at byte ${at} (${length} bytes)`);
        return { number, wire, at, value: 0n, length };
      }
      default:
        throw invalid(`unsupported protobuf wire type ${wire} for field ${number} at byte ${at}`);
    }
  }

  private checkLength(length: number, end: number, what: string): void {
    if (this.pos + length > end) throw this.pastEnd(end, what);
  }

  /** Skips the payload of a field just read by `next`: offset arithmetic, no read. */
  skip(field: Field): void {
    this.pos += field.length;
  }

  /** The payload of a LEN field, which must not exceed `max` bytes. */
  bytes(field: Field, max: number, what: string): Promise<Uint8Array> {
    expectWire(field, WIRE_LEN, what);
    return this.payload(field, max, what);
  }

  /** The payload of a LEN, I32 or I64 field, which must not exceed `max` bytes. */
  async payload(field: Field, max: number, what: string): Promise<Uint8Array> {
    if (field.length > max) {
      throw new CheckpointError(
        'LimitExceeded',
        `${what} at byte ${field.at} is ${field.length} bytes, over the ${max}-byte limit`,
      );
    }
    if (!this.buffered(field.length)) await this.fill(field.length, this.pos + field.length);
    const i = this.pos - this.bufStart;
    this.pos += field.length;
    return this.buf.subarray(i, i + field.length);
  }

  async string(field: Field, max: number, what: string): Promise<string> {
    return utf8.decode(await this.bytes(field, max, what));
  }
}

const utf8 = new TextDecoder('utf-8');

export function expectWire(field: Field, wire: number, what: string): void {
  if (field.wire !== wire) {
    throw invalid(
      `${what} at byte ${field.at} has protobuf wire type ${field.wire}, expected ${wire}`,
    );
  }
}

/** A signed 64-bit protobuf integer as a number, or an error when it is not exact. */
export function int64(value: bigint, what: string): number {
  const signed = BigInt.asIntN(64, value);
  if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CheckpointError('LimitExceeded', `${what} (${signed}) is too large to handle`);
  }
  return Number(signed);
}

/** Varints of a packed payload already in memory, for packed repeated fields. */
export function* packedVarints(payload: Uint8Array, what: string): Generator<bigint> {
  let i = 0;
  while (i < payload.length) {
    let value = 0n;
    let shift = 0n;
    for (let n = 0; ; n++) {
      if (n === MAX_VARINT_BYTES) throw invalid(`${what}: a varint is longer than 10 bytes`);
      const b = payload[i++];
      if (b === undefined) throw invalid(`${what}: the last packed varint is cut off`);
      value |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) break;
    }
    yield BigInt.asUintN(64, value);
  }
}
