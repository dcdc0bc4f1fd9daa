import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { symmetricEigen } from '../../../../src/core/lora/stats/eigen.js';
import {
  productSingularValues,
  traceOfProduct,
  tuckerSquaredNorm,
} from '../../../../src/core/lora/stats/linalg.js';
import { assertClose, frobenius, matmul, seeded, transpose } from './statsKit.js';

/** X·Xᵀ of a seeded [n, k] matrix: symmetric positive semi-definite, rank min(n, k). */
function gram(n: number, k: number, seed: number): Float64Array {
  const x = seeded(n * k, seed);
  return matmul(x, transpose(x, n, k), n, k, n);
}

describe('LoRA stats: small dense linear algebra', () => {
  it('symmetricEigen: V·diag(λ)·Vᵀ rebuilds the matrix, V orthonormal (n = 1, 2, 7, 40)', () => {
    for (const [n, k] of [
      [1, 1],
      [2, 3],
      [7, 3],
      [40, 40],
    ] as const) {
      const m = gram(n, k, n);
      const { values, vectors } = symmetricEigen(m, n);
      const scaled = vectors.map((x, i) => x * (values[i % n] as number));
      const rebuilt = matmul(scaled, transpose(vectors, n, n), n, n, n);
      const err = frobenius(rebuilt.map((x, i) => x - (m[i] as number)));
      assert.ok(err <= 1e-12 * frobenius(m), `n ${n}: ${err}`);
      const vtv = matmul(transpose(vectors, n, n), vectors, n, n, n);
      vtv.forEach((x, i) => assert.ok(Math.abs(x - (i % (n + 1) === 0 ? 1 : 0)) < 1e-12));
      // PSD of rank min(n, k): n − k eigenvalues are zero to rounding.
      const small = [...values].filter((v) => Math.abs(v) < 1e-12 * frobenius(m)).length;
      assert.equal(small, Math.max(0, n - k), `n ${n}`);
    }
  });

  it('symmetricEigen: the zero matrix, the identity, a diagonal', () => {
    assert.deepEqual([...symmetricEigen(new Float64Array(9), 3).values], [0, 0, 0]);
    const eye = Float64Array.from([1, 0, 0, 1]);
    assert.deepEqual([...symmetricEigen(eye, 2).values], [1, 1]);
    const diag = Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 2]);
    assert.deepEqual([...symmetricEigen(diag, 3).values].sort(), [-1, 2, 3]);
  });

  it('productSingularValues of B [40, 24]·A [24, 50] match the dense (BA)ᵀ(BA) spectrum', () => {
    const [out, r, inF] = [40, 24, 50];
    const b = seeded(out * r, 7);
    const a = seeded(r * inF, 8);
    const ga = matmul(a, transpose(a, r, inF), r, inF, r);
    const gb = matmul(transpose(b, out, r), b, r, out, r);
    const sv = productSingularValues(ga, gb, r);
    const ba = matmul(b, a, out, r, inF);
    const dense = [
      ...symmetricEigen(matmul(transpose(ba, out, inF), ba, inF, out, inF), inF).values,
    ]
      .sort((x, y) => y - x)
      .slice(0, r)
      .map((x) => Math.sqrt(x));
    sv.forEach((s, i) =>
      assert.ok(Math.abs(s - (dense[i] as number)) < 1e-9 * (dense[0] as number)),
    );
    assertClose(Math.hypot(...sv), frobenius(ba), 1e-12, 'Σσ² = ‖BA‖²');
    assertClose(Math.sqrt(traceOfProduct(gb, ga)), frobenius(ba), 1e-12, 'Gram trace');
  });

  it('tuckerSquaredNorm: Σₖ ‖U·Mₖ·D‖² with different ranks on each side', () => {
    const [out, r1, r2, inF, k] = [5, 3, 2, 4, 6];
    const u = seeded(out * r1, 1);
    const d = seeded(r2 * inF, 2);
    const core = seeded(r1 * r2 * k, 3);
    let slow = 0;
    for (let pos = 0; pos < k; pos++) {
      const mk = Array.from({ length: r1 * r2 }, (_, i) => core[i * k + pos] as number);
      slow += frobenius(matmul(matmul(u, mk, out, r1, r2), d, out, r2, inF)) ** 2;
    }
    const gu = matmul(transpose(u, out, r1), u, r1, out, r1);
    const gd = matmul(d, transpose(d, r2, inF), r2, inF, r2);
    assertClose(
      tuckerSquaredNorm(gu, gd, Float64Array.from(core), r1, r2, k),
      slow,
      1e-12,
      'Tucker',
    );
  });
});
