/**
 * Storing factors in a smaller dtype, and what it costs: the stored bytes of B [out, k] and A [k, inK]
 * and ‖ΔW_cast − ΔW‖_F / ‖ΔW‖_F, computed from factors only: B̃Ã − BA = δB·A + B̃·δA is itself a
 * rank-2k product [δB, B̃]·[A; δA], whose norm comes from 2k×2k Grams with no cancellation.
 * F8_E4M3 has 18 binades and nothing below 2⁻⁹, so each factor is first scaled by a power of two
 * that puts its largest value just under 448; the module's scale takes the inverse (exact in binary).
 */
import { decodeFloats } from './floatBytes.js';
import { encodeFloats } from '../formats/encode.js';
import { encodeE4M3, F8_E4M3_MAX } from '../formats/encodeF8.js';
import { SurgeryError } from './errors.js';
import {
  crossGram,
  frobeniusNorm,
  gramRows,
  traceOfProduct,
  transpose,
  type LowRank,
} from './lowRank.js';

export type StoreDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3';

const LIMITS: Record<StoreDtype, number> = {
  F32: 3.4028234663852886e38,
  F16: 65504,
  BF16: 3.3895313892515355e38,
  F8_E4M3: F8_E4M3_MAX,
};

export const STORE_BYTES: Record<StoreDtype, number> = { F32: 4, F16: 2, BF16: 2, F8_E4M3: 1 };

/** Encodes values as the stored dtype; a value past the dtype's range is a named error. */
export function encodeStored(values: Float64Array, dtype: StoreDtype, tensor: string): Uint8Array {
  if (dtype === 'F8_E4M3') {
    const out = new Uint8Array(values.length);
    const bad = encodeE4M3(values, out);
    if (bad >= 0) throw overflow(values[bad] as number, dtype, tensor);
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v) || Math.abs(v) > LIMITS[dtype]) throw overflow(v, dtype, tensor);
  }
  return encodeFloats(values, dtype);
}

function overflow(v: number, dtype: StoreDtype, tensor: string): SurgeryError {
  return new SurgeryError(
    'CastOverflow',
    `${tensor}: the value ${v} does not fit ${dtype} (largest ${LIMITS[dtype]}); nothing was written`,
    tensor,
  );
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/** 2^e with |x·2^e| ≤ 448 and e as large as that allows (1 for a zero factor). */
function f8Exponent(x: Float64Array): number {
  const m = maxAbs(x);
  if (m === 0) return 0;
  return Math.floor(Math.log2(F8_E4M3_MAX / m));
}

function scaled(x: Float64Array, e: number): Float64Array {
  if (e === 0) return x;
  const f = 2 ** e;
  return x.map((v) => v * f);
}

/** The Gram of [X; Y] (X, Y [k, n]) as 2k×2k, from X·Xᵀ, X·Yᵀ and Y·Yᵀ. */
function stackedGram(x: Float64Array, y: Float64Array, k: number, n: number): Float64Array {
  const xx = gramRows(x, k, n);
  const xy = crossGram(x, k, y, k, n);
  const yy = gramRows(y, k, n);
  const m = 2 * k;
  const g = new Float64Array(m * m);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      g[i * m + j] = xx[i * k + j] as number;
      g[(k + i) * m + k + j] = yy[i * k + j] as number;
      // The lower block mirrors the upper one, as a symmetric Gram of the stack does.
      g[i * m + k + j] = xy[i * k + j] as number;
      g[(k + j) * m + i] = xy[i * k + j] as number;
    }
  return g;
}

export interface CastModule {
  /** The factors as stored (after any power-of-two scaling), B row-major [out, k], A [k, inK]. */
  readonly upBytes: Uint8Array;
  readonly downBytes: Uint8Array;
  /** The scale the stored factors need (the input scale, times 2^-(eA+eB) for F8). */
  readonly scale: number;
  /** ‖ΔW_stored − ΔW‖_F / ‖ΔW‖_F; 0 for a zero module. */
  readonly relativeError: number;
}

/**
 * Casts a module's factors; `rescale` false keeps the scale as it is (no F8 power-of-two scaling).
 * `norm` is ‖ΔW‖_F when the caller knows it (from σ), saving a Gram.
 */
export function castModule(
  f: LowRank,
  dtype: StoreDtype,
  name: string,
  rescale = true,
  norm?: number,
): CastModule {
  const eB = rescale && dtype === 'F8_E4M3' ? f8Exponent(f.b) : 0;
  const eA = rescale && dtype === 'F8_E4M3' ? f8Exponent(f.a) : 0;
  const b = scaled(f.b, eB);
  const a = scaled(f.a, eA);
  const scale = f.scale * 2 ** -(eA + eB);
  const upBytes = encodeStored(b, dtype, `${name} (up)`);
  const downBytes = encodeStored(a, dtype, `${name} (down)`);
  const bBack = decodeFloats(upBytes, dtype);
  const aBack = decodeFloats(downBytes, dtype);
  const k = f.rank;
  // [δB, B̃] and [A; δA]: the left factor is taken transposed ([2k, out]) so both Grams are
  // dot products of contiguous rows. Each Gram is assembled from its k×k blocks (the same sums,
  // bit for bit), so the stacked 2k-row matrices are never allocated.
  const storedT = transpose(bBack, f.out, k);
  const deltaBT = transpose(b, f.out, k);
  for (let i = 0; i < deltaBT.length; i++)
    deltaBT[i] = (storedT[i] as number) - (deltaBT[i] as number);
  const deltaA = aBack;
  for (let i = 0; i < a.length; i++) deltaA[i] = (aBack[i] as number) - (a[i] as number);
  const errSquared =
    scale *
    scale *
    traceOfProduct(stackedGram(deltaBT, storedT, k, f.out), stackedGram(a, deltaA, k, f.inK));
  const err = Math.sqrt(Math.max(0, errSquared));
  const whole = norm ?? frobeniusNorm({ ...f, b, a, scale });
  return { upBytes, downBytes, scale, relativeError: whole > 0 ? err / whole : 0 };
}
