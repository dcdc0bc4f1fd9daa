import { readRange, type ByteSource } from './byteSource.js';
import {
  type Checkpoint,
  type CheckpointReader,
  type ElementRange,
  type TensorInfo,
} from './checkpoint.js';
import { DTYPE_BITS, isDType, type DType } from './dtypes.js';
import { CheckpointError } from './errors.js';
import { byteRangeOf } from './tensorRange.js';
import { TensorIndex, tensorTotals } from './tensorTable.js';
import { countTextKeys, findDuplicateKey } from './jsonKeys.js';
import { scanHeader } from './safetensorsScan.js';
import { sameShape } from './quant/partRead.js';

/** MAX_HEADER_SIZE in the reference crate: 100,000,000 bytes. */
export const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';
const USIZE_MAX = (1n << 64n) - 1n;

const fail = (
  code: ConstructorParameters<typeof CheckpointError>[0],
  message: string,
  subject?: string,
) => new CheckpointError(code, message, subject);

/**
 * A tensor being validated: a TensorInfo whose parameter count is filled in by validateLayout. Only the
 * TensorInfo fields are kept (headers can list 1,000,000 tensors); the header's offsets, relative to the
 * data section, go to a separate list while validating (`spans`: begin, end per entry).
 */
interface Entry {
  name: string;
  dtype: DType;
  shape: readonly number[];
  offset: number;
  byteLength: number;
  parameterCount: number;
}

/**
 * Equal shapes share one frozen array, and each dtype is its canonical string: most tensors of a model
 * repeat a handful of shapes, and a parsed header should not keep one copy per tensor.
 */
class Interner {
  private readonly shapes = new Map<string, readonly number[]>();
  private readonly dtypes = new Map<string, DType>();
  /**
   * The shapes returned last, newest first: a model's layers repeat a few shapes in turn, so most
   * entries match one of these by comparing numbers, with no key string built for the map.
   */
  private readonly recent: (readonly number[])[] = [];

  shape(shape: number[]): readonly number[] {
    const recent = this.recent;
    for (let r = 0; r < recent.length; r++) {
      const kept = recent[r] as readonly number[];
      if (sameShape(kept, shape)) return kept;
    }
    const key = shape.length === 1 ? String(shape[0]) : shape.join(',');
    let kept = this.shapes.get(key);
    if (kept === undefined) {
      kept = Object.freeze(shape.slice());
      this.shapes.set(key, kept);
    }
    if (recent.length === RECENT_SHAPES) recent.pop();
    recent.unshift(kept);
    return kept;
  }
  dtype(dtype: DType): DType {
    let kept = this.dtypes.get(dtype);
    if (kept === undefined) {
      // A flat copy, so the kept string does not point into the header text.
      kept = (' ' + dtype).slice(1) as DType;
      this.dtypes.set(dtype, kept);
    }
    return kept;
  }
}

const RECENT_SHAPES = 8;

/** A JSON value must be a non-negative integer that JavaScript holds exactly. */
function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function badEntry(name: string, what: string): CheckpointError {
  return fail(
    'InvalidHeaderDeserialization',
    `invalid JSON in header: tensor "${name}" ${what}`,
    name,
  );
}

// One object per tensor and no closures: headers can list 100,000+ tensors.
function parseEntry(
  name: string,
  value: unknown,
  dataStart: number,
  intern: Interner,
  spans: number[],
): Entry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badEntry(
      name,
      `must be an object with dtype, shape and data_offsets, but is ${describe(value)}`,
    );
  }
  const entry = value as Record<string, unknown>;
  const dtype = entry.dtype;
  const shape = entry.shape;
  const offsets = entry.data_offsets;
  if (dtype === undefined) throw badEntry(name, 'has no "dtype"');
  if (shape === undefined) throw badEntry(name, 'has no "shape"');
  if (offsets === undefined) throw badEntry(name, 'has no "data_offsets"');
  if (typeof dtype !== 'string')
    throw badEntry(name, `has a dtype that is ${describe(dtype)}, not a string`);
  if (!isDType(dtype)) {
    throw fail(
      'UnknownDtype',
      `tensor "${name}" has the unknown dtype "${dtype}" (known: ${Object.keys(DTYPE_BITS).join(', ')})`,
      name,
    );
  }
  if (!Array.isArray(shape))
    throw badEntry(name, `has a shape that is ${describe(shape)}, not an array`);
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!isIndex(d)) {
      throw badEntry(
        name,
        `has a shape dimension that is ${describe(d)}; dimensions must be integers from 0 to 2^53−1`,
      );
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2)
    throw badEntry(name, 'must have data_offsets [begin, end]');
  const begin: unknown = offsets[0];
  const end: unknown = offsets[1];
  if (!isIndex(begin) || !isIndex(end)) {
    throw badEntry(
      name,
      `has data_offsets [${describe(begin)}, ${describe(end)}]; offsets must be integers from 0 to 2^53−1`,
    );
  }
  spans.push(begin, end);
  return makeEntry(name, dtype, intern.shape(shape as number[]), begin, end, dataStart, intern);
}

