/**
 * A module's change as low-rank factors in float64: ΔW = scale · B·A with B [out, rank] and
 * A [rank, inK] row-major (conv kernels flattened into inK), the layouts the files store. No
 * out×in matrix is formed: Grams of B accumulate row outer products (one short row in cache at a
 * time), Grams of A are dot products of its long rows, taken in column blocks that stay in cache.
 */
export interface LowRank {
  readonly out: number;
  readonly inK: number;
  readonly rank: number;
  /** B, row-major [out, rank]. */
  readonly b: Float64Array;
  /** A, row-major [rank, inK]. */
  readonly a: Float64Array;
  readonly scale: number;
}

/** Columns per block of the row-dot Gram: r rows × 512 doubles stay in L2 for r ≤ 128. */
const BLOCK = 512;

/**
 * G = X·Yᵀ for X [r1, n], Y [r2, n] (row-major): G[i, j] = xᵢ·yⱼ, in column blocks that stay in
 * cache; `symmetric` (X = Y) computes j ≥ i only and mirrors.
 */
export function crossGram(
  x: Float64Array,
  r1: number,
  y: Float64Array,
  r2: number,
  n: number,
  symmetric = false,
): Float64Array {
  const g = new Float64Array(r1 * r2);
  for (let c0 = 0; c0 < n; c0 += BLOCK) {
    const c1 = Math.min(n, c0 + BLOCK);
    let i = 0;
    // Two rows of X against four of Y: 8 sums held in registers per 6 loads.
    for (; i + 1 < r1; i += 2) {
      const xa = i * n;
      const xb = xa + n;
      let j = symmetric ? i : 0;
      for (; j + 3 < r2; j += 4) {
        const y0 = j * n;
        const y1 = y0 + n;
        const y2 = y1 + n;
        const y3 = y2 + n;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let b0 = 0;
        let b1 = 0;
        let b2 = 0;
        let b3 = 0;
        for (let k = c0; k < c1; k++) {
          const u = x[xa + k] as number;
          const v = x[xb + k] as number;
          const w0 = y[y0 + k] as number;
          const w1 = y[y1 + k] as number;
          const w2 = y[y2 + k] as number;
          const w3 = y[y3 + k] as number;
          a0 += u * w0;
          a1 += u * w1;
          a2 += u * w2;
          a3 += u * w3;
          b0 += v * w0;
          b1 += v * w1;
          b2 += v * w2;
          b3 += v * w3;
        }
        const ga = i * r2 + j;
        const gb = ga + r2;
        g[ga] = (g[ga] as number) + a0;
        g[ga + 1] = (g[ga + 1] as number) + a1;
        g[ga + 2] = (g[ga + 2] as number) + a2;
        g[ga + 3] = (g[ga + 3] as number) + a3;
        g[gb] = (g[gb] as number) + b0;
        g[gb + 1] = (g[gb + 1] as number) + b1;
        g[gb + 2] = (g[gb + 2] as number) + b2;
        g[gb + 3] = (g[gb + 3] as number) + b3;
      }
      for (; j < r2; j++) {
        const yj = j * n;
        let sa = 0;
        let sb = 0;
        for (let k = c0; k < c1; k++) {
          const w = y[yj + k] as number;
          sa += (x[xa + k] as number) * w;
          sb += (x[xb + k] as number) * w;
        }
        g[i * r2 + j] = (g[i * r2 + j] as number) + sa;
        g[(i + 1) * r2 + j] = (g[(i + 1) * r2 + j] as number) + sb;
      }
    }
    for (; i < r1; i++) {
      const xi = i * n;
      for (let j = symmetric ? i : 0; j < r2; j++) {
        const yj = j * n;
        let s = 0;
        for (let k = c0; k < c1; k++) s += (x[xi + k] as number) * (y[yj + k] as number);
        g[i * r2 + j] = (g[i * r2 + j] as number) + s;
      }
    }
  }
  // Symmetric: the upper triangle (j ≥ i) is exact; mirror it (overwriting the few lower entries
  // the 2-row blocks also computed, which hold the same sums).
  if (symmetric)
    for (let i = 0; i < r1; i++)
      for (let j = 0; j < i; j++) g[i * r2 + j] = g[j * r2 + i] as number;
  return g;
}

