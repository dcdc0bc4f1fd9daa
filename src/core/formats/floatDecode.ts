/**
 * Tensor bytes → Float32Array, fast. `decodeValues` (formats/decode.ts) is general and exact but goes
 * through a DataView and a Float64Array; the smoke test decodes whole Llama-sized weights (45 M values)
 * per module, so the float types it feeds to ORT get typed-array paths here: F32 is a view when
 * aligned, F16 a 65,536-entry lookup table, BF16 a 16-bit shift into a Uint32Array view.
 */
import { endianness } from 'node:os';
import { halfToNumber } from './decode.js';

/** dtypes the smoke test can feed (everything else is skipped with a reason). */
export const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

const LITTLE = endianness() === 'LE';

let halfTable: Float32Array | null = null;
function halfLookup(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToNumber(h);
  }
  return halfTable;
}

/** Copies `bytes` into a fresh buffer so typed views of any element size are aligned. */
function aligned(bytes: Uint8Array, size: number): Uint8Array {
  return bytes.byteOffset % size === 0 ? bytes : bytes.slice();
}

function u16(bytes: Uint8Array): Uint16Array {
  const b = aligned(bytes, 2);
  return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
}

/**
 * One reusable float32 buffer: decoding every module's weight into the same memory spares the
 * allocator and the page faults of a fresh 180 MB array per Llama MLP weight, and keeps RSS flat.
 */
export class Float32Scratch {
  private buffer = new Float32Array(0);
  private raw = new Uint8Array(0);

  /** A reusable byte buffer for the file reads that feed `take` (valid until the next call). */
  bytes(n: number): Uint8Array {
    if (this.raw.length < n) {
      this.raw = new Uint8Array(0);
      this.raw = new Uint8Array(n);
    }
    return this.raw.subarray(0, n);
  }

  /** A view of `n` elements; valid until the next call. */
  take(n: number): Float32Array {
    if (this.buffer.length < n) {
      this.buffer = new Float32Array(0); // let the old one go before the new one is allocated
      this.buffer = new Float32Array(n);
    }
    return this.buffer.subarray(0, n);
  }
}

/** Bytes per element of the dtypes `toFloat32` reads. */
export function floatBytes(dtype: string): number {
  return dtype === 'F64' ? 8 : dtype === 'F32' ? 4 : 2;
}

/**
 * Decodes F32 / F16 / BF16 / F64 little-endian bytes into `out` (exactly as many elements). Throws on
 * any other dtype: check `FLOAT_DTYPES` first.
 */
export function decodeInto(bytes: Uint8Array, dtype: string, out: Float32Array): void {
  if (!LITTLE) {
    out.set(bigEndianHost(bytes, dtype));
    return;
  }
  switch (dtype) {
    case 'F32': {
      const b = aligned(bytes, 4);
      out.set(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
      return;
    }
    case 'F16': {
      const src = u16(bytes);
      const table = halfLookup();
      const n = src.length;
      for (let i = 0; i < n; i++) out[i] = table[src[i] as number] as number;
      return;
    }
    case 'BF16': {
      const src = u16(bytes);
      const n = src.length;
      // Int32, not Uint32: `<< 16` yields a signed int, and storing it needs no conversion.
      const bits = new Int32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = (src[i] as number) << 16;
      return;
    }
    case 'F64': {
      const b = aligned(bytes, 8);
      out.set(new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8));
      return;
    }
    default:
      throw new Error(`cannot decode ${dtype} to float32`);
  }
}

/**
 * Decodes F32 / F16 / BF16 / F64 little-endian bytes. F32 input that is already aligned is returned as
 * a view without copying (callers must not write to it). Throws on any other dtype.
 */
export function toFloat32(bytes: Uint8Array, dtype: string): Float32Array {
  if (LITTLE && dtype === 'F32') {
    const b = aligned(bytes, 4);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }
  if (!FLOAT_DTYPES.has(dtype)) throw new Error(`cannot decode ${dtype} to float32`);
  const out = new Float32Array(bytes.byteLength / floatBytes(dtype));
  decodeInto(bytes, dtype, out);
  return out;
}

/** The slow, portable path: no platform LoRA Lens ships on is big-endian, but be right anyway. */
function bigEndianHost(bytes: Uint8Array, dtype: string): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = floatBytes(dtype);
  const n = bytes.byteLength / size;
  const out = new Float32Array(n);
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < n; i++) {
    if (dtype === 'F64') out[i] = dv.getFloat64(i * 8, true);
    else if (dtype === 'F32') out[i] = dv.getFloat32(i * 4, true);
    else if (dtype === 'F16') out[i] = halfToNumber(dv.getUint16(i * 2, true));
    else if (dtype === 'BF16') {
      scratch.setUint32(0, dv.getUint16(i * 2, true) << 16);
      out[i] = scratch.getFloat32(0);
    } else throw new Error(`cannot decode ${dtype} to float32`);
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[off + c] as number;
  }
  return out;
}

/** Columns [start, end) of a row-major [rows, cols] matrix. */
export function sliceColumns(
  data: Float32Array,
  rows: number,
  cols: number,
  start: number,
  end: number,
): Float32Array {
  const w = end - start;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + start, r * cols + end), r * w);
  return out;
}
