/**
 * A dense ΔW [out, inK] (a LoHa / LoKr / full-diff module's effect) as exact-enough LoRA factors:
 * the eigen-decomposition of the Gram of its shorter side gives U and σ, the other side follows as
 * Xᵀ·u / σ. Only modules that can be held whole are converted; the conversion error is measured
 * on the dense matrix it came from.
 */
import { SurgeryError } from './errors.js';
import { symmetricEigen } from '../lora/stats/eigen.js';
import { denseOf, gramRows, transpose, type LowRank } from './lowRank.js';

/** σ below this fraction of σmax are Gram round-off (≈ √ε·σmax), not rank. */
const RANK_TOLERANCE = 1e-7;
/** The Gram side is eigen-decomposed in O(n³): 2048 takes seconds, more takes too long. */
export const MAX_CONVERT_SIDE = 2048;
export const MAX_CONVERT_ELEMENTS = 1 << 26;

export interface Conversion {
  readonly factors: LowRank;
  /** ‖ΔW − B·A‖_F / ‖ΔW‖_F of the conversion itself (0 for a zero module). */
  readonly relativeError: number;
}

/** Factors of `delta` [out, inK] (scale 1) at its numerical rank. */
export function denseToLowRank(
  delta: Float64Array,
  out: number,
  inK: number,
  module: string,
): Conversion {
  const side = Math.min(out, inK);
  if (side > MAX_CONVERT_SIDE || out * inK > MAX_CONVERT_ELEMENTS)
    throw new SurgeryError(
      'TooLargeToConvert',
      `${module}: converting a ${out}×${inK} effect to LoRA factors needs a dense SVD of a ${side}×${side} Gram; the limit is ${MAX_CONVERT_SIDE} (and ${MAX_CONVERT_ELEMENTS} elements)`,
      module,
    );
  // Rows of X [n, m] with n the shorter side: X = ΔW, or ΔWᵀ when inK is shorter.
  const rowsAreOut = out <= inK;
  const x = rowsAreOut ? delta : transpose(delta, out, inK);
  const n = rowsAreOut ? out : inK;
  const m = rowsAreOut ? inK : out;
  const { values, vectors } = symmetricEigen(gramRows(x, n, m), n);
  const order = [...values.keys()].sort((i, j) => (values[j] as number) - (values[i] as number));
  const smax = Math.sqrt(Math.max(0, values[order[0] ?? 0] ?? 0));
  const kept = order.filter(
    (j) => Math.sqrt(Math.max(0, values[j] as number)) > smax * RANK_TOLERANCE,
  );
  const rank = Math.max(1, kept.length);
  // Short side: σ·u (σ rides on B as kohya's split has it); long side: Xᵀ·u / σ.
  const short = new Float64Array(rank * n);
  const long = new Float64Array(rank * m);
  kept.forEach((j, c) => {
    const s = Math.sqrt(values[j] as number);
    for (let i = 0; i < n; i++) short[c * n + i] = vectors[i * n + j] as number;
    for (let i = 0; i < n; i++) {
      const u = short[c * n + i] as number;
      if (u === 0) continue;
      const row = i * m;
      for (let p = 0; p < m; p++)
        long[c * m + p] = (long[c * m + p] as number) + u * (x[row + p] as number);
    }
    for (let p = 0; p < m; p++) long[c * m + p] = (long[c * m + p] as number) / s;
    for (let i = 0; i < n; i++) short[c * n + i] = (short[c * n + i] as number) * s;
  });
  // B is [out, rank]: the transpose of whichever side holds the out dimension.
  const factors: LowRank = rowsAreOut
    ? { out, inK, rank, b: transpose(short, rank, n), a: long, scale: 1 }
    : { out, inK, rank, b: transpose(long, rank, m), a: short, scale: 1 };
  const rebuilt = denseOf(factors);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < delta.length; i++) {
    const d = delta[i] as number;
    norm += d * d;
    diff += (d - (rebuilt[i] as number)) ** 2;
  }
  return { factors, relativeError: norm > 0 ? Math.sqrt(diff / norm) : 0 };
}
