/** Dense float64 helpers the methods' effects share (row-major everywhere). */

/** C [n, m] = A [n, k] · B [k, m]. */
export function matmul(
  a: Float64Array,
  b: Float64Array,
  n: number,
  k: number,
  m: number,
): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const ci = i * m;
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p] as number;
      if (v === 0) continue;
      const bp = p * m;
      for (let j = 0; j < m; j++) c[ci + j] = (c[ci + j] as number) + v * (b[bp + j] as number);
    }
  }
  return c;
}

/** Kronecker product of A [p, q] and B [r, s] (B's trailing dims flattened into s), as [p·r, q·s]. */
export function kron(
  a: Float64Array,
  p: number,
  q: number,
  b: Float64Array,
  r: number,
  s: number,
): Float64Array {
  const out = new Float64Array(p * r * q * s);
  const cols = q * s;
  for (let i = 0; i < p; i++)
    for (let j = 0; j < q; j++) {
      const v = a[i * q + j] as number;
      for (let k = 0; k < r; k++) {
        const row = (i * r + k) * cols + j * s;
        for (let l = 0; l < s; l++) out[row + l] = v * (b[k * s + l] as number);
      }
    }
  return out;
}

/**
 * Tucker rebuild W[o, i, …k] = Σ_{p,q} t[p, q, …k]·a[p, o]·b[q, i] with t [r, r, …k], a [r, out], b [r, in]:
 * LyCORIS/PEFT's einsum("i j k l, j r, i p -> p r k l") for conv cores.
 */
export function tuckerRebuild(
  t: Float64Array,
  tShape: readonly number[],
  a: Float64Array,
  out: number,
  b: Float64Array,
  bRest: readonly number[],
): Float64Array {
  const r0 = tShape[0] ?? 0;
  const r1 = tShape[1] ?? 0;
  const plane = tShape.slice(2).reduce((x, y) => x * y, 1);
  const inF = bRest.reduce((x, y) => x * y, 1);
  const w = new Float64Array(out * inF * plane);
  // tb[p, i, k] = Σ_q t[p, q, k]·b[q, i]
  const tb = new Float64Array(r0 * inF * plane);
  for (let p = 0; p < r0; p++)
    for (let q = 0; q < r1; q++)
      for (let i = 0; i < inF; i++) {
        const bv = b[q * inF + i] as number;
        if (bv === 0) continue;
        for (let k = 0; k < plane; k++) {
          const at = (p * inF + i) * plane + k;
          tb[at] = (tb[at] as number) + (t[(p * r1 + q) * plane + k] as number) * bv;
        }
      }
  for (let p = 0; p < r0; p++)
    for (let o = 0; o < out; o++) {
      const av = a[p * out + o] as number;
      if (av === 0) continue;
      const row = o * inF * plane;
      const src = p * inF * plane;
      for (let x = 0; x < inF * plane; x++)
        w[row + x] = (w[row + x] as number) + av * (tb[src + x] as number);
    }
  return w;
}
