import { readRange, type ByteSource } from '../byteSource.js';
import type {
  Checkpoint,
  CheckpointReader,
  DtypeStats,
  ElementRange,
  TensorInfo,
} from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import { byteRangeOf } from '../tensorRange.js';
import { TensorIndex, tensorTotals } from '../tensorTable.js';
import { hasGgufMagic } from './fixedHeader.js';
import { readGgufHeader, type GgufHeader } from './ggufHeader.js';
import type { GgmlType } from './ggmlTypes.js';
import { layoutTensors } from './tensorLayout.js';

/**
 * Types whose bytes a big-endian file stores swapped. gguf-py (GGUFWriter.add_tensor) swaps numpy arrays
 * of these dtypes but writes BF16 and quantized blocks as raw bytes, left little-endian, while a native
 * big-endian ggml would swap them: their byte order is not knowable from the file.
 */
const SWAPPED_IN_BIG_ENDIAN = new Set(['F32', 'F16', 'F64', 'I8', 'I16', 'I32', 'I64']);

/** Keys we add beside the file's own KV pairs. */
export const VERSION_KEY = 'gguf.version';
export const ALIGNMENT_KEY = 'gguf.alignment';

/** Reads the header only: KV pairs and tensor infos, never tensor data. */
export async function openGguf(source: ByteSource): Promise<Checkpoint> {
  const header = await readGgufHeader(source);
  const { tensors, ggmlTypes, warnings } = layoutTensors(header, source.size);
  const metadata = metadataRecord(header, warnings);
  if (!header.littleEndian) {
    warnings.push(
      'big-endian GGUF: F32, F16, F64 and integer tensors are byte-swapped when read; BF16 and quantized tensors cannot be read',
    );
  }
  if (header.version === 1) warnings.push('GGUF version 1: current llama.cpp no longer loads it');
  return new GgufCheckpoint(source, header, tensors, ggmlTypes, metadata, warnings);
}

function metadataRecord(header: GgufHeader, warnings: string[]): Record<string, string> {
  const metadata = Object.create(null) as Record<string, string>;
  const put = (key: string, value: string) =>
    // defineProperty keeps a "__proto__" key an ordinary entry.
    Object.defineProperty(metadata, key, { value, enumerable: true, writable: false });
  put(VERSION_KEY, String(header.version));
  put(ALIGNMENT_KEY, String(header.alignment));
  for (const [key, entry] of header.kv) {
    if (key === VERSION_KEY || key === ALIGNMENT_KEY) {
      warnings.push(`the file's own "${key}" key is hidden by the header fact of the same name`);
      continue;
    }
    put(key, entry.text);
  }
  return metadata;
}

class GgufCheckpoint implements Checkpoint {
  readonly format = 'gguf' as const;
  readonly name: string;
  readonly fileSize: number;
  readonly headerByteLength: number;
  readonly parameterCount: number;
  readonly dataBytes: number;
  readonly dtypes: readonly DtypeStats[];
  readonly warnings?: readonly string[];
  private readonly littleEndian: boolean;
  private readonly index: TensorIndex;

  constructor(
    private readonly source: ByteSource,
    header: GgufHeader,
    readonly tensors: readonly TensorInfo[],
    private readonly ggmlTypes: ReadonlyMap<string, GgmlType>,
    readonly metadata: Readonly<Record<string, string>>,
    warnings: readonly string[],
  ) {
    this.name = source.name;
    this.fileSize = source.size;
    this.headerByteLength = Math.min(header.dataStart, source.size);
    ({
      parameterCount: this.parameterCount,
      dataBytes: this.dataBytes,
      dtypes: this.dtypes,
    } = tensorTotals(tensors));
    this.index = new TensorIndex(tensors);
    this.littleEndian = header.littleEndian;
    if (warnings.length > 0) this.warnings = warnings;
  }

  tensor(name: string): TensorInfo {
    return this.index.get(name);
  }

  /**
   * Raw bytes at an absolute offset (a few rows of a block tensor, for dequantization). Little-endian
   * files only: a big-endian file's block bytes have no agreed order.
   */
  readSpan(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!this.littleEndian)
      return Promise.reject(
        new CheckpointError(
          'UnsupportedDtype',
          'byte ranges of a big-endian GGUF file are not read: writers do not agree on its block byte order',
        ),
      );
    return readRange(this.source, offset, length, into);
  }

  async readTensorBytes(
    tensor: TensorInfo,
    range?: ElementRange,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    const { offset, length } = byteRangeOf(tensor, range);
    if (this.littleEndian) return readRange(this.source, offset, length, into);
    const type = this.ggmlTypes.get(tensor.name);
    if (!type || !SWAPPED_IN_BIG_ENDIAN.has(type.name)) {
      throw new CheckpointError(
        'UnsupportedDtype',
        `tensor "${tensor.name}" is ${tensor.dtype} in a big-endian GGUF file, whose byte order writers do not agree on; only F32, F16, F64 and integer tensors can be read`,
        tensor.name,
      );
    }
    return swapBytes(await this.source.read(offset, length), type.typeSize);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** Reverses each `size`-byte element in place: big-endian file bytes to the little-endian callers expect. */
function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  if (size === 1) return bytes;
  for (let at = 0; at + size <= bytes.length; at += size) {
    for (let i = 0, j = size - 1; i < j; i++, j--) {
      const b = bytes[at + i] as number;
      bytes[at + i] = bytes[at + j] as number;
      bytes[at + j] = b;
    }
  }
  return bytes;
}

export const ggufReader: CheckpointReader = {
  format: 'gguf',
  sniff(head, fileName) {
    return hasGgufMagic(head) || fileName.toLowerCase().endsWith('.gguf');
  },
  open: openGguf,
};
