/** TensorProto fields that hold values when raw_data is not used (onnx/onnx.proto). */
export const FLOAT_DATA = 4;
export const INT32_DATA = 5;
export const STRING_DATA = 6;
export const INT64_DATA = 7;
export const DOUBLE_DATA = 10;
export const UINT64_DATA = 11;

export const TYPED_DATA_FIELDS: ReadonlySet<number> = new Set([
  FLOAT_DATA,
  INT32_DATA,
  STRING_DATA,
  INT64_DATA,
  DOUBLE_DATA,
  UINT64_DATA,
]);

export interface OnnxDataType {
  readonly code: number;
  readonly onnxName: string;
  /** A safetensors dtype name where one exists, else the ONNX name. */
  readonly dtype: string;
  /** Bits per element; 0 for STRING (variable length). */
  readonly bits: number;
  /** The typed field that may hold the values instead of raw_data. */
  readonly typedField: number;
}

// [code, ONNX name, our dtype, bits, typed field]. ONNX 1.19 (IR 12) adds codes up to 28.
const TABLE: readonly (readonly [number, string, string, number, number])[] = [
  [1, 'FLOAT', 'F32', 32, FLOAT_DATA],
  [2, 'UINT8', 'U8', 8, INT32_DATA],
  [3, 'INT8', 'I8', 8, INT32_DATA],
  [4, 'UINT16', 'U16', 16, INT32_DATA],
  [5, 'INT16', 'I16', 16, INT32_DATA],
  [6, 'INT32', 'I32', 32, INT32_DATA],
  [7, 'INT64', 'I64', 64, INT64_DATA],
  [8, 'STRING', 'STRING', 0, STRING_DATA],
  [9, 'BOOL', 'BOOL', 8, INT32_DATA],
  [10, 'FLOAT16', 'F16', 16, INT32_DATA],
  [11, 'DOUBLE', 'F64', 64, DOUBLE_DATA],
  [12, 'UINT32', 'U32', 32, UINT64_DATA],
  [13, 'UINT64', 'U64', 64, UINT64_DATA],
  [14, 'COMPLEX64', 'C64', 64, FLOAT_DATA],
  [15, 'COMPLEX128', 'COMPLEX128', 128, DOUBLE_DATA],
  [16, 'BFLOAT16', 'BF16', 16, INT32_DATA],
  [17, 'FLOAT8E4M3FN', 'F8_E4M3', 8, INT32_DATA],
  [18, 'FLOAT8E4M3FNUZ', 'F8_E4M3FNUZ', 8, INT32_DATA],
  [19, 'FLOAT8E5M2', 'F8_E5M2', 8, INT32_DATA],
  [20, 'FLOAT8E5M2FNUZ', 'F8_E5M2FNUZ', 8, INT32_DATA],
  [21, 'UINT4', 'UINT4', 4, INT32_DATA],
  [22, 'INT4', 'INT4', 4, INT32_DATA],
  [23, 'FLOAT4E2M1', 'F4', 4, INT32_DATA],
  [24, 'FLOAT8E8M0', 'F8_E8M0', 8, INT32_DATA],
  [25, 'UINT2', 'UINT2', 2, INT32_DATA],
  [26, 'INT2', 'INT2', 2, INT32_DATA],
  [27, 'FLOAT6E2M3', 'F6_E2M3', 6, INT32_DATA],
  [28, 'FLOAT6E3M2', 'F6_E3M2', 6, INT32_DATA],
];

const BY_CODE = new Map<number, OnnxDataType>(
  TABLE.map(([code, onnxName, dtype, bits, typedField]) => [
    code,
    { code, onnxName, dtype, bits, typedField },
  ]),
);

export function onnxDataType(code: number): OnnxDataType | undefined {
  return BY_CODE.get(code);
}

/**
 * Entries of the typed field for `elements` values. int32_data packs two 4-bit or four 2-bit values
 * per entry (one byte of raw_data); complex numbers take two entries.
 */
export function typedEntryCount(type: OnnxDataType, elements: number): number {
  if (type.bits === 4) return Math.ceil(elements / 2);
  if (type.bits === 2) return Math.ceil(elements / 4);
  if (type.code === 14 || type.code === 15) return elements * 2;
  return elements;
}

/** Bytes of `elements` values packed as raw_data: sub-byte types pack LSB first. */
export function rawByteLength(type: OnnxDataType, elements: number): number {
  return Math.ceil((elements * type.bits) / 8);
}
