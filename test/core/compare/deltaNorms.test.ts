/**
 * ‖ΔW_A − ΔW_B‖: the factor-difference form keeps precision where the Gram identity cancels, the
 * identity and the dense path agree with brute force, and methods without a ΔW say why.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compareDeltas, diffCheckpoints } from '../../../src/core/compare/index.js';
import { CountingByteSource, FileByteSource, openPath } from '../../../src/core/formats/index.js';
import { openSafetensors } from '../../../src/core/formats/safetensors.js';
import { denseOf, type LowRank } from '../../../src/core/surgery/lowRank.js';

function values(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function lowRank(out: number, inK: number, rank: number, scale: number, seed: number): LowRank {
  return { out, inK, rank, scale, b: values(out * rank, seed), a: values(rank * inK, seed + 1) };
}

function bruteDiff(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += ((x[i] as number) - (y[i] as number)) ** 2;
  return Math.sqrt(s);
}

const LR = (f: LowRank) => ({ kind: 'low-rank' as const, f });
const MAX = 1 << 24;

describe('compareDeltas', () => {
  it('same rank, a 1e-10 change: exact to 1e-6 relative, where ‖X‖²+‖Y‖²−2⟨X,Y⟩ loses it', () => {
    const x = lowRank(32, 48, 4, 2, 11);
    const b = Float64Array.from(x.b);
    const delta = 1e-10;
    b[5 * 4 + 2] = (b[5 * 4 + 2] as number) + delta; // B[5, 2]
    const y: LowRank = { ...x, b };
    // ΔW_A − ΔW_B = −s·δ·e₅·A[2, :], so its norm is s·δ·‖A[2, :]‖.
    let row = 0;
    for (let i = 0; i < x.inK; i++) row += (x.a[2 * x.inK + i] as number) ** 2;
    const exact = x.scale * delta * Math.sqrt(row);
    const r = compareDeltas(LR(x), LR(y), MAX);
    assert.equal(r.method, 'factor-difference');
    assert.ok(Math.abs((r.diff as number) - exact) <= 1e-6 * exact, `${r.diff} vs ${exact}`);
    // The identity on the same numbers: the cancellation the factor form avoids.
    const nx = r.normA as number;
    const identity = Math.sqrt(Math.max(0, 2 * nx * nx - 2 * nx * (r.normB as number)));
    assert.ok(
      Math.abs(identity - exact) > 1e-3 * exact,
      'identity is not exact here (else the test shows nothing)',
    );
  });

  it('identical factors: exactly 0', () => {
    const x = lowRank(16, 16, 8, 0.5, 3);
    assert.equal(compareDeltas(LR(x), LR({ ...x, b: Float64Array.from(x.b) }), MAX).diff, 0);
  });

  it('different ranks: the Gram identity matches brute force', () => {
    const x = lowRank(24, 40, 4, 2, 1);
    const y = lowRank(24, 40, 8, 1, 2);
    const r = compareDeltas(LR(x), LR(y), MAX);
    assert.equal(r.method, 'gram-identity');
    const want = bruteDiff(denseOf(x), denseOf(y));
    assert.ok(Math.abs((r.diff as number) - want) <= 1e-12 * want);
  });

  it('a dense side: the dense path, and refused above the size limit', () => {
    const x = lowRank(12, 20, 3, 1.5, 7);
    const dense = denseOf(lowRank(12, 20, 3, 1.5, 9));
    const r = compareDeltas(LR(x), { kind: 'dense', out: 12, inK: 20, values: dense }, MAX);
    assert.equal(r.method, 'dense');
    assert.ok(Math.abs((r.diff as number) - bruteDiff(denseOf(x), dense)) < 1e-12);
    const big = compareDeltas(LR(x), { kind: 'dense', out: 12, inK: 20, values: dense }, 100);
    assert.equal(big.diff, null);
    assert.match(big.note ?? '', /above the 100/);
  });

  it('other shapes, or a side without a ΔW: null with the reason', () => {
    const shapes = compareDeltas(LR(lowRank(8, 8, 2, 1, 1)), LR(lowRank(8, 9, 2, 1, 1)), MAX);
    assert.equal(shapes.diff, null);
    assert.match(shapes.note ?? '', /shapes differ/);
    const none = compareDeltas(LR(lowRank(8, 8, 2, 1, 1)), { kind: 'none', reason: 'no ΔW' }, MAX);
    assert.equal(none.diff, null);
    assert.equal(none.note, 'B: no ΔW');
  });
});

describe('norms through each method (PEFT fixtures of test/fixtures/methods)', () => {
  const FIX = join(__dirname, '../../fixtures/methods');
  async function self(method: string) {
    const a = await openPath(join(FIX, method));
    const b = await openPath(join(FIX, method));
    try {
      return await diffCheckpoints(
        { path: 'a', checkpoint: a },
        { path: 'b', checkpoint: b },
        { norms: true, tolerance: 0 },
      );
    } finally {
      await a.close();
      await b.close();
    }
  }

  it('LoHa (a dense ΔW) against itself: 0 through the dense path', async () => {
    const r = await self('loha');
    assert.ok(r.norms && r.norms.modules.length > 0);
    assert.ok(
      r.norms.modules.every((m) => m.method === 'dense' && m.diff === 0 && (m.normA ?? 0) > 0),
    );
    assert.equal(r.differ, false);
  });

  it('AdaLoRA (a low-rank effect) against itself: 0 from factors', async () => {
    const r = await self('adalora');
    assert.ok(r.norms?.modules.every((m) => m.method === 'factor-difference' && m.diff === 0));
  });

  it('DoRA: the pair is compared, the magnitude is named as left out', async () => {
    const r = await self('dora');
    assert.ok(
      r.norms?.modules.every((m) => m.diff === 0 && /DoRA magnitude left out/.test(m.note ?? '')),
    );
  });

  it('(IA)³ has no ΔW without the base: not computed, with the reason, and no difference', async () => {
    const r = await self('ia3');
    assert.ok(
      r.norms && r.norms.notComputed === r.norms.modules.length && r.norms.modules.length > 0,
    );
    assert.match(r.norms.modules[0]?.note ?? '', /multiplies the base weight/);
    assert.equal(r.differ, false);
  });
});

describe('header-only unless norms are asked for', () => {
  it('reads only the headers without --norms, and each factor once with it', async () => {
    const file = join(__dirname, '../../fixtures/compare/checkpoint-1/adapter_model.safetensors');
    const counted = async () => {
      const source = new CountingByteSource(await FileByteSource.open(file));
      return { source, checkpoint: await openSafetensors(source) };
    };
    const [a, b] = [await counted(), await counted()];
    try {
      const header = a.checkpoint.headerByteLength + 8;
      const before = a.source.bytesRead;
      assert.ok(before <= header + 64, `opening reads the header: ${before} vs ${header}`);
      await diffCheckpoints(
        { path: 'a', checkpoint: a.checkpoint },
        { path: 'b', checkpoint: b.checkpoint },
      );
      assert.equal(a.source.bytesRead, before, 'no tensor bytes read without norms');
      await diffCheckpoints(
        { path: 'a', checkpoint: a.checkpoint },
        { path: 'b', checkpoint: b.checkpoint },
        { norms: true },
      );
      assert.equal(a.source.bytesRead - before, a.checkpoint.dataBytes, 'every factor read once');
    } finally {
      await a.checkpoint.close();
      await b.checkpoint.close();
    }
  });
});
