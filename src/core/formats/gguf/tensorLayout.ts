import type { TensorInfo } from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import { ggmlType, removedGgmlTypeName, type GgmlType } from './ggmlTypes.js';
import type { GgufHeader, RawTensorInfo } from './ggufHeader.js';

/** GGML_MAX_NAME in ggml.h: llama.cpp refuses names that do not fit with their terminator. */
export const MAX_NAME_BYTES = 63;

/**
 * Turns the header's tensor infos into TensorInfos (PyTorch dim order, absolute offsets, byte sizes)
 * after the checks llama.cpp's gguf.cpp makes: a known type, whole blocks per row,
 * aligned offsets, unique names, data inside the file and no two tensors sharing bytes.
 * Returns them in data order, with warnings for what only llama.cpp would refuse.
 */
export function layoutTensors(
  header: GgufHeader,
  fileSize: number,
): { tensors: TensorInfo[]; ggmlTypes: Map<string, GgmlType>; warnings: string[] } {
  const warnings: string[] = [];
  const ggmlTypes = new Map<string, GgmlType>();
  const tensors: TensorInfo[] = [];
  // llama.cpp also wants each tensor right after the previous one in header order, padded.
  let expectedOffset = 0;
  let packedWarned = false;
  for (const info of header.tensorInfos) {
    if (ggmlTypes.has(info.name)) {
      throw invalid(
        `tensor "${info.name}" appears twice; llama.cpp refuses duplicate tensor names`,
        info,
      );
    }
    const type = typeOf(info);
    ggmlTypes.set(info.name, type);
    const tensor = tensorOf(info, type, header, fileSize);
    if (!packedWarned && info.offset !== expectedOffset) {
      packedWarned = true;
      warnings.push(
        `tensor "${info.name}" is at data offset ${info.offset}, where llama.cpp expects ${expectedOffset} (tensors packed in header order); llama.cpp will refuse this file`,
      );
    }
    expectedOffset =
      info.offset + Math.ceil(tensor.byteLength / header.alignment) * header.alignment;
    if (info.nameBytes > MAX_NAME_BYTES) {
      warnings.push(
        `tensor name "${info.name}" is longer than ${MAX_NAME_BYTES} bytes; llama.cpp will refuse this file`,
      );
    }
    tensors.push(tensor);
  }
  tensors.sort(
    (a, b) => a.offset - b.offset || a.byteLength - b.byteLength || compare(a.name, b.name),
  );
  let previous: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.byteLength === 0) continue;
    if (previous && t.offset < previous.offset + previous.byteLength) {
      throw new CheckpointError(
        'InvalidGguf',
        `tensor "${t.name}" starts at byte ${t.offset}, inside tensor "${previous.name}" (bytes ${previous.offset}..${previous.offset + previous.byteLength})`,
        t.name,
      );
    }
    previous = t;
  }
  return { tensors, ggmlTypes, warnings };
}

function tensorOf(
  info: RawTensorInfo,
  type: GgmlType,
  header: GgufHeader,
  fileSize: number,
): TensorInfo {
  const { name, ne, elements } = info;
  const rowLength = ne[0] ?? 1;
  if (rowLength % type.blockSize !== 0) {
    throw invalid(
      `tensor "${name}" (${type.name}) has rows of ${rowLength} elements, not a whole number of ${type.blockSize}-element blocks`,
      info,
    );
  }
  if (info.offset % header.alignment !== 0) {
    throw invalid(
      `tensor "${name}" starts at data offset ${info.offset}, which is not a multiple of the alignment ${header.alignment}`,
      info,
    );
  }
  // Doubles are exact below 2^53, and any size or offset above it is far past the end of any file
  // (even IQ1_S, the densest type, needs 50 bytes per 256 elements), so the check below is exact.
  const byteLength = (elements / type.blockSize) * type.typeSize;
  const start = header.dataStart + info.offset;
  if (start + byteLength > fileSize) {
    throw new CheckpointError(
      'Truncated',
      `the data of tensor "${name}" (${type.name} [${[...ne].reverse().join(', ')}], ${byteLength} bytes at byte ${start}) runs past the end of the file (${fileSize} bytes)`,
      name,
    );
  }
  return {
    name,
    dtype: type.name,
    shape: [...ne].reverse(),
    offset: start,
    byteLength,
    parameterCount: elements,
  };
}

function typeOf(info: RawTensorInfo): GgmlType {
  const id = info.type;
  const type = ggmlType(id);
  if (type) return type;
  const removed = removedGgmlTypeName(id);
  throw new CheckpointError(
    'UnsupportedDtype',
    removed
      ? `tensor "${info.name}" has ggml type ${id} (${removed}), which ggml has removed; requantize the model with a current llama.cpp`
      : `tensor "${info.name}" has the unknown ggml type ${id}`,
    info.name,
  );
}

function invalid(message: string, info: RawTensorInfo): CheckpointError {
  return new CheckpointError('InvalidGguf', message, info.name);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
