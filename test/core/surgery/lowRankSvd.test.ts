/** The r×r SVD of B·A: exact at full rank, Eckart–Young at rank k, orthonormal factors, null directions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frobeniusNorm, innerProduct, stack } from '../../../src/core/surgery/lowRank.js';
import { lowRankSvd } from '../../../src/core/surgery/lowRankSvd.js';
import { tailNorm } from '../../../src/core/surgery/rankChoice.js';
import { dense, frob, randomLowRank, relDiff } from './helpers.js';

describe('lowRankSvd', () => {
  it('reproduces ΔW at full rank and its norm is ‖σ‖', () => {
    const f = randomLowRank(70, 50, 12, 1, 0.5, 0.8);
    const svd = lowRankSvd(f);
    assert.equal(svd.sigma.length, 12);
    for (let i = 1; i < 12; i++)
      assert.ok((svd.sigma[i - 1] as number) >= (svd.sigma[i] as number));
    assert.ok(relDiff(dense(svd.truncate(12)), dense(f)) < 1e-10);
    const w = frob(dense(f));
    assert.ok(Math.abs(tailNorm(svd.sigma, 0) * f.scale - w) / w < 1e-12);
    assert.ok(Math.abs(frobeniusNorm(f) - w) / w < 1e-12);
  });

  it('Eckart–Young: ‖ΔW − ΔWₖ‖_F = √(Σ_{i>k} σᵢ²) for every k', () => {
    for (const [out, inK, r, seed] of [
      [64, 48, 10, 2],
      [30, 90, 16, 3],
      [9, 200, 8, 4],
    ] as const) {
      const f = randomLowRank(out, inK, r, seed, 2, 0.7);
      const svd = lowRankSvd(f);
      const w = dense(f);
      for (let k = 1; k < r; k++) {
        const wk = dense(svd.truncate(k));
        let err = 0;
        for (let i = 0; i < w.length; i++) err += ((w[i] as number) - (wk[i] as number)) ** 2;
        const expected = tailNorm(svd.sigma, k) * f.scale;
        assert.ok(
          Math.abs(Math.sqrt(err) - expected) / expected < 1e-4,
          `k=${k}: ${Math.sqrt(err)} vs ${expected}`,
        );
      }
    }
  });

  it('gives A′ orthonormal rows and B′ = U·Σ (kohya split)', () => {
    const f = randomLowRank(40, 60, 8, 5);
    const svd = lowRankSvd(f);
    const t = svd.truncate(5);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let p = 0; p < 60; p++) s += (t.a[i * 60 + p] as number) * (t.a[j * 60 + p] as number);
        assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-10);
      }
    let b0 = 0;
    for (let o = 0; o < 40; o++) b0 += (t.b[o * 5] as number) ** 2;
    assert.ok(Math.abs(Math.sqrt(b0) - (svd.sigma[0] as number)) < 1e-9);
  });

  it('handles rank-deficient factors (a zero column of B, a repeated row of A)', () => {
    const f = randomLowRank(20, 30, 6, 6);
    for (let o = 0; o < 20; o++) f.b[o * 6 + 2] = 0;
    f.a.set(f.a.subarray(0, 30), 30);
    const svd = lowRankSvd(f);
    assert.ok(relDiff(dense(svd.truncate(6)), dense(f)) < 1e-9);
    assert.ok(
      (svd.sigma[svd.sigma.length - 1] ?? 0) < 1e-6 * (svd.sigma[0] as number) ||
        svd.sigma.length < 6,
    );
  });

  it('a zero module has no singular values and truncates to zeros', () => {
    const f = randomLowRank(10, 10, 4, 7);
    f.b.fill(0);
    const svd = lowRankSvd(f);
    assert.equal(svd.sigma.length, 0);
    const t = svd.truncate(1);
    assert.equal(t.rank, 1);
    assert.ok(t.b.every((v) => v === 0));
  });

  it('stack is exact: ⟨cat⟩ = Σ of the terms', () => {
    const x = randomLowRank(15, 25, 3, 8, 0.5);
    const y = randomLowRank(15, 25, 5, 9, -2);
    const s = stack([x, y]);
    const w = dense(x).map((v, i) => v + (dense(y)[i] as number));
    assert.ok(relDiff(dense(s), w) < 1e-12);
    assert.ok(Math.abs(innerProduct(s, s) - frob(w) ** 2) / frob(w) ** 2 < 1e-10);
  });
});
