// A deliberately tiny, independent safetensors header reader for the end-to-end tests: the
// expected numbers come from the file itself, not from the code under test.
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

export interface HeaderTensor {
  name: string;
  dtype: string;
  shape: number[];
  offsets: [number, number];
}

export interface SafetensorsFacts {
  tensorCount: number;
  paramCount: number;
  fileSize: number;
  tensors: HeaderTensor[];
  metadata: Record<string, string>;
}

export function readSafetensorsFacts(file: string): SafetensorsFacts {
  const fd = openSync(file, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    const header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    const tensors: HeaderTensor[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = value as Record<string, string>;
        continue;
      }
      const t = value as { dtype: string; shape: number[]; data_offsets: [number, number] };
      tensors.push({ name, dtype: t.dtype, shape: t.shape, offsets: t.data_offsets });
    }
    const paramCount = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
    return { tensorCount: tensors.length, paramCount, fileSize, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/**
 * Builds a safetensors file from `tensors` (name -> [dtype, shape]) with zeroed data.
 * `truncateBy` drops that many bytes from the end of the data section, which makes the header
 * promise more data than the file holds (the `MetadataIncompleteBuffer` rule).
 */
export function buildSafetensors(
  tensors: Record<string, [string, number[]]>,
  options: { truncateBy?: number; metadata?: Record<string, string> } = {},
): Buffer {
  const header: Record<string, unknown> = {};
  if (options.metadata) header['__metadata__'] = options.metadata;
  let offset = 0;
  for (const [name, [dtype, shape]] of Object.entries(tensors)) {
    const bytes = (DTYPE_BYTES[dtype] ?? 4) * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.alloc(Math.max(0, offset - (options.truncateBy ?? 0)));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), data]);
}
