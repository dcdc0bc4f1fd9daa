import { CheckpointError } from '../errors.js';

/** "GGUF" at byte 0. */
export const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46] as const;

/**
 * Far above real files (a few thousand tensors, a few dozen keys); @huggingface/gguf 0.4.6 allows 10M
 * tensors and 100k keys. Each tensor info costs an object, so this bounds the work (about a second)
 * and memory a hostile header can demand.
 */
export const MAX_TENSOR_COUNT = 262_144;
export const MAX_KV_COUNT = 100_000;

/** Bytes of magic, version and the two counts (v2 and v3; v1 has 32-bit counts). */
export const FIXED_HEADER_BYTES = 24;

export interface FixedHeader {
  readonly version: 1 | 2 | 3;
  readonly littleEndian: boolean;
  readonly tensorCount: number;
  readonly kvCount: number;
}

export function hasGgufMagic(head: Uint8Array): boolean {
  return GGUF_MAGIC.every((b, i) => head[i] === b);
}

/**
 * Checks magic, version, byte order and the two counts before the full parse, so a hostile count is
 * refused by name before anything is allocated for it.
 */
export function readFixedHeader(head: Uint8Array, fileSize: number): FixedHeader {
  for (let i = 0; i < Math.min(4, head.byteLength); i++) {
    if (head[i] !== GGUF_MAGIC[i]) {
      throw new CheckpointError('InvalidGguf', 'not a GGUF file: it does not start with "GGUF"');
    }
  }
  if (head.byteLength < 8) {
    throw new CheckpointError(
      'Truncated',
      `the file has ${fileSize} bytes, too few for a GGUF header`,
    );
  }
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  // The version is written in the file's byte order and is small, so a little-endian read of a
  // big-endian file has its low 16 bits zero (the test llama.cpp and @huggingface/gguf use, ggml#3957).
  const versionLe = dv.getUint32(4, true);
  const littleEndian = (versionLe & 0xffff) !== 0;
  const version = littleEndian ? versionLe : dv.getUint32(4, false);
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new CheckpointError(
      'InvalidGguf',
      `unsupported GGUF version ${version} (known: 1, 2, 3)`,
    );
  }
  const countBytes = version === 1 ? 4 : 8;
  if (head.byteLength < 8 + 2 * countBytes) {
    throw new CheckpointError(
      'Truncated',
      `the file has ${fileSize} bytes, too few for a GGUF header`,
    );
  }
  const readCount = (at: number): bigint =>
    version === 1 ? BigInt(dv.getUint32(at, littleEndian)) : dv.getBigUint64(at, littleEndian);
  const tensorCount = readCount(8);
  const kvCount = readCount(8 + countBytes);
  if (tensorCount > BigInt(MAX_TENSOR_COUNT)) {
    throw new CheckpointError(
      'LimitExceeded',
      `the header declares ${tensorCount} tensors, over the limit of ${MAX_TENSOR_COUNT.toLocaleString('en-US')}`,
    );
  }
  if (kvCount > BigInt(MAX_KV_COUNT)) {
    throw new CheckpointError(
      'LimitExceeded',
      `the header declares ${kvCount} key/value pairs, over the limit of ${MAX_KV_COUNT.toLocaleString('en-US')}`,
    );
  }
  // Smallest possible entries: an empty key, a type and a 1-byte value; an empty name, no dims, a type
  // and an offset. Counts the file cannot hold are refused before the parser loops over them.
  const minKv = countBytes + 4 + 1;
  const minTensorInfo = countBytes + 4 + 4 + 8;
  const needed = 8 + 2 * countBytes + Number(kvCount) * minKv + Number(tensorCount) * minTensorInfo;
  if (needed > fileSize) {
    throw new CheckpointError(
      'Truncated',
      `the header declares ${tensorCount} tensors and ${kvCount} key/value pairs, which need at least ${needed} bytes, but the file has ${fileSize}`,
    );
  }
  return { version, littleEndian, tensorCount: Number(tensorCount), kvCount: Number(kvCount) };
}
