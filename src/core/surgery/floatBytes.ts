/**
 * Fast float decoding for the surgery's own reads: 65,536-entry tables for F16 and BF16 (the shared
 * decoder converts one value at a time, which dominates a 7B resize), a typed-array copy for F32.
 * Other dtypes go through the shared decoder.
 */
import { decodeValues, halfToNumber, bf16ToNumber } from '../formats/decode.js';
import { isDType } from '../formats/dtypes.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Float32 tables: every F16 and BF16 value is exact in F32, and half the table stays in cache.
let f16Table: Float32Array | undefined;
let bf16Table: Float32Array | undefined;

function table(kind: 'F16' | 'BF16'): Float32Array {
  if (kind === 'F16')
    return (f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => halfToNumber(h)));
  return (bf16Table ??= Float32Array.from({ length: 65536 }, (_, h) => bf16ToNumber(h)));
}

export function decodeFloats(bytes: Uint8Array, dtype: string): Float64Array {
  const n = bytes.length;
  if (dtype === 'F16' || dtype === 'BF16') {
    const t = table(dtype);
    const out = new Float64Array(n / 2);
    // A 16-bit view reads each index in one load (little-endian hosts, as the files are).
    if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
      const h = new Uint16Array(bytes.buffer, bytes.byteOffset, n / 2);
      for (let i = 0; i < h.length; i++) out[i] = t[h[i] as number] as number;
      return out;
    }
    for (let i = 0, j = 0; j < n; i++, j += 2)
      out[i] = t[(bytes[j] as number) | ((bytes[j + 1] as number) << 8)] as number;
    return out;
  }
  if (dtype === 'F32') {
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    return Float64Array.from(new Float32Array(aligned.buffer, aligned.byteOffset, n / 4));
  }
  if (!isDType(dtype)) throw new Error(`decodeFloats: ${dtype} is not a safetensors dtype`);
  return decodeValues(bytes, dtype);
}
