import type { TensorConsumer, TensorInfo } from '../checkpoint.js';
import { CheckpointError, type ReaderErrorCode } from '../errors.js';
import { checkRelativePath } from '../files.js';
import {
  STRING_DATA,
  onnxDataType,
  rawByteLength,
  typedEntryCount,
  type OnnxDataType,
} from './dataTypes.js';
import type { InitializerRecord } from './walkTensor.js';

/** Where one tensor's bytes are, beyond what TensorInfo says. */
export type TensorStorage =
  /** raw_data in the model file, at TensorInfo.offset. */
  | { readonly kind: 'inline' }
  /** Bytes in TensorInfo.file at TensorInfo.offset; `problem` is set when they cannot be read. */
  | { readonly kind: 'external'; problem?: { code: ReaderErrorCode; message: string } }
  /** Values in a typed field (float_data, int32_data, …) of the TensorProto. */
  | { readonly kind: 'typed'; readonly record: InitializerRecord; readonly type: OnnxDataType }
  /** No elements, no data. */
  | { readonly kind: 'empty' }
  | { readonly kind: 'unreadable'; readonly code: ReaderErrorCode; readonly reason: string };

export interface LaidOutTensor {
  readonly info: TensorInfo;
  readonly storage: TensorStorage;
  /** Something the user should know that does not stop the model from opening. */
  readonly warning?: string;
}

const DATA_LOCATION_DEFAULT = 0;
const DATA_LOCATION_EXTERNAL = 1;

const invalid = (message: string, subject: string) =>
  new CheckpointError('InvalidOnnx', message, subject);

function elementCount(rec: InitializerRecord): number {
  let n = 1n;
  for (const d of rec.dims) n *= BigInt(d);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(
      'LimitExceeded',
      `tensor "${rec.name}" has ${n} elements (shape [${rec.dims.join(', ')}]), too many to handle`,
      rec.name,
    );
  }
  return Number(n);
}

function byteLengthOf(rec: InitializerRecord, type: OnnxDataType, elements: number): number {
  const bytes = (BigInt(elements) * BigInt(type.bits) + 7n) / 8n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(
      'LimitExceeded',
      `tensor "${rec.name}" would take ${bytes} bytes, too many to handle`,
      rec.name,
    );
  }
  return rawByteLength(type, elements);
}

/** A non-negative decimal integer string from external_data, as a safe integer. */
function externalInteger(value: string, key: string, name: string): number {
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw invalid(
      `tensor "${name}" has external_data ${key} "${value.slice(0, 40)}"; it must be a non-negative integer below 2^53`,
      name,
    );
  }
  return n;
}

function external(
  rec: InitializerRecord,
  expectedBytes: number | undefined,
  folderLabel: string,
): { file: string; offset: number; length: number } {
  const entries = new Map(rec.external);
  const location = entries.get('location');
  if (location === undefined || location === '') {
    throw invalid(`tensor "${rec.name}" is stored externally but names no location`, rec.name);
  }
  const file = checkRelativePath(location, folderLabel);
  const offsetText = entries.get('offset');
  const lengthText = entries.get('length');
  const offset = offsetText === undefined ? 0 : externalInteger(offsetText, 'offset', rec.name);
  const length =
    lengthText === undefined ? expectedBytes : externalInteger(lengthText, 'length', rec.name);
  if (length === undefined) {
    throw invalid(`tensor "${rec.name}" has an unknown data type and no external length`, rec.name);
  }
  if (expectedBytes !== undefined && length !== expectedBytes) {
    throw invalid(
      `tensor "${rec.name}" has external length ${length}, but its type and shape need ${expectedBytes} bytes`,
      rec.name,
    );
  }
  if (!Number.isSafeInteger(offset + length)) {
    throw invalid(`tensor "${rec.name}" has an external range past 2^53`, rec.name);
  }
  return { file, offset, length };
}

