/**
 * Truncated SVD of ΔW = B·A through r×r work only. With the Grams G_A = A·Aᵀ = V_A·Λ_A·V_Aᵀ and
 * G_B = BᵀB = V_B·Λ_B·V_Bᵀ, Q_A = Aᵀ·V_A·Λ_A^-½ and Q_B = B·V_B·Λ_B^-½ have orthonormal columns
 * (a thin QR of Aᵀ and B, with R = Λ^½·Vᵀ), and B·A = Q_B·M·Q_Aᵀ with the small core
 * M = Λ_B^½·V_Bᵀ·V_A·Λ_A^½. The core's SVD M = U_c·Σ·V_cᵀ is ΔW's: σ(B·A) = σ(M).
 * The Gram route costs n·r²/2 per factor (Householder QR would be 2n·r²) and drops null directions
 * of rank-deficient factors (a zero-initialised B) instead of dividing by them.
 */
import { symmetricEigen } from '../lora/stats/eigen.js';
import { combineRows, gramRows, transpose, type LowRank } from './lowRank.js';

/** Eigen-directions below this fraction of the largest eigenvalue are numerical noise (σ ~ 1e-7·σmax). */
const NULL_TOLERANCE = 1e-14;

export interface LowRankSvd {
  /** Singular values of B·A (the scale left out), descending; as many as the factors' rank. */
  readonly sigma: Float64Array;
  /**
   * The best rank-k factors: B′ = U_k·Σ_k, A′ = V_kᵀ (kohya's split), same scale as the input.
   * k beyond the available rank pads with zero rows.
   */
  truncate(k: number): LowRank;
}

interface Basis {
  /** T [r, q]: Q = Aᵀ·T (or B·T) has orthonormal columns. */
  readonly t: Float64Array;
  /** R = Λ^½·Vᵀ [q, r]. */
  readonly rFactor: Float64Array;
  readonly q: number;
}

/**
 * Cholesky pivots below this fraction of the largest diagonal send the factor to the eigen route:
 * Q = Aᵀ·L⁻ᵀ loses orthogonality as κ²·ε, so only well-conditioned factors take the fast path.
 */
const CHOLESKY_TOLERANCE = 1e-8;

/**
 * G = L·Lᵀ, so Aᵀ = Q·Lᵀ with Q = Aᵀ·L⁻ᵀ orthonormal: T = L⁻ᵀ, R = Lᵀ. r³/3 instead of a full
 * eigen-decomposition (a 7B resize did 448 of them); null when G is (nearly) singular.
 */
function choleskyBasis(gram: Float64Array, r: number): Basis | null {
  let maxDiag = 0;
  for (let i = 0; i < r; i++) maxDiag = Math.max(maxDiag, gram[i * r + i] as number);
  if (!(maxDiag > 0)) return null;
  const l = new Float64Array(r * r);
  for (let j = 0; j < r; j++) {
    let d = gram[j * r + j] as number;
    for (let p = 0; p < j; p++) d -= (l[j * r + p] as number) ** 2;
    if (!(d > maxDiag * CHOLESKY_TOLERANCE)) return null;
    const root = Math.sqrt(d);
    l[j * r + j] = root;
    for (let i = j + 1; i < r; i++) {
      let s = gram[i * r + j] as number;
      for (let p = 0; p < j; p++) s -= (l[i * r + p] as number) * (l[j * r + p] as number);
      l[i * r + j] = s / root;
    }
  }
  // Linv = L⁻¹ (lower), by forward substitution; T[p, c] = Linv[c, p].
  const t = new Float64Array(r * r);
  const rFactor = new Float64Array(r * r);
  for (let c = 0; c < r; c++) {
    // Column c of L⁻¹: solve L·x = e_c (x[i] = 0 for i < c).
    const x = new Float64Array(r);
    for (let i = c; i < r; i++) {
      let s = i === c ? 1 : 0;
      for (let p = c; p < i; p++) s -= (l[i * r + p] as number) * (x[p] as number);
      x[i] = s / (l[i * r + i] as number);
    }
    // Linv[i, c] = x[i] → T[c, i] = x[i].
    for (let i = c; i < r; i++) t[c * r + i] = x[i] as number;
  }
  for (let c = 0; c < r; c++)
    for (let p = c; p < r; p++) rFactor[c * r + p] = l[p * r + c] as number;
  return { t, rFactor, q: r };
}

/** Orthonormal basis from a factor's r×r Gram (A·Aᵀ for A, BᵀB for B). */
function basisOf(gram: Float64Array, r: number): Basis {
  const fast = choleskyBasis(gram, r);
  if (fast) return fast;
  const { values, vectors } = symmetricEigen(gram, r);
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  const keep: number[] = [];
  for (let j = 0; j < r; j++)
    if ((values[j] as number) > max * NULL_TOLERANCE && max > 0) keep.push(j);
  const q = keep.length;
  const t = new Float64Array(r * q);
  const rFactor = new Float64Array(q * r);
  keep.forEach((j, c) => {
    const root = Math.sqrt(values[j] as number);
    for (let p = 0; p < r; p++) {
      const v = vectors[p * r + j] as number;
      t[p * q + c] = v / root;
      rFactor[c * r + p] = v * root;
    }
  });
  return { t, rFactor, q };
}