/** X·Xᵀ of X [r, n]. */
export function gramRows(x: Float64Array, r: number, n: number): Float64Array {
  return crossGram(x, r, x, r, n, true);
}

/** Input rows per transpose block: each output row then receives one full cache line (8 doubles). */
const T_ROWS = 8;

/**
 * Xᵀ of X [rows, cols]. Blocks of 8 input rows: a one-row-at-a-time pass writes each value to a
 * different output row, and with a power-of-two `rows` (4096) all those lines fall in the same
 * cache set, which thrashed L1 (a 7B resize spent a second here); 8 rows at a time fill whole lines.
 */
export function transpose(x: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(x.length);
  let i0 = 0;
  for (; i0 + T_ROWS <= rows; i0 += T_ROWS) {
    const x0 = i0 * cols;
    for (let j = 0; j < cols; j++) {
      const o = j * rows + i0;
      const s = x0 + j;
      t[o] = x[s] as number;
      t[o + 1] = x[s + cols] as number;
      t[o + 2] = x[s + 2 * cols] as number;
      t[o + 3] = x[s + 3 * cols] as number;
      t[o + 4] = x[s + 4 * cols] as number;
      t[o + 5] = x[s + 5 * cols] as number;
      t[o + 6] = x[s + 6 * cols] as number;
      t[o + 7] = x[s + 7 * cols] as number;
    }
  }
  for (let i = i0; i < rows; i++) {
    const xi = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = x[xi + j] as number;
  }
  return t;
}

/**
 * B₁ᵀ·B₂ for B₁ [m, r1], B₂ [m, r2], through their transposes: dot products of long contiguous
 * rows run about three times faster than accumulating m row outer products.
 */
export function crossGramColumns(
  b1: Float64Array,
  r1: number,
  b2: Float64Array,
  r2: number,
  m: number,
  symmetric = false,
): Float64Array {
  const t1 = transpose(b1, m, r1);
  return crossGram(t1, r1, symmetric ? t1 : transpose(b2, m, r2), r2, m, symmetric);
}

/** Columns per block of combineRows: four output rows × 256 doubles stay in L1 across all r passes. */
const COMBINE_BLOCK = 256;

/**
 * Tᵀ·X for T [r, k], X [r, n]: out[j] = Σ_p T[p, j]·x[p]. Four output rows share each load of x;
 * columns go in blocks so the output rows, read and written r/2 times, stay in L1 (whole rows of
 * 11008 doubles did not). Each element's sum runs over p in the same order either way.
 */
export function combineRows(
  t: Float64Array,
  x: Float64Array,
  r: number,
  k: number,
  n: number,
): Float64Array {
  const out = new Float64Array(k * n);
  for (let c0 = 0; c0 < n; c0 += COMBINE_BLOCK)
    combineBlock(t, x, r, k, n, out, c0, Math.min(n, c0 + COMBINE_BLOCK));
  return out;
}

