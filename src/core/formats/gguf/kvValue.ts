import { CheckpointError } from '../errors.js';
import type { HeaderCursor } from './headerCursor.js';
import { arrayText, scalarText, MAX_LISTED_ITEMS, type ArrayItem } from './metadataText.js';
import { fixedSize, GgufValueType, isGgufValueType, valueTypeName } from './valueTypes.js';

/** Arrays of arrays deeper than this are refused (no writer makes them; @huggingface/gguf allows 4). */
export const MAX_ARRAY_DEPTH = 4;
/** Far above any vocabulary; the file size bounds real arrays long before this. */
export const MAX_ARRAY_LENGTH = 2 ** 32;
const MAX_ARRAY_LENGTH_BIG = BigInt(MAX_ARRAY_LENGTH);

export interface KvEntry {
  readonly type: GgufValueType;
  /** The value as metadata text. */
  readonly text: string;
  /** The value itself, for scalars and strings (the reader interprets general.alignment). */
  readonly scalar?: number | bigint | boolean | string;
}

type Scalar = number | bigint | boolean;

/** Reads one value of a fixed-size type whose bytes `need` has made readable. */
function readScalar(c: HeaderCursor, type: GgufValueType): Scalar {
  switch (type) {
    case GgufValueType.UINT8:
      return c.u8();
    case GgufValueType.INT8:
      return c.i8();
    case GgufValueType.UINT16:
      return c.u16();
    case GgufValueType.INT16:
      return c.i16();
    case GgufValueType.UINT32:
      return c.u32();
    case GgufValueType.INT32:
      return c.i32();
    case GgufValueType.FLOAT32:
      return c.f32();
    case GgufValueType.BOOL:
      return c.u8() !== 0;
    case GgufValueType.UINT64:
      return c.u64();
    case GgufValueType.INT64:
      return c.i64();
    case GgufValueType.FLOAT64:
      return c.f64();
    default:
      throw new CheckpointError('InternalError', `internal error: ${type} is not a scalar type`);
  }
}

/** Reads the value of one KV pair (its type already read) and turns it into text. */
export async function readKvValue(
  c: HeaderCursor,
  type: GgufValueType,
  what: string,
): Promise<KvEntry> {
  if (type === GgufValueType.ARRAY) {
    return { type, text: (await readArray(c, 1, what, true)) as string };
  }
  if (type === GgufValueType.STRING) {
    const s = await c.string(what);
    return { type, text: s, scalar: s };
  }
  const size = fixedSize(type) as number;
  const wait = c.need(size, what);
  if (wait) await wait;
  const v = readScalar(c, type);
  return { type, text: scalarText(type, v), scalar: v };
}

/**
 * Reads an array, keeping only the first items as values: a 150k-entry vocabulary costs a walk over its
 * length prefixes, not 150k strings. Returns its text, or undefined when `keep` is false (skipping).
 */
async function readArray(
  c: HeaderCursor,
  depth: number,
  what: string,
  keep: boolean,
): Promise<string | undefined> {
  const head = c.need(4 + c.sizeBytes, what);
  if (head) await head;
  const elementType = c.u32();
  if (!isGgufValueType(elementType)) {
    throw new CheckpointError(
      'InvalidGguf',
      `${what} is an array of the unknown value type ${elementType}`,
    );
  }
  const declared = c.size();
  if (elementType === GgufValueType.ARRAY && depth >= MAX_ARRAY_DEPTH) {
    throw new CheckpointError(
      'LimitExceeded',
      `${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`,
    );
  }
  if (declared > MAX_ARRAY_LENGTH_BIG) {
    throw new CheckpointError(
      'LimitExceeded',
      `${what} declares ${declared} elements, over the limit of ${MAX_ARRAY_LENGTH}`,
    );
  }
  const length = Number(declared);
  const size = fixedSize(elementType);
  // Even empty strings and arrays take their length prefix: refuse counts the file cannot hold.
  const smallest = size ?? (elementType === GgufValueType.STRING ? c.sizeBytes : 4 + c.sizeBytes);
  if (c.pos + length * smallest > c.fileSize) {
    throw c.truncated(
      `${what} (${length} ${valueTypeName(elementType)} values)`,
      length * smallest,
    );
  }
  const kept = keep ? Math.min(length, MAX_LISTED_ITEMS) : 0;
  const items: ArrayItem[] = [];
  if (size !== undefined) {
    const wait = c.need(kept * size, what);
    if (wait) await wait;
    for (let i = 0; i < kept; i++) items.push(readScalar(c, elementType));
    c.skip((length - kept) * size, what);
  } else if (elementType === GgufValueType.STRING) {
    for (let i = 0; i < kept; i++) items.push(await c.string(what));
    await c.skipStrings(length - kept, what);
  } else {
    for (let i = 0; i < length; i++) {
      if (i >= kept && skipFixedArray(c, what)) continue;
      const text = await readArray(c, depth + 1, what, i < kept);
      if (text !== undefined) items.push({ arrayText: text });
    }
  }
  return keep ? arrayText(length, elementType, items) : undefined;
}

/**
 * Skips an array of fixed-size values without awaiting, when its head is already readable: millions of
 * tiny nested arrays then cost a loop, not millions of promises. False leaves the cursor unmoved.
 */
function skipFixedArray(c: HeaderCursor, what: string): boolean {
  if (!c.has(4 + c.sizeBytes)) return false;
  const start = c.pos;
  const elementType = c.u32();
  const length = c.size();
  const size = isGgufValueType(elementType) ? fixedSize(elementType) : undefined;
  if (size === undefined || length > MAX_ARRAY_LENGTH_BIG) {
    c.pos = start; // the full reader names the problem
    return false;
  }
  const bytes = Number(length) * size;
  if (c.pos + bytes > c.fileSize) {
    throw c.truncated(`${what} (${length} values of ${size} bytes)`, bytes);
  }
  c.skip(bytes, what);
  return true;
}