/** Checks the typed-field counts against the shape without decoding any value. */
function checkTypedCounts(rec: InitializerRecord, type: OnnxDataType, elements: number): void {
  if (rec.typedField !== type.typedField) {
    throw invalid(
      `tensor "${rec.name}" (${type.onnxName}) stores its values in TensorProto field ${rec.typedField}, which that type may not use`,
      rec.name,
    );
  }
  const expected = typedEntryCount(type, elements);
  const least = rec.typedEntries + Math.ceil(rec.typedVarintBytes / 10);
  const most = rec.typedEntries + rec.typedVarintBytes;
  if (expected < least || expected > most) {
    const held = least === most ? `${least}` : `${least} to ${most}`;
    throw invalid(
      `tensor "${rec.name}" (${type.onnxName}[${rec.dims.join(', ')}]) needs ${expected} typed values but holds ${held}`,
      rec.name,
    );
  }
}

/** Turns a walked TensorProto into a TensorInfo and the storage to read it from. */
export function layOutTensor(
  rec: InitializerRecord,
  consumers: readonly TensorConsumer[],
  folderLabel: string,
): LaidOutTensor {
  const { name } = rec;
  const type = onnxDataType(rec.dataType);
  if (rec.dataType === 0) throw invalid(`tensor "${name}" has no data_type`, name);
  if (rec.dataLocation !== DATA_LOCATION_DEFAULT && rec.dataLocation !== DATA_LOCATION_EXTERNAL) {
    throw invalid(`tensor "${name}" has the unknown data_location ${rec.dataLocation}`, name);
  }
  const elements = elementCount(rec);
  const expectedBytes = type && type.bits > 0 ? byteLengthOf(rec, type, elements) : undefined;
  const base = {
    name,
    dtype: type?.dtype ?? `ONNX_TYPE_${rec.dataType}`,
    shape: rec.dims,
    parameterCount: elements,
    consumers,
  };
  const unknownType = type
    ? undefined
    : `tensor "${name}" has the data type ${rec.dataType}, which this version does not know`;
  if (rec.segmented) {
    return {
      info: { ...base, offset: -1, byteLength: expectedBytes ?? 0 },
      storage: { kind: 'unreadable', code: 'UnsupportedFormat', reason: 'segmented tensors' },
      warning: `tensor "${name}" is stored in segments, which LoRA Lens cannot read`,
    };
  }
  if (rec.dataLocation === DATA_LOCATION_EXTERNAL) {
    if (type?.code === 8)
      throw invalid(`STRING tensor "${name}" cannot be stored externally`, name);
    const { file, offset, length } = external(rec, expectedBytes, folderLabel);
    return {
      info: { ...base, offset, byteLength: length, file },
      storage: { kind: 'external' },
      ...(unknownType ? { warning: unknownType } : {}),
    };
  }
  if (rec.raw) {
    if (type?.code === 8) throw invalid(`STRING tensor "${name}" cannot use raw_data`, name);
    if (expectedBytes !== undefined && rec.raw.length !== expectedBytes) {
      throw invalid(
        `tensor "${name}" has ${rec.raw.length} bytes of raw_data, but ${type?.onnxName}[${rec.dims.join(', ')}] needs ${expectedBytes}`,
        name,
      );
    }
    return {
      info: { ...base, offset: rec.raw.offset, byteLength: rec.raw.length },
      storage: { kind: 'inline' },
      ...(unknownType ? { warning: unknownType } : {}),
    };
  }
  if (rec.typedField !== undefined) {
    if (!type) {
      return {
        info: { ...base, offset: -1, byteLength: 0 },
        storage: { kind: 'unreadable', code: 'UnsupportedDtype', reason: 'an unknown data type' },
        warning: unknownType,
      };
    }
    checkTypedCounts(rec, type, elements);
    if (rec.typedField === STRING_DATA) {
      return {
        info: { ...base, offset: -1, byteLength: rec.stringBytes },
        storage: { kind: 'unreadable', code: 'UnsupportedDtype', reason: 'STRING tensors' },
      };
    }
    return {
      info: { ...base, offset: -1, byteLength: expectedBytes ?? 0 },
      storage: { kind: 'typed', record: rec, type },
    };
  }
  if (elements !== 0) {
    throw invalid(`tensor "${name}" has ${elements} elements but no data`, name);
  }
  return { info: { ...base, offset: -1, byteLength: 0 }, storage: { kind: 'empty' } };
}