function makeEntry(
  name: string,
  dtype: string,
  shape: readonly number[],
  begin: number,
  end: number,
  dataStart: number,
  intern: Interner,
): Entry {
  if (!isDType(dtype)) {
    throw fail(
      'UnknownDtype',
      `tensor "${name}" has the unknown dtype "${dtype}" (known: ${Object.keys(DTYPE_BITS).join(', ')})`,
      name,
    );
  }
  return {
    name,
    dtype: intern.dtype(dtype),
    shape,
    offset: dataStart + begin,
    byteLength: end - begin,
    parameterCount: 0,
  };
}

const looksLikeTensor = (value: object): boolean =>
  'dtype' in value && 'shape' in value && 'data_offsets' in value;

/** A metadata entry; defineProperty keeps a "__proto__" key an ordinary entry. */
function setMetadata(metadata: Record<string, string>, k: string, v: string): void {
  Object.defineProperty(metadata, k, {
    value: v,
    enumerable: true,
    writable: false,
    configurable: false,
  });
}

function parseMetadata(value: unknown): Record<string, string> {
  const metadata = Object.create(null) as Record<string, string>;
  if (value === null || value === undefined) return metadata;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw fail(
      'InvalidHeaderDeserialization',
      `invalid JSON in header: __metadata__ must be an object of strings, but is ${describe(value)}`,
    );
  }
  if (looksLikeTensor(value)) {
    throw fail(
      'ReservedTensorName',
      'a tensor may not be named "__metadata__": that key is reserved for metadata',
      METADATA_KEY,
    );
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw fail(
        'InvalidHeaderDeserialization',
        `invalid JSON in header: __metadata__ values must be strings, but "${k}" is ${describe(v)}`,
        k,
      );
    }
    setMetadata(metadata, k, v);
  }
  return metadata;
}

/** Element count, or a ValidationOverflow/TensorInvalidInfo error when it cannot be held exactly. */
function elementCount(e: Entry): number {
  // Indexed loops here and below: this runs once per tensor, often before the JIT has optimised it,
  // and an unoptimised for…of allocates an iterator result per step.
  const shape = e.shape;
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i] as number;
  if (Number.isSafeInteger(n)) return n;
  let big = 1n;
  for (const d of e.shape) {
    big *= BigInt(d);
    if (big > USIZE_MAX) {
      throw fail(
        'ValidationOverflow',
        `overflow computing buffer size from shape and/or element type of tensor "${e.name}" (shape [${e.shape.join(', ')}])`,
        e.name,
      );
    }
  }
  return Number(big);
}

/**
 * Validates the header in the crate's order (tensor.rs `Metadata::validate`), with offsets relative to
 * the data section, and returns the tensors sorted by offset.
 */