function combineBlock(
  t: Float64Array,
  x: Float64Array,
  r: number,
  k: number,
  n: number,
  out: Float64Array,
  from: number,
  to: number,
): void {
  let j = 0;
  for (; j + 3 < k; j += 4) {
    const o0 = j * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    let p = 0;
    // Two rows of X per pass: each output element is loaded and stored once per two products.
    for (; p + 1 < r; p += 2) {
      const c0 = t[p * k + j] as number;
      const c1 = t[p * k + j + 1] as number;
      const c2 = t[p * k + j + 2] as number;
      const c3 = t[p * k + j + 3] as number;
      const d0 = t[(p + 1) * k + j] as number;
      const d1 = t[(p + 1) * k + j + 1] as number;
      const d2 = t[(p + 1) * k + j + 2] as number;
      const d3 = t[(p + 1) * k + j + 3] as number;
      const xp = p * n;
      const xq = xp + n;
      for (let i = from; i < to; i++) {
        const v = x[xp + i] as number;
        const w = x[xq + i] as number;
        out[o0 + i] = (out[o0 + i] as number) + c0 * v + d0 * w;
        out[o1 + i] = (out[o1 + i] as number) + c1 * v + d1 * w;
        out[o2 + i] = (out[o2 + i] as number) + c2 * v + d2 * w;
        out[o3 + i] = (out[o3 + i] as number) + c3 * v + d3 * w;
      }
    }
    for (; p < r; p++) {
      const c0 = t[p * k + j] as number;
      const c1 = t[p * k + j + 1] as number;
      const c2 = t[p * k + j + 2] as number;
      const c3 = t[p * k + j + 3] as number;
      const xp = p * n;
      for (let i = from; i < to; i++) {
        const v = x[xp + i] as number;
        out[o0 + i] = (out[o0 + i] as number) + c0 * v;
        out[o1 + i] = (out[o1 + i] as number) + c1 * v;
        out[o2 + i] = (out[o2 + i] as number) + c2 * v;
        out[o3 + i] = (out[o3 + i] as number) + c3 * v;
      }
    }
  }
  for (; j < k; j++) {
    const oj = j * n;
    for (let p = 0; p < r; p++) {
      const c = t[p * k + j] as number;
      if (c === 0) continue;
      const xp = p * n;
      for (let i = from; i < to; i++)
        out[oj + i] = (out[oj + i] as number) + c * (x[xp + i] as number);
    }
  }
}

/** Σ X_ij·Y_ij = trace(Xᵀ·Y). */
export function traceOfProduct(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
  return s;
}

/** ⟨ΔW₁, ΔW₂⟩_F = s₁s₂·Σ (B₁ᵀB₂) ⊙ (A₁A₂ᵀ), from r₁×r₂ cross Grams only. */
export function innerProduct(x: LowRank, y: LowRank): number {
  const same = x === y;
  const bb = crossGramColumns(x.b, x.rank, y.b, y.rank, x.out, same);
  const aa = crossGram(x.a, x.rank, y.a, y.rank, x.inK, same);
  return x.scale * y.scale * traceOfProduct(bb, aa);
}

/** ‖ΔW‖_F from the factors' Grams. */
export function frobeniusNorm(x: LowRank): number {
  return Math.sqrt(Math.max(0, innerProduct(x, x)));
}

/**
 * Stacks several low-rank terms into one exact factorisation: B = [B₁ … Bₙ], A = [s₁A₁; …; sₙAₙ]
 * (each term's scale folded into its A rows, as PEFT's cat does), scale 1.
 */
export function stack(terms: readonly LowRank[]): LowRank {
  const first = terms[0];
  if (!first) throw new Error('stack needs at least one term');
  const rank = terms.reduce((n, t) => n + t.rank, 0);
  const b = new Float64Array(first.out * rank);
  const a = new Float64Array(rank * first.inK);
  let col = 0;
  for (const t of terms) {
    for (let o = 0; o < first.out; o++)
      b.set(t.b.subarray(o * t.rank, (o + 1) * t.rank), o * rank + col);
    for (let i = 0; i < t.a.length; i++) a[col * first.inK + i] = (t.a[i] as number) * t.scale;
    col += t.rank;
  }
  return { out: first.out, inK: first.inK, rank, b, a, scale: 1 };
}

/** The dense ΔW [out, inK] (tests and small conversions only). */
export function denseOf(x: LowRank): Float64Array {
  const w = new Float64Array(x.out * x.inK);
  for (let o = 0; o < x.out; o++) {
    const row = o * x.inK;
    for (let k = 0; k < x.rank; k++) {
      const c = (x.b[o * x.rank + k] as number) * x.scale;
      if (c === 0) continue;
      const ak = k * x.inK;
      for (let i = 0; i < x.inK; i++)
        w[row + i] = (w[row + i] as number) + c * (x.a[ak + i] as number);
    }
  }
  return w;
}
