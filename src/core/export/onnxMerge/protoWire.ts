/**
 * In-memory protobuf surgery for ONNX files: split a message into its fields, re-emit it with some
 * fields replaced or added. Fields we do not touch are copied byte for byte, so whatever a newer ONNX
 * version wrote (fields onnx-proto 8 does not know) survives a rewrite.
 */
import { CheckpointError } from '../../formats/errors.js';
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from '../../formats/onnx/wire.js';

// The reader's wire types, re-exported for the rewriters that import this module.
export { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT };

/** One field of a message: [start, end) is the whole field (tag included). */
export interface WireField {
  readonly number: number;
  readonly wire: number;
  readonly start: number;
  readonly end: number;
  /** Where the payload of a LEN field starts (its end is `end`). */
  readonly payload: number;
  /** VARINT value (exact below 2^53). */
  readonly value: number;
}

const invalid = (message: string) => new CheckpointError('InvalidOnnx', message);

function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw invalid(`a varint runs past its message at byte ${pos}`);
    const b = buf[pos++] as number;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) return [value, pos];
  }
  throw invalid(`a varint at byte ${pos - 10} is longer than 10 bytes`);
}

/** The fields of the message in buf[start, end), in file order. */
export function fieldsOf(buf: Uint8Array, start = 0, end = buf.length): WireField[] {
  const out: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [tag, afterTag] = readVarint(buf, pos, end);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number === 0) throw invalid(`invalid protobuf field number 0 at byte ${at}`);
    let value = 0;
    let payload = afterTag;
    switch (wire) {
      case WIRE_VARINT:
        [value, pos] = readVarint(buf, afterTag, end);
        break;
      case WIRE_I64:
        pos = afterTag + 8;
        break;
      case WIRE_I32:
        pos = afterTag + 4;
        break;
      case WIRE_LEN: {
        const [length, next] = readVarint(buf, afterTag, end);
        payload = next;
        pos = next + length;
        break;
      }
      default:
        throw invalid(`unsupported protobuf wire type ${wire} at byte ${at}`);
    }
    if (pos > end) throw invalid(`a field at byte ${at} runs past the end of its message`);
    out.push({ number, wire, start: at, end: pos, payload, value });
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

export function fieldString(buf: Uint8Array, f: WireField): string {
  return utf8.decode(buf.subarray(f.payload, f.end));
}

export function fieldBytes(buf: Uint8Array, f: WireField): Uint8Array {
  return buf.subarray(f.payload, f.end);
}

export function varint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** A length-delimited field: tag, length, payload. */
export function lenField(number: number, payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload;
  return concatBytes([varint(number * 8 + WIRE_LEN), varint(bytes.length), bytes]);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Re-emits the message in buf[start, end): `edit` returns, per field, null to keep it as it is, or
 * the bytes to put in its place (empty to drop it). `append` is added at the end. Returns null when
 * nothing changed, so callers can keep the original bytes.
 */
export function rebuildMessage(
  buf: Uint8Array,
  start: number,
  end: number,
  edit: (f: WireField) => Uint8Array | readonly Uint8Array[] | null,
  append: readonly Uint8Array[] = [],
): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let copiedFrom = start;
  let changed = append.length > 0;
  for (const f of fieldsOf(buf, start, end)) {
    const replacement = edit(f);
    if (replacement === null) continue;
    changed = true;
    parts.push(buf.subarray(copiedFrom, f.start));
    if (replacement instanceof Uint8Array) parts.push(replacement);
    else parts.push(...replacement);
    copiedFrom = f.end;
  }
  if (!changed) return null;
  parts.push(buf.subarray(copiedFrom, end), ...append);
  return concatBytes(parts);
}
