import type { ByteSource } from '../byteSource.js';
import { CheckpointError } from '../errors.js';
import { FIXED_HEADER_BYTES, readFixedHeader, type FixedHeader } from './fixedHeader.js';
import { HeaderCursor } from './headerCursor.js';
import { readKvValue, type KvEntry } from './kvValue.js';
import { GgufValueType, isGgufValueType, valueTypeName } from './valueTypes.js';

/** ggml.h GGML_DEFAULT_ALIGNMENT; `general.alignment` overrides it. */
export const DEFAULT_ALIGNMENT = 32;
/** GGML_MAX_DIMS in ggml.h. */
export const MAX_DIMS = 4;
const INT64_MAX = (1n << 63n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A tensor info as the file gives it: dims in ggml (ne) order, offset relative to the data section. */
export interface RawTensorInfo {
  readonly name: string;
  /** UTF-8 length of the name. */
  readonly nameBytes: number;
  /** Each exact (at most 2^53). */
  readonly ne: readonly number[];
  /** Product of `ne`: exact up to 2^53, beyond that only known to be larger. */
  readonly elements: number;
  readonly type: number;
  /** Exact up to 2^53, beyond that only known to be larger. */
  readonly offset: number;
}

/** A parsed GGUF header. */
export interface GgufHeader extends FixedHeader {
  /** KV pairs in file order. */
  readonly kv: ReadonlyMap<string, KvEntry>;
  readonly tensorInfos: readonly RawTensorInfo[];
  readonly alignment: number;
  /** Absolute offset of the data section: the end of the tensor infos, rounded up to the alignment. */
  readonly dataStart: number;
}

/**
 * Reads the header front to back, never past it and never past the file. Refuses what llama.cpp's
 * gguf.cpp refuses (duplicate keys, more than 4 dims, negative dims, a bad alignment) by name.
 */
export async function readGgufHeader(source: ByteSource): Promise<GgufHeader> {
  const c = new HeaderCursor(source);
  const available = Math.min(FIXED_HEADER_BYTES, source.size);
  const wait = c.need(available, 'the fixed header');
  if (wait) await wait;
  const fixed = readFixedHeader(c.bytes(available), source.size);
  c.littleEndian = fixed.littleEndian;
  c.sizeBytes = fixed.version === 1 ? 4 : 8;
  c.pos = 8 + 2 * c.sizeBytes;

  const kv = new Map<string, KvEntry>();
  for (let i = 0; i < fixed.kvCount; i++) {
    const key = await c.string(`the key of pair ${i}`);
    const typeWait = c.need(4, `the type of key "${key}"`);
    if (typeWait) await typeWait;
    const type = c.u32();
    if (!isGgufValueType(type)) {
      throw new CheckpointError(
        'InvalidGguf',
        `key "${key}" has the unknown value type ${type}`,
        key,
      );
    }
    if (kv.has(key)) {
      throw new CheckpointError(
        'DuplicateKey',
        `the key "${key}" appears twice; llama.cpp refuses the file`,
        key,
      );
    }
    kv.set(key, await readKvValue(c, type, `key "${key}"`));
  }

  const tensorInfos: RawTensorInfo[] = [];
  for (let i = 0; i < fixed.tensorCount; i++) tensorInfos.push(await readTensorInfo(c));

  const alignment = alignmentOf(kv.get('general.alignment'));
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  return { ...fixed, kv, tensorInfos, alignment, dataStart };
}

// Fixed labels: building one per tensor costs more than parsing it. Errors still give the byte offset.
const TENSOR_NAME = 'a tensor name';
const TENSOR_INFO = 'a tensor info';

async function readTensorInfo(c: HeaderCursor): Promise<RawTensorInfo> {
  // Awaits only when the window must move: a million tensor infos then parse in a loop, not in
  // millions of promise turns.
  const what = TENSOR_NAME;
  const head = c.need(c.sizeBytes, what);
  if (head) await head;
  const nameBytes = c.stringLength(what);
  const body = c.need(nameBytes + 4, what);
  if (body) await body;
  const name = c.text(nameBytes);
  const nDims = c.u32();
  if (nDims > MAX_DIMS) {
    throw new CheckpointError(
      'InvalidGguf',
      `tensor "${name}" has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`,
      name,
    );
  }
  const rest = c.need(nDims * c.sizeBytes + 4 + 8, TENSOR_INFO);
  if (rest) await rest;
  const ne: number[] = [];
  let elements = 1;
  for (let d = 0; d < nDims; d++) {
    const dim = dimension(c.size(), d, name);
    ne.push(dim);
    elements *= dim;
  }
  if (elements > Number.MAX_SAFE_INTEGER) checkProduct(ne, name);
  const type = c.u32();
  const offset = Number(c.u64());
  return { name, nameBytes, ne, elements, type, offset };
}

/** ggml keeps dims in int64; we need them exact as doubles. */
function dimension(dim: bigint, d: number, name: string): number {
  if (dim > INT64_MAX) {
    throw new CheckpointError(
      'InvalidGguf',
      `tensor "${name}" has dimension ${d} = ${dim}, negative as the int64 ggml stores`,
      name,
    );
  }
  if (dim > MAX_SAFE) {
    throw new CheckpointError(
      'LimitExceeded',
      `tensor "${name}" has dimension ${d} = ${dim}, beyond 2^53`,
      name,
    );
  }
  return Number(dim);
}

/** ggml refuses an element count over int64; a smaller one runs past the file and is refused later. */
function checkProduct(ne: readonly number[], name: string): void {
  const product = ne.reduce((n, d) => n * BigInt(d), 1n);
  if (product > INT64_MAX) {
    throw new CheckpointError(
      'InvalidGguf',
      `tensor "${name}" has dimensions ${ne.join(' × ')} whose product overflows int64`,
      name,
    );
  }
}

/** llama.cpp (gguf.cpp) wants a u32 power of two. */
function alignmentOf(entry: KvEntry | undefined): number {
  if (!entry) return DEFAULT_ALIGNMENT;
  const value = entry.scalar;
  if (entry.type !== GgufValueType.UINT32 || typeof value !== 'number') {
    throw new CheckpointError(
      'InvalidGguf',
      `general.alignment must be a u32, but is a ${valueTypeName(entry.type)}`,
      'general.alignment',
    );
  }
  if (value === 0 || (value & (value - 1)) !== 0) {
    throw new CheckpointError(
      'InvalidGguf',
      `general.alignment must be a power of two, but is ${value}`,
      'general.alignment',
    );
  }
  return value;
}
