/** Tensors computed in memory, as a Checkpoint the safetensors writer can copy from. */
import type { Checkpoint, ElementRange, TensorInfo } from '../formats/checkpoint.js';
import { summarizeDtypes } from '../formats/checkpoint.js';
import { CheckpointError } from '../formats/errors.js';

export interface MemoryTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export function memoryCheckpoint(tensors: readonly MemoryTensor[]): Checkpoint {
  const infos = new Map<string, TensorInfo>();
  const data = new Map<string, Uint8Array>();
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    // offset -1: the writer reads each tensor whole, never as a span of one file.
    infos.set(t.name, {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      offset: -1,
      byteLength: t.bytes.length,
      parameterCount: count,
    });
    data.set(t.name, t.bytes);
  }
  const list = [...infos.values()];
  const tensor = (name: string): TensorInfo => {
    const t = infos.get(name);
    if (!t) throw new CheckpointError('TensorNotFound', `no computed tensor "${name}"`, name);
    return t;
  };
  return {
    format: 'safetensors',
    name: 'computed',
    fileSize: 0,
    headerByteLength: 0,
    tensors: list,
    metadata: Object.create(null) as Record<string, string>,
    parameterCount: list.reduce((n, t) => n + t.parameterCount, 0),
    dataBytes: list.reduce((n, t) => n + t.byteLength, 0),
    dtypes: summarizeDtypes(list),
    tensor,
    readTensorBytes(t: TensorInfo, range?: ElementRange): Promise<Uint8Array> {
      const bytes = data.get(t.name);
      if (!bytes)
        return Promise.reject(
          new CheckpointError('TensorNotFound', `no computed tensor "${t.name}"`, t.name),
        );
      if (!range) return Promise.resolve(bytes);
      const size = t.parameterCount > 0 ? bytes.length / t.parameterCount : 0;
      return Promise.resolve(
        bytes.subarray(range.start * size, (range.start + range.count) * size),
      );
    },
    close: () => Promise.resolve(),
  };
}
