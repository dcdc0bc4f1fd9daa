import { symmetricEigen } from './eigen.js';

/**
 * Small dense float64 linear algebra on r×r matrices (row-major Float64Array), r being a LoRA rank.
 * Nothing here ever sees an out×in matrix.
 */

/** Mirrors the upper triangle into the lower one (the Gram loops only fill i ≤ j). */
export function symmetrize(g: Float64Array, r: number): Float64Array {
  for (let i = 0; i < r; i++) for (let j = i + 1; j < r; j++) g[j * r + i] = g[i * r + j] as number;
  return g;
}

/** Σ X_ij·Y_ij = trace(Xᵀ·Y); for symmetric X it is trace(X·Y). */
export function traceOfProduct(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
  return s;
}

/** D·G·D for a diagonal D given as a vector (AdaLoRA's singular values E scale the rows of A). */
export function scaleGram(g: Float64Array, d: Float64Array, r: number): Float64Array {
  const out = new Float64Array(r * r);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++)
      out[i * r + j] = (g[i * r + j] as number) * (d[i] as number) * (d[j] as number);
  return out;
}

/** a [n, m] · b [m, p]. */
export function matmul(a: Float64Array, b: Float64Array, n: number, m: number, p: number) {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < m; k++) {
      const x = a[i * m + k] as number;
      if (x === 0) continue;
      for (let j = 0; j < p; j++)
        out[i * p + j] = (out[i * p + j] as number) + x * (b[k * p + j] as number);
    }
  return out;
}

/**
 * Singular values of B·A from G_A = A·Aᵀ and G_B = BᵀB: with G_A = V·Λ·Vᵀ, the σ² are the
 * eigenvalues of Λ^½·Vᵀ·G_B·V·Λ^½ (the nonzero spectrum of G_B·G_A). Descending.
 */
export function productSingularValues(ga: Float64Array, gb: Float64Array, r: number): number[] {
  const { values: lambda, vectors: v } = symmetricEigen(ga, r);
  // L = V·Λ^½ (columns scaled), C = Lᵀ·G_B·L.
  const l = new Float64Array(r * r);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++)
      l[i * r + j] = (v[i * r + j] as number) * Math.sqrt(Math.max(0, lambda[j] as number));
  const lt = new Float64Array(r * r);
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) lt[j * r + i] = l[i * r + j] as number;
  const c = symmetrize(matmul(matmul(lt, gb, r, r, r), l, r, r, r), r);
  const { values } = symmetricEigen(c, r, true);
  return [...values].map((x) => Math.sqrt(Math.max(0, x))).sort((a, b) => b - a);
}

/**
 * Σ over kernel positions of ‖U·M_k·D‖_F², from G_U = UᵀU [r1, r1], G_D = D·Dᵀ [r2, r2] and the
 * Tucker core M [r1, r2, K] (row-major, K kernel positions): trace(M_kᵀ·G_U·M_k·G_D) each.
 */
export function tuckerSquaredNorm(
  gu: Float64Array,
  gd: Float64Array,
  core: Float64Array,
  r1: number,
  r2: number,
  k: number,
): number {
  let total = 0;
  const m = new Float64Array(r1 * r2);
  for (let pos = 0; pos < k; pos++) {
    for (let i = 0; i < r1 * r2; i++) m[i] = core[i * k + pos] as number;
    total += traceOfProduct(matmul(gu, m, r1, r1, r2), matmul(m, gd, r1, r2, r2));
  }
  return total;
}
