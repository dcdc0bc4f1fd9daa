/**
 * Eigen-decomposition of a symmetric n×n matrix: Householder reduction to tridiagonal form, then
 * the implicit QL algorithm (tred2 / tql2 of EISPACK, as JAMA ports them, public domain). O(n³)
 * with a small constant, so a rank-256 spectrum takes a fraction of a second.
 * Returns the eigenvalues and, unless `valuesOnly`, the eigenvectors as the columns of `vectors`
 * (row-major n×n; without them the QL step is O(n²)).
 */
export function symmetricEigen(
  m: Float64Array,
  n: number,
  valuesOnly = false,
): { values: Float64Array; vectors: Float64Array } {
  const v = Float64Array.from(m);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tred2(v, d, e, n);
    tql2(v, d, e, n, !valuesOnly);
  }
  return { values: d, vectors: v };
}

// Indexing helpers keep the EISPACK loops readable under noUncheckedIndexedAccess.
const at = (a: Float64Array, i: number): number => a[i] as number;

function tred2(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const V = (i: number, j: number): number => at(v, i * n + j);
  for (let j = 0; j < n; j++) d[j] = V(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(at(d, k));
    if (scale === 0) {
      e[i] = at(d, i - 1);
      for (let j = 0; j < i; j++) {
        d[j] = V(i - 1, j);
        v[i * n + j] = 0;
        v[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = at(d, k) / scale;
        h += at(d, k) ** 2;
      }
      let f = at(d, i - 1);
      let g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = at(d, j);
        v[j * n + i] = f;
        g = at(e, j) + V(j, j) * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V(k, j) * at(d, k);
          e[k] = at(e, k) + V(k, j) * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = at(e, j) / h;
        f += at(e, j) * at(d, j);
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = at(e, j) - hh * at(d, j);
      for (let j = 0; j < i; j++) {
        f = at(d, j);
        g = at(e, j);
        for (let k = j; k <= i - 1; k++) v[k * n + j] = V(k, j) - (f * at(e, k) + g * at(d, k));
        d[j] = V(i - 1, j);
        v[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[(n - 1) * n + i] = V(i, i);
    v[i * n + i] = 1;
    const h = at(d, i + 1);
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V(k, i + 1) / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V(k, i + 1) * V(k, j);
        for (let k = 0; k <= i; k++) v[k * n + j] = V(k, j) - g * at(d, k);
      }
    }
    for (let k = 0; k <= i; k++) v[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V(n - 1, j);
    v[(n - 1) * n + j] = 0;
  }
  v[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function tql2(v: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors: boolean) {
  for (let i = 1; i < n; i++) e[i - 1] = at(e, i);
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(at(d, l)) + Math.abs(at(e, l)));
    let m = l;
    while (m < n && Math.abs(at(e, m)) > eps * tst1) m++;
    if (m > l) {
      // m < n always: e[n-1] is 0. 60 iterations is far beyond what QL needs.
      for (let iter = 0; iter < 60 && Math.abs(at(e, l)) > eps * tst1; iter++) {
        let g = at(d, l);
        let p = (at(d, l + 1) - g) / (2 * at(e, l));
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = at(e, l) / (p + r);
        d[l + 1] = at(e, l) * (p + r);
        const dl1 = at(d, l + 1);
        let h = g - at(d, l);
        for (let i = l + 2; i < n; i++) d[i] = at(d, i) - h;
        f += h;
        p = at(d, m);
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = at(e, l + 1);
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * at(e, i);
          h = c * p;
          r = Math.hypot(p, at(e, i));
          e[i + 1] = s * r;
          s = at(e, i) / r;
          c = p / r;
          p = c * at(d, i) - s * g;
          d[i + 1] = h + s * (c * g + s * at(d, i));
          for (let k = 0; vectors && k < n; k++) {
            const vk = k * n;
            h = at(v, vk + i + 1);
            v[vk + i + 1] = s * at(v, vk + i) + c * h;
            v[vk + i] = c * at(v, vk + i) - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * at(e, l)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      }
    }
    d[l] = at(d, l) + f;
    e[l] = 0;
  }
}
