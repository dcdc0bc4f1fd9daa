/**
 * Element types of safetensors (enum Dtype in safetensors/src/tensor.rs). The crate marks the enum
 * non-exhaustive, so an unknown name is an error, never a guess.
 */
export const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type DType = keyof typeof DTYPE_BITS;

export const DTYPES = Object.keys(DTYPE_BITS) as DType[];

export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BITS, name);
}

export function dtypeBits(dtype: DType): number {
  return DTYPE_BITS[dtype];
}

/** Byte length of `elements` values, or undefined when they do not fill whole bytes. */
export function byteLengthOf(dtype: DType, elements: number): number | undefined {
  const bits = BigInt(elements) * BigInt(DTYPE_BITS[dtype]);
  if (bits % 8n !== 0n) return undefined;
  return Number(bits / 8n);
}
