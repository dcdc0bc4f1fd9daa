import type { ByteSource } from './byteSource.js';
import type { DType } from './dtypes.js';

export type CheckpointFormat = 'safetensors';

/** One tensor as the file describes it. No data is read to build this. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
  readonly byteLength: number;
  readonly parameterCount: number;
}

export interface DtypeStats {
  readonly dtype: DType;
  readonly tensors: number;
  readonly parameters: number;
  readonly bytes: number;
}

/** Everything known about a checkpoint from its header alone. */
export interface CheckpointInfo {
  readonly format: CheckpointFormat;
  readonly name: string;
  readonly fileSize: number;
  /** Bytes of header (including the length prefix for safetensors). */
  readonly headerByteLength: number;
  /** In file (data offset) order. */
  readonly tensors: readonly TensorInfo[];
  /** String key/value pairs (`__metadata__` for safetensors). A null-prototype record. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly parameterCount: number;
  /** Bytes of tensor data. */
  readonly dataBytes: number;
  /** Sorted by bytes, largest first. */
  readonly dtypes: readonly DtypeStats[];
}

/** An open checkpoint: its header facts plus on-demand access to tensor bytes. */
export interface Checkpoint extends CheckpointInfo {
  tensor(name: string): TensorInfo;
  /** Raw little-endian bytes of one tensor, or of `count` elements from `start`. */
  readTensorBytes(tensor: TensorInfo, range?: ElementRange): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ElementRange {
  readonly start: number;
  readonly count: number;
}

/** Every checkpoint format implements this one interface. */
export interface CheckpointReader {
  readonly format: CheckpointFormat;
  /** Cheap check on the first bytes (up to 16) and the file name. */
  sniff(head: Uint8Array, fileName: string): boolean;
  open(source: ByteSource): Promise<Checkpoint>;
}

export function summarizeDtypes(tensors: readonly TensorInfo[]): DtypeStats[] {
  const acc = new Map<DType, { tensors: number; parameters: number; bytes: number }>();
  for (const t of tensors) {
    const s = acc.get(t.dtype) ?? { tensors: 0, parameters: 0, bytes: 0 };
    s.tensors++;
    s.parameters += t.parameterCount;
    s.bytes += t.byteLength;
    acc.set(t.dtype, s);
  }
  return [...acc.entries()]
    .map(([dtype, s]) => ({ dtype, ...s }))
    .sort((a, b) => b.bytes - a.bytes || a.dtype.localeCompare(b.dtype));
}