function validateLayout(
  entries: Entry[],
  spans: readonly number[],
  headerLength: number,
  fileSize: number,
): TensorInfo[] {
  // Ties (zero-size tensors) by name, so the order never depends on how the header was parsed.
  const compare = (i: number, j: number): number => {
    const a = entries[i] as Entry;
    const b = entries[j] as Entry;
    return (
      (spans[2 * i] as number) - (spans[2 * j] as number) ||
      (spans[2 * i + 1] as number) - (spans[2 * j + 1] as number) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    );
  };
  // Writers list tensors in data order, so the header is usually sorted already: no index array.
  let inOrder = true;
  for (let i = 1; i < entries.length && inOrder; i++) inOrder = compare(i - 1, i) < 0;
  const order = inOrder ? undefined : Array.from(entries, (_, i) => i).sort(compare);
  // A copy even in order: exactly its length, where `entries` grew by push and has slack.
  const sorted: Entry[] = new Array<Entry>(entries.length);
  const dataStart = 8 + headerLength;
  let previousEnd = 0;
  for (let k = 0; k < entries.length; k++) {
    const i = order ? (order[k] as number) : k;
    const e = entries[i] as Entry;
    const begin = spans[2 * i] as number;
    const end = spans[2 * i + 1] as number;
    sorted[k] = e;
    if (begin !== previousEnd || end < begin) {
      const why =
        end < begin
          ? `it ends (${end}) before it begins (${begin})`
          : begin > previousEnd
            ? `it starts at ${begin}, leaving a hole after byte ${previousEnd} where the previous tensor ends`
            : `it starts at ${begin}, overlapping the previous tensor that ends at ${previousEnd}`;
      throw fail('InvalidOffset', `invalid offset for tensor "${e.name}": ${why}`, e.name);
    }
    const elements = elementCount(e);
    const bitCount = elements * DTYPE_BITS[e.dtype];
    // Exact in a double below 2^53; past that (or past usize) the BigInt path decides.
    if (Number.isSafeInteger(bitCount) && bitCount % 8 === 0 && end - begin === bitCount / 8) {
      e.parameterCount = elements;
      previousEnd = end;
      continue;
    }
    const bits = BigInt(elements) * BigInt(DTYPE_BITS[e.dtype]);
    if (bits > USIZE_MAX) {
      throw fail(
        'ValidationOverflow',
        `overflow computing buffer size from shape and/or element type of tensor "${e.name}"`,
        e.name,
      );
    }
    if (bits % 8n !== 0n) {
      throw fail(
        'MisalignedSlice',
        `tensor "${e.name}" (${e.dtype}, ${elements} elements) does not fill whole bytes`,
        e.name,
      );
    }
    const expected = bits / 8n;
    if (BigInt(end - begin) !== expected) {
      throw fail(
        'TensorInvalidInfo',
        `invalid shape, data type, or offset for tensor "${e.name}": ${e.dtype}[${e.shape.join(', ')}] needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
        e.name,
      );
    }
    e.parameterCount = elements;
    previousEnd = end;
  }
  const dataBytes = fileSize - dataStart;
  if (previousEnd !== dataBytes) {
    const diff = dataBytes - previousEnd;
    const why =
      diff > 0
        ? `${diff} byte${diff === 1 ? '' : 's'} after the last tensor belong to no tensor`
        : `the tensors need ${-diff} more byte${diff === -1 ? '' : 's'} than the file holds (truncated?)`;
    throw fail(
      'MetadataIncompleteBuffer',
      `incomplete metadata, file not fully covered: the header describes ${previousEnd} bytes of data, the file has ${dataBytes}; ${why}`,
    );
  }
  return sorted;
}

/** Parses and validates a header text; exported for tests and the fuzzer. */
export function parseHeader(
  text: string,
  headerLength: number,
  fileSize: number,
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const dataStart = 8 + headerLength;
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw fail('InvalidHeaderDeserialization', `invalid JSON in header: ${(e as Error).message}`);
  }
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    throw fail(
      'InvalidHeaderDeserialization',
      `invalid JSON in header: the header must be a JSON object, but is ${describe(root)}`,
    );
  }
  let metadata = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  const spans: number[] = [];
  const intern = new Interner();
  let names = 0;
  for (const name in root) {
    names++;
    const value = (root as Record<string, unknown>)[name];
    if (name === METADATA_KEY) metadata = parseMetadata(value);
    else entries.push(parseEntry(name, value, dataStart, intern, spans));
  }
  // JSON.parse keeps the last of two equal keys. Every entry has at least its 3 fields, so if the text
  // holds no more keys than that, nothing was dropped; otherwise a full scan tells duplicates from
  // harmless extra fields.
  const minimumKeys = names + Object.keys(metadata).length + 3 * entries.length;
  if (countTextKeys(text) !== minimumKeys) {
    const duplicate = findDuplicateKey(text);
    if (duplicate) {
      const where = duplicate.parentKey === undefined ? 'the header' : `"${duplicate.parentKey}"`;
      throw fail(
        'DuplicateKey',
        `the key "${duplicate.key}" appears twice in ${where}; parsers disagree on which one wins, so the file is refused`,
        duplicate.key,
      );
    }
  }
  return { tensors: validateLayout(entries, spans, headerLength, fileSize), metadata };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The fast path: the header bytes scanned straight into entries (safetensorsScan.ts), then the same
 * checks as parseHeader. Undefined when the header is outside the scanner's subset or fails any check:
 * the caller then runs parseHeader, so every refusal keeps parseHeader's code and message.
 */
function scanHeaderBytes(
  bytes: Uint8Array,
  headerLength: number,
  fileSize: number,
): { tensors: TensorInfo[]; metadata: Record<string, string> } | undefined {
  const dataStart = 8 + headerLength;
  const metadata = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  const spans: number[] = [];
  const intern = new Interner();
  try {
    const read = scanHeader(bytes, {
      tensor(name, dtype, shape, begin, end) {
        const entry = makeEntry(name, dtype, intern.shape(shape), begin, end, dataStart, intern);
        spans.push(begin, end);
        entries.push(entry);
      },
      metadata(k, v) {
        setMetadata(metadata, k, v);
      },
    });
    if (!read || looksLikeTensor(metadata)) return undefined;
    return { tensors: validateLayout(entries, spans, headerLength, fileSize), metadata };
  } catch (e) {
    if (e instanceof CheckpointError) return undefined;
    throw e;
  }
}

export interface HeaderParseOptions {
  /** False skips the fast path and always parses the header text with JSON.parse (tests, benches). */
  fastPath?: boolean;
}

/** Parses and validates the header bytes (after the length prefix); exported for tests and benches. */
export function parseHeaderBytes(
  bytes: Uint8Array,
  headerLength: number,
  fileSize: number,
  options: HeaderParseOptions = {},
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  if (options.fastPath !== false) {
    const scanned = scanHeaderBytes(bytes, headerLength, fileSize);
    if (scanned) return scanned;
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fail('InvalidHeader', 'invalid UTF-8 in header');
  }
  return parseHeader(text, headerLength, fileSize);
}

/** Reads only the length prefix and the header; never the tensor data. */
export async function openSafetensors(source: ByteSource): Promise<Checkpoint> {
  return openSafetensorsWith(source);
}

/** openSafetensors with parse options; `{ fastPath: false }` is for tests and benches. */
export async function openSafetensorsWith(
  source: ByteSource,
  options: HeaderParseOptions = {},
): Promise<Checkpoint> {
  if (source.size < 8) {
    throw fail(
      'HeaderTooSmall',
      `header too small: the file has ${source.size} bytes, fewer than the 8-byte length prefix`,
    );
  }
  const prefix = await source.read(0, 8);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw fail(
      'HeaderTooLarge',
      `header too large: the length prefix says ${n} bytes, over the ${MAX_HEADER_SIZE.toLocaleString('en-US')}-byte limit (is this really a safetensors file?)`,
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > source.size) {
    throw fail(
      'InvalidHeaderLength',
      `invalid header length: the header claims ${headerLength} bytes, but the file has only ${source.size - 8} after the length prefix`,
    );
  }
  const headerBytes = await source.read(8, headerLength);
  const { tensors, metadata } = parseHeaderBytes(headerBytes, headerLength, source.size, options);
  return new SafetensorsCheckpoint(source, headerLength, tensors, metadata);
}

class SafetensorsCheckpoint implements Checkpoint {
  readonly format = 'safetensors' as const;
  readonly name: string;
  readonly fileSize: number;
  readonly headerByteLength: number;
  readonly parameterCount: number;
  readonly dataBytes: number;
  readonly dtypes;
  private readonly index: TensorIndex;
  readonly readSpanSync?: (offset: number, into: Uint8Array) => Uint8Array;

  constructor(
    private readonly source: ByteSource,
    headerLength: number,
    readonly tensors: readonly TensorInfo[],
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.name = source.name;
    this.fileSize = source.size;
    this.headerByteLength = 8 + headerLength;
    ({ parameterCount: this.parameterCount, dtypes: this.dtypes } = tensorTotals(tensors));
    this.dataBytes = source.size - this.headerByteLength;
    this.index = new TensorIndex(tensors);
    const sync = source.readIntoSync?.bind(source);
    if (sync) this.readSpanSync = sync;
  }

  tensor(name: string): TensorInfo {
    return this.index.get(name);
  }

  readSpan(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    return readRange(this.source, offset, length, into);
  }

  async readTensorBytes(
    tensor: TensorInfo,
    range?: ElementRange,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    const { offset, length } = byteRangeOf(tensor, range);
    return readRange(this.source, offset, length, into);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

export const safetensorsReader: CheckpointReader = {
  format: 'safetensors',
  sniff(head, fileName) {
    if (fileName.toLowerCase().endsWith('.safetensors')) return true;
    // A small little-endian length, then JSON whitespace or '{'.
    if (head.length < 9) return false;
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const n = dv.getBigUint64(0, true);
    const c = head[8];
    return (
      n > 1n &&
      n <= BigInt(MAX_HEADER_SIZE) &&
      (c === 0x7b || c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d)
    );
  },
  open: openSafetensors,
};
