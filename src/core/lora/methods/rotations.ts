/**
 * Small dense float64 helpers for the rotation methods (OFT, BOFT): skew-symmetric blocks, the
 * Cayley transform and its Neumann series, and the config reads they share. Square b×b matrices are
 * row-major Float64Arrays.
 */
import type { PlainObject } from '../checkpointFacts.js';
import { numberOf } from '../checkpointFacts.js';

/** b with b·(b−1)/2 = n (the side of a packed strict upper triangle), or null. */
export function triangleSide(n: number): number | null {
  const b = Math.round((1 + Math.sqrt(1 + 8 * n)) / 2);
  return b >= 1 && (b * (b - 1)) / 2 === n ? b : null;
}

/**
 * Q − Qᵀ from a packed strict upper triangle (torch.triu_indices(b, b, 1) order: row by row),
 * as PEFT's OFT stores it in `oft_R.weight`.
 */
export function skewFromPacked(vec: Float64Array, offset: number, b: number): Float64Array {
  const q = new Float64Array(b * b);
  let k = offset;
  for (let i = 0; i < b; i++)
    for (let j = i + 1; j < b; j++) {
      const v = vec[k++] as number;
      q[i * b + j] = v;
      q[j * b + i] = -v;
    }
  return q;
}

/** ½(M − Mᵀ): the skew part of a full block (BOFT and old OFT store full blocks). */
export function skewPart(m: Float64Array, offset: number, b: number): Float64Array {
  const q = new Float64Array(b * b);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < b; j++)
      q[i * b + j] = 0.5 * ((m[offset + i * b + j] as number) - (m[offset + j * b + i] as number));
  return q;
}

export function matmulSquare(a: Float64Array, c: Float64Array, b: number): Float64Array {
  const out = new Float64Array(b * b);
  for (let i = 0; i < b; i++)
    for (let k = 0; k < b; k++) {
      const v = a[i * b + k] as number;
      if (v === 0) continue;
      for (let j = 0; j < b; j++)
        out[i * b + j] = (out[i * b + j] as number) + v * (c[k * b + j] as number);
    }
  return out;
}

export function transposeSquare(m: Float64Array, b: number): Float64Array {
  const t = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) t[j * b + i] = m[i * b + j] as number;
  return t;
}

/** M⁻¹ by Gauss–Jordan with partial pivoting; null when M is singular. */
export function invertSquare(m: Float64Array, b: number): Float64Array | null {
  const a = Float64Array.from(m);
  const inv = new Float64Array(b * b);
  for (let i = 0; i < b; i++) inv[i * b + i] = 1;
  for (let col = 0; col < b; col++) {
    let pivot = col;
    for (let r = col + 1; r < b; r++)
      if (Math.abs(a[r * b + col] as number) > Math.abs(a[pivot * b + col] as number)) pivot = r;
    const p = a[pivot * b + col] as number;
    if (!Number.isFinite(p) || Math.abs(p) < 1e-300) return null;
    if (pivot !== col)
      for (let j = 0; j < b; j++) {
        swap(a, col * b + j, pivot * b + j);
        swap(inv, col * b + j, pivot * b + j);
      }
    for (let j = 0; j < b; j++) {
      a[col * b + j] = (a[col * b + j] as number) / p;
      inv[col * b + j] = (inv[col * b + j] as number) / p;
    }
    for (let r = 0; r < b; r++) {
      const f = a[r * b + col] as number;
      if (r === col || f === 0) continue;
      for (let j = 0; j < b; j++) {
        a[r * b + j] = (a[r * b + j] as number) - f * (a[col * b + j] as number);
        inv[r * b + j] = (inv[r * b + j] as number) - f * (inv[col * b + j] as number);
      }
    }
  }
  return inv;
}

function swap(v: Float64Array, i: number, j: number): void {
  const t = v[i] as number;
  v[i] = v[j] as number;
  v[j] = t;
}

/**
 * The exact Cayley transform as PEFT writes it, torch.linalg.solve(I + Q, I − Q, left=False):
 * R = (I − Q)(I + Q)⁻¹. I + Q is invertible for a skew Q; null only for non-finite input.
 */
export function cayleyExact(q: Float64Array, b: number): Float64Array | null {
  const plus = Float64Array.from(q);
  const minus = new Float64Array(b * b);
  for (let i = 0; i < b * b; i++) minus[i] = -(q[i] as number);
  for (let i = 0; i < b; i++) {
    plus[i * b + i] = (plus[i * b + i] as number) + 1;
    minus[i * b + i] = (minus[i * b + i] as number) + 1;
  }
  const inv = invertSquare(plus, b);
  return inv ? matmulSquare(minus, inv, b) : null;
}

/**
 * Which truncated Neumann series of (I + Q)(I − Q)⁻¹ PEFT used: since 0.18 the last power gets
 * weight 1 (I + 2Q + … + 2Q^(n−2) + Q^(n−1)); 0.15–0.17 weighted every power 2 up to Q^(n−1).
 */
export type NeumannSeries = 'peft-0.18' | 'peft-0.15';

export function cayleyNeumann(
  q: Float64Array,
  b: number,
  terms: number,
  series: NeumannSeries,
): Float64Array {
  const r = new Float64Array(b * b);
  for (let i = 0; i < b; i++) r[i * b + i] = 1;
  const add = (m: Float64Array, f: number): void => {
    for (let i = 0; i < r.length; i++) r[i] = (r[i] as number) + f * (m[i] as number);
  };
  if (terms <= 1) return r;
  add(q, 2);
  if (terms <= 2) return r;
  let power = matmulSquare(q, q, b);
  add(power, 2);
  if (series === 'peft-0.15') {
    for (let k = 3; k < terms; k++) {
      power = matmulSquare(power, q, b);
      add(power, 2);
    }
    return r;
  }
  // PEFT ≥ 0.18 (tuners/oft/layer.py _cayley_batch): powers 3 … n−2 weigh 2, one more power weighs 1.
  for (let k = 3; k < terms - 1; k++) {
    power = matmulSquare(power, q, b);
    add(power, 2);
  }
  add(matmulSquare(power, q, b), 1);
  return r;
}

/** Frobenius norm of a b×b block. */
export function frobenius(m: Float64Array): number {
  let s = 0;
  for (const v of m) s += v * v;
  return Math.sqrt(s);
}

/** A config number, `fallback` when absent or not a number. */
export function configNumber(cfg: PlainObject | null, key: string, fallback: number): number {
  return numberOf(cfg?.[key]) ?? fallback;
}

/** A config boolean, `fallback` when absent or not a boolean. */
export function configBool(cfg: PlainObject | null, key: string, fallback: boolean): boolean {
  const v = cfg?.[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** A setting read back from LoraModule.method.settings. */
export function settingNumber(
  s: Readonly<Record<string, number | string | boolean | null>> | undefined,
  key: string,
  fallback: number,
): number {
  const v = s?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

export function settingBool(
  s: Readonly<Record<string, number | string | boolean | null>> | undefined,
  key: string,
  fallback: boolean,
): boolean {
  const v = s?.[key];
  return typeof v === 'boolean' ? v : fallback;
}
