/**
 * Numbers → F8_E4M3 (OCP E4M3FN, torch.float8_e4m3fn) bytes: 4 exponent bits (bias 7), 3 mantissa
 * bits, no infinities, S.1111.111 is NaN, largest finite 448. Rounds to nearest, ties to even, as
 * torch's cast does; |v| ≥ 464 (past the midpoint above 448) has no finite code and is refused by
 * the caller (torch would give NaN).
 */

/** The 127 non-negative finite values, index = code (0x00 … 0x7E), ascending. */
const E4M3_VALUES: Float64Array = (() => {
  const v = new Float64Array(0x7f);
  for (let code = 0; code < 0x7f; code++) {
    const exp = code >> 3;
    const man = code & 7;
    v[code] = exp === 0 ? (man / 8) * 2 ** -6 : (1 + man / 8) * 2 ** (exp - 7);
  }
  return v;
})();

export const F8_E4M3_MAX = 448;
/** Values at or beyond this magnitude do not round to a finite E4M3 value. */
export const F8_E4M3_OVERFLOW = 464;

/** The E4M3 code of `v`, or -1 when |v| ≥ 464 or v is NaN (no finite code). */
export function numberToE4M3(v: number): number {
  if (Number.isNaN(v)) return -1;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= F8_E4M3_OVERFLOW) return -1;
  if (a >= F8_E4M3_MAX) return sign | 0x7e;
  // Largest code whose value is ≤ a (binary search over the ascending table).
  let lo = 0;
  let hi = 0x7e;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((E4M3_VALUES[mid] as number) <= a) lo = mid;
    else hi = mid - 1;
  }
  const below = E4M3_VALUES[lo] as number;
  if (below === a || lo === 0x7e) return sign | lo;
  const above = E4M3_VALUES[lo + 1] as number;
  const dLo = a - below;
  const dHi = above - a;
  const code = dLo < dHi ? lo : dHi < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | code;
}

/** The value an E4M3 code stands for (finite codes only). */
export function e4m3ToNumber(code: number): number {
  const v = E4M3_VALUES[code & 0x7f] ?? Number.NaN;
  return code & 0x80 ? -v : v;
}

/** Encodes values as E4M3 bytes; returns the index of the first value without a finite code, or -1. */
export function encodeE4M3(values: ArrayLike<number>, out: Uint8Array): number {
  for (let i = 0; i < values.length; i++) {
    const c = numberToE4M3(values[i] as number);
    if (c < 0) return i;
    out[i] = c;
  }
  return -1;
}
