import type { DType } from './dtypes.js';
import { CheckpointError } from './errors.js';

/**
 * Decodes little-endian tensor bytes to numbers. Works on any byte offset: a DataView never needs the
 * alignment that `new Float32Array(buffer, offset)` demands.
 *
 * 64-bit integers become the nearest double (exact up to 2^53). C64 yields real and imaginary parts
 * interleaved. Sub-byte MX types (F4, F6) have no agreed element packing, so they are refused by name.
 */
export function decodeValues(bytes: Uint8Array, dtype: DType): Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = elementBytes(dtype, bytes.byteLength);
  const n = bytes.byteLength / size;
  const out = new Float64Array(dtype === 'C64' ? n * 2 : n);
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'C64':
      for (let i = 0; i < n * 2; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToNumber(dv.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToNumber(dv.getUint16(i * 2, true));
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'U64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = bytes[i] as number;
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      break;
    case 'F8_E4M3':
    case 'F8_E5M2':
    case 'F8_E8M0':
    case 'F8_E4M3FNUZ':
    case 'F8_E5M2FNUZ': {
      const table = fp8Table(dtype);
      for (let i = 0; i < n; i++) out[i] = table[bytes[i] as number] as number;
      break;
    }
    case 'F4':
    case 'F6_E2M3':
    case 'F6_E3M2':
      throw new CheckpointError(
        'UnsupportedDtype',
        `decoding ${dtype} values is not supported (packed sub-byte type)`,
      );
  }
  return out;
}

function elementBytes(dtype: DType, byteLength: number): number {
  const size: Record<DType, number> = {
    F64: 8,
    I64: 8,
    U64: 8,
    C64: 8,
    F32: 4,
    I32: 4,
    U32: 4,
    F16: 2,
    BF16: 2,
    I16: 2,
    U16: 2,
    I8: 1,
    U8: 1,
    BOOL: 1,
    F8_E4M3: 1,
    F8_E5M2: 1,
    F8_E8M0: 1,
    F8_E4M3FNUZ: 1,
    F8_E5M2FNUZ: 1,
    F4: 1,
    F6_E2M3: 1,
    F6_E3M2: 1,
  };
  const s = size[dtype];
  if (byteLength % s !== 0) {
    throw new CheckpointError(
      'InvalidRange',
      `${byteLength} bytes is not a whole number of ${dtype} values`,
    );
  }
  return s;
}

export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bfScratch = new DataView(new ArrayBuffer(4));
export function bf16ToNumber(b: number): number {
  bfScratch.setUint32(0, b << 16);
  return bfScratch.getFloat32(0);
}

interface MiniFloat {
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  /** IEEE-like: all-ones exponent is Inf/NaN. */
  readonly ieee: boolean;
  /** "fn": only S.1111.111 is NaN, no infinities (E4M3FN). */
  readonly finiteNanAllOnes: boolean;
  /** "fnuz": 0x80 is the only NaN, no negative zero, no infinities. */
  readonly nanIsNegZero: boolean;
}

const MINIFLOATS: Record<'F8_E4M3' | 'F8_E5M2' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ', MiniFloat> = {
  F8_E4M3: {
    expBits: 4,
    manBits: 3,
    bias: 7,
    ieee: false,
    finiteNanAllOnes: true,
    nanIsNegZero: false,
  },
  F8_E5M2: {
    expBits: 5,
    manBits: 2,
    bias: 15,
    ieee: true,
    finiteNanAllOnes: false,
    nanIsNegZero: false,
  },
  F8_E4M3FNUZ: {
    expBits: 4,
    manBits: 3,
    bias: 8,
    ieee: false,
    finiteNanAllOnes: false,
    nanIsNegZero: true,
  },
  F8_E5M2FNUZ: {
    expBits: 5,
    manBits: 2,
    bias: 16,
    ieee: false,
    finiteNanAllOnes: false,
    nanIsNegZero: true,
  },
};

function decodeMiniFloat(byte: number, f: MiniFloat): number {
  if (f.nanIsNegZero && byte === 0x80) return NaN;
  const sign = byte & 0x80 ? -1 : 1;
  const exp = (byte >> f.manBits) & ((1 << f.expBits) - 1);
  const man = byte & ((1 << f.manBits) - 1);
  const maxExp = (1 << f.expBits) - 1;
  if (f.ieee && exp === maxExp) return man ? NaN : sign * Infinity;
  if (f.finiteNanAllOnes && exp === maxExp && man === (1 << f.manBits) - 1) return NaN;
  if (exp === 0) return sign * (man / (1 << f.manBits)) * 2 ** (1 - f.bias);
  return sign * (1 + man / (1 << f.manBits)) * 2 ** (exp - f.bias);
}

const fp8Tables = new Map<DType, Float64Array>();
function fp8Table(
  dtype: 'F8_E4M3' | 'F8_E5M2' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ',
): Float64Array {
  let table = fp8Tables.get(dtype);
  if (!table) {
    table = new Float64Array(256);
    for (let b = 0; b < 256; b++) {
      // E8M0 is an unsigned power of two (MX block scales); 0xFF is NaN.
      table[b] =
        dtype === 'F8_E8M0'
          ? b === 0xff
            ? NaN
            : 2 ** (b - 127)
          : decodeMiniFloat(b, MINIFLOATS[dtype]);
    }
    fp8Tables.set(dtype, table);
  }
  return table;
}
