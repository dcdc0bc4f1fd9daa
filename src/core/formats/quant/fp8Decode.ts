/**
 * FP8 bytes → float32 through a 256-entry table built once per dtype from decode.ts (the one place the
 * minifloat rules live). Every FP8 value is exact in float32.
 */
import { decodeValues } from '../decode.js';

export type Fp8Dtype = 'F8_E4M3' | 'F8_E5M2';

export const FP8_WEIGHT_DTYPES: ReadonlySet<string> = new Set<Fp8Dtype>(['F8_E4M3', 'F8_E5M2']);

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const tables = new Map<Fp8Dtype, Float32Array>();

export function fp8Table(dtype: Fp8Dtype): Float32Array {
  let table = tables.get(dtype);
  if (!table) {
    table = Float32Array.from(decodeValues(ALL_BYTES, dtype));
    tables.set(dtype, table);
  }
  return table;
}
