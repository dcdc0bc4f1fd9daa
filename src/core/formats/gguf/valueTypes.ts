/** GGUF metadata value types (ggml-org/ggml docs/gguf.md, enum gguf_metadata_value_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

const NAMES = Object.fromEntries(Object.entries(GgufValueType).map(([k, v]) => [v, k])) as Record<
  GgufValueType,
  string
>;

/** Short words for descriptions of arrays: "[array of 300 f32]". */
const WORDS: Record<GgufValueType, string> = {
  0: 'u8',
  1: 'i8',
  2: 'u16',
  3: 'i16',
  4: 'u32',
  5: 'i32',
  6: 'f32',
  7: 'bools',
  8: 'strings',
  9: 'arrays',
  10: 'u64',
  11: 'i64',
  12: 'f64',
};

/** Bytes of one value of a fixed-size type; undefined for strings and arrays. */
const FIXED_SIZES: Partial<Record<GgufValueType, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

export function isGgufValueType(n: number): n is GgufValueType {
  return Number.isInteger(n) && n >= 0 && n <= 12;
}

export function valueTypeName(type: GgufValueType): string {
  return NAMES[type];
}

export function valueTypeWord(type: GgufValueType): string {
  return WORDS[type];
}

export function fixedSize(type: GgufValueType): number | undefined {
  return FIXED_SIZES[type];
}
