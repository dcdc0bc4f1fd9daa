import type { ByteSource } from './byteSource.js';
import type { Siblings } from './files.js';
import type { QuantInfo } from './quant/types.js';

export type CheckpointFormat = 'safetensors' | 'sharded-safetensors' | 'torch' | 'gguf' | 'onnx';

/** What a tensor is for. Optimizer and scheduler state, buffers and the like are not model weights. */
export type TensorRole = 'weight' | 'optimizer' | 'buffer' | 'other';

/** One node that reads an ONNX initializer. */
export interface TensorConsumer {
  readonly op: string;
  readonly node: string;
  /**
   * The module path the exporter traced the node in (`model.layers.0.self_attn.q_proj`), from the
   * node's `pkg.torch.onnx.name_scopes` / `namespace` metadata (dynamo exports, whose node names
   * are generic). Absent when the node carries none.
   */
  readonly scope?: string;
}

/** Where a PyTorch tensor's data sits: a storage record of the zip, at an element offset, with strides. */
export interface TorchStorageRef {
  readonly key: string;
  readonly storageDtype: string;
  readonly storageNumel: number;
  readonly location: string;
  /** Element offset of the tensor inside its storage. */
  readonly storageOffset: number;
  readonly stride: readonly number[];
}

/** One tensor as the file describes it. No data is read to build this. */
export interface TensorInfo {
  readonly name: string;
  /**
   * A safetensors dtype name (F32, BF16, F8_E4M3, …) for every format that has one; GGUF block types
   * keep their ggml name (Q4_K, Q8_0, …).
   */
  readonly dtype: string;
  readonly shape: readonly number[];
  /**
   * Absolute byte offset of the tensor's data in `file` (or in the checkpoint file itself), or -1 when
   * the data is not one contiguous range of an uncompressed file.
   */
  readonly offset: number;
  readonly byteLength: number;
  readonly parameterCount: number;
  /** The file holding the data, relative to the checkpoint's folder, when it is not the opened file. */
  readonly file?: string;
  readonly role?: TensorRole;
  readonly storage?: TorchStorageRef;
  readonly consumers?: readonly TensorConsumer[];
  /**
   * Set on a logical weight made of quantized parts (formats/quant/): `dtype` is the scheme's, `shape` the
   * logical [out, in], and the bytes are read through the checkpoint's `dequantizeRows`.
   */
  readonly quant?: QuantInfo;
}

export interface DtypeStats {
  readonly dtype: string;
  readonly tensors: number;
  readonly parameters: number;
  readonly bytes: number;
}

/** A plain value stored beside the tensors (epoch, step, hyper-parameters, config fields). */
export type PlainValue =
  null | boolean | number | string | PlainValue[] | { [key: string]: PlainValue };

/** Everything known about a checkpoint from its header alone. */
export interface CheckpointInfo {
  readonly format: CheckpointFormat;
  readonly name: string;
  readonly fileSize: number;
  /** Bytes read to describe the checkpoint (the header, for safetensors). */
  readonly headerByteLength: number;
  /** In file (data offset) order. */
  readonly tensors: readonly TensorInfo[];
  /** String key/value pairs (`__metadata__` for safetensors, KV pairs for GGUF). A null-prototype record. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly parameterCount: number;
  /** Bytes of tensor data. */
  readonly dataBytes: number;
  /** Sorted by bytes, largest first. */
  readonly dtypes: readonly DtypeStats[];
  /** Plain values by path (torch training checkpoints: `epoch`, `optimizer.param_groups.0.lr`, …). */
  readonly values?: Readonly<Record<string, PlainValue>>;
  /** Side files that describe the checkpoint (`config.json`, `adapter_config.json`), parsed. */
  readonly configs?: Readonly<Record<string, PlainValue>>;
  /** Things worth knowing that did not stop the file from opening. */
  readonly warnings?: readonly string[];
}

/** An open checkpoint: its header facts plus on-demand access to tensor bytes. */
export interface Checkpoint extends CheckpointInfo {
  tensor(name: string): TensorInfo;
  /**
   * Raw little-endian bytes of one tensor, or of `count` elements from `start`. `into`, a buffer of
   * exactly that many bytes, may be filled and returned instead of a new array (formats that read
   * straight from a file do): always use the returned array.
   */
  readTensorBytes(tensor: TensorInfo, range?: ElementRange, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * Single-file formats whose tensor offsets are absolute in the opened file: `length` bytes at
   * `offset`, into `into` when given. Lets a writer copy a run of adjacent tensors in one read.
   */
  readSpan?(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * `readSpan` that fills `into` synchronously: present only where the file is local. Blocking, so
   * for small reads by a caller that gives way between them.
   */
  readonly readSpanSync?: (offset: number, into: Uint8Array) => Uint8Array;
  close(): Promise<void>;
}

export interface ElementRange {
  readonly start: number;
  readonly count: number;
}

/** Every single-file checkpoint format implements this one interface. */
export interface CheckpointReader {
  readonly format: CheckpointFormat;
  /** Cheap check on the first bytes (up to 16) and the file name. */
  sniff(head: Uint8Array, fileName: string): boolean;
  /** `siblings` gives access to files next to the opened one (ONNX external data). */
  open(source: ByteSource, context?: OpenContext): Promise<Checkpoint>;
}

export interface OpenContext {
  readonly siblings?: Siblings;
}

export function summarizeDtypes(tensors: readonly TensorInfo[]): DtypeStats[] {
  const acc = new Map<string, { tensors: number; parameters: number; bytes: number }>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
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