/** The SVD of x = B·A (x.scale is carried through, not part of σ). */
export function lowRankSvd(x: LowRank): LowRankSvd {
  const { out, inK, rank: r } = x;
  // Bᵀ [r, out] once: its Gram and the new B are then row operations like A's.
  const bT = transpose(x.b, out, r);
  const qa = basisOf(gramRows(x.a, r, inK), r);
  const qb = basisOf(gramRows(bT, r, out), r);
  // M [qb, qa] = R_B·R_Aᵀ.
  const m = new Float64Array(qb.q * qa.q);
  for (let i = 0; i < qb.q; i++)
    for (let j = 0; j < qa.q; j++) {
      let s = 0;
      for (let p = 0; p < r; p++)
        s += (qb.rFactor[i * r + p] as number) * (qa.rFactor[j * r + p] as number);
      m[i * qa.q + j] = s;
    }
  // SVD of M from the eigen-decomposition of MᵀM [qa, qa].
  // Through Mᵀ, so both operands of each dot product are contiguous (same sums, same order).
  const mT = transpose(m, qb.q, qa.q);
  const mtm = new Float64Array(qa.q * qa.q);
  for (let i = 0; i < qa.q; i++)
    for (let j = i; j < qa.q; j++) {
      let s = 0;
      for (let p = 0; p < qb.q; p++)
        s += (mT[i * qb.q + p] as number) * (mT[j * qb.q + p] as number);
      mtm[i * qa.q + j] = s;
      mtm[j * qa.q + i] = s;
    }
  const eig = symmetricEigen(mtm, qa.q);
  const order = [...eig.values.keys()].sort(
    (i, j) => (eig.values[j] as number) - (eig.values[i] as number),
  );
  const count = Math.min(qa.q, qb.q);
  const sigma = new Float64Array(count);
  // V_c [qa, count], U_c [qb, count] = M·V_c / σ.
  const vc = new Float64Array(qa.q * count);
  const uc = new Float64Array(qb.q * count);
  const sigmaMax = Math.sqrt(Math.max(0, eig.values[order[0] ?? 0] ?? 0));
  const column = new Float64Array(qa.q);
  for (let c = 0; c < count; c++) {
    const j = order[c] as number;
    const s = Math.sqrt(Math.max(0, eig.values[j] as number));
    sigma[c] = s;
    for (let p = 0; p < qa.q; p++) {
      const v = eig.vectors[p * qa.q + j] as number;
      vc[p * count + c] = v;
      column[p] = v;
    }
    // A direction with σ ≈ 0 has no defined U: leave it zero (it is never worth keeping).
    if (s <= sigmaMax * 1e-12) continue;
    for (let i = 0; i < qb.q; i++) {
      let acc = 0;
      for (let p = 0; p < qa.q; p++) acc += (m[i * qa.q + p] as number) * (column[p] as number);
      uc[i * count + c] = acc / s;
    }
  }
  return {
    sigma,
    truncate(k: number): LowRank {
      const kept = Math.min(k, count);
      // T_B = T_B(basis)·U_c[:, :kept], T_A = T_A(basis)·V_c[:, :kept], both [r, kept].
      const tb = mulColumns(qb.t, r, qb.q, uc, count, kept);
      const ta = mulColumns(qa.t, r, qa.q, vc, count, kept);
      // B′ = B·T_B·Σ [out, kept], A′ = T_Aᵀ·A [kept, inK]; zero columns / rows pad up to k.
      for (let p = 0; p < r; p++)
        for (let j = 0; j < kept; j++)
          tb[p * kept + j] = (tb[p * kept + j] as number) * (sigma[j] as number);
      const bKept = transpose(combineRows(tb, bT, r, kept, out), kept, out);
      const aKept = combineRows(ta, x.a, r, kept, inK);
      if (kept === k) return { out, inK, rank: k, b: bKept, a: aKept, scale: x.scale };
      const b = new Float64Array(out * k);
      for (let o = 0; o < out; o++) b.set(bKept.subarray(o * kept, (o + 1) * kept), o * k);
      const a = new Float64Array(k * inK);
      a.set(aKept);
      return { out, inK, rank: k, b, a, scale: x.scale };
    },
  };
}

/** T [r, q] · C[:, :k] where C is [q, width] (row-major), as [r, k]. */
function mulColumns(
  t: Float64Array,
  r: number,
  q: number,
  c: Float64Array,
  width: number,
  k: number,
): Float64Array {
  const out = new Float64Array(r * k);
  for (let p = 0; p < r; p++)
    for (let i = 0; i < q; i++) {
      const v = t[p * q + i] as number;
      if (v === 0) continue;
      for (let j = 0; j < k; j++)
        out[p * k + j] = (out[p * k + j] as number) + v * (c[i * width + j] as number);
    }
  return out;
}
