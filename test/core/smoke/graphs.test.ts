import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { encodeFloats, type FloatTarget } from '../../../src/core/formats/encode.js';
import {
  buildModuleGraph,
  graphSignature,
  sameConv,
  type GraphSpec,
} from '../../../src/core/smoke/graphs.js';
import {
  compareToReference,
  randomNormal,
  referenceConv,
  referenceEmbedding,
  referenceLinear,
  spacedIndices,
  toleranceFor,
  type Reference,
} from '../../../src/core/smoke/reference.js';
import { toFloat32, transpose2d } from '../../../src/core/formats/floatDecode.js';

const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const s of sessions) await s.release();
});

async function run(
  spec: GraphSpec,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(buildModuleGraph(spec), {
    executionProviders: ['cpu'],
  });
  sessions.push(s);
  const out = await s.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}

/** Random values as they would come out of a file of `dtype`. */
function stored(n: number, seed: number, dtype: FloatTarget, scale = 1): Float32Array {
  const v = randomNormal(n, seed).map((x) => x * scale);
  return toFloat32(encodeFloats(v, dtype), dtype);
}

const f32 = (data: Float32Array, dims: number[]): ort.Tensor =>
  new ort.Tensor('float32', data, dims);

function assertMatches(
  y: Float32Array,
  features: number,
  plane: number,
  ref: Reference,
  dtype: string,
  conv = false,
): number {
  const cmp = compareToReference(y, features, plane, ref, toleranceFor([dtype], conv));
  assert.ok(cmp.ok, `max err ${cmp.maxAbsErr}, ${cmp.worst}× over`);
  return cmp.maxAbsErr;
}

describe('module graphs on the CPU EP against the float64 reference', () => {
  const [batch, inF, outF, r, s] = [4, 96, 80, 8, 2.5];

  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    for (const wt of [false, true]) {
      it(`linear${wt ? ' (W stored [in, out])' : ''}, ${dtype} tensors`, async () => {
        const x = randomNormal(batch * inF, 1);
        const w = stored(inF * outF, 2, dtype, 0.1);
        const a = stored(r * inF, 3, dtype, 0.1);
        const b = stored(outF * r, 4, dtype, 0.1);
        const out = await run(
          { variant: wt ? 'linear-wt' : 'linear' },
          {
            x: f32(x, [batch, inF]),
            w: f32(w, wt ? [inF, outF] : [outF, inF]),
            a: f32(a, [r, inF]),
            b: f32(b, [outF, r]),
            s: f32(Float32Array.of(s), [1]),
          },
        );
        const cols = spacedIndices(outF, 16);
        const ref = referenceLinear(
          { x, batch, inF, outF, w, wStoredTransposed: wt, a, b, r, s },
          cols,
        );
        assertMatches(out.y as Float32Array, outF, 1, ref, dtype);
        // base + delta = y, and delta is really s·B·A·x (not zero, not the base).
        const y = out.y as Float32Array;
        const sum = (out.base as Float32Array).map(
          (v, i) => v + ((out.delta as Float32Array)[i] as number),
        );
        assert.ok(sum.every((v, i) => Math.abs(v - (y[i] as number)) < 1e-5));
        const noDelta = referenceLinear(
          { x, batch, inF, outF, w, wStoredTransposed: wt, a, b, r, s: 0 },
          cols,
        );
        assert.ok(!compareToReference(y, outF, 1, noDelta, toleranceFor([dtype], false)).ok);
      });
    }
  }

  it('catches W read in the wrong orientation on a square weight', async () => {
    const n = 32;
    const x = randomNormal(batch * n, 5);
    const w = randomNormal(n * n, 6);
    const a = randomNormal(r * n, 7);
    const b = randomNormal(n * r, 8);
    const out = await run(
      { variant: 'linear-wt' },
      {
        x: f32(x, [batch, n]),
        w: f32(w, [n, n]),
        a: f32(a, [r, n]),
        b: f32(b, [n, r]),
        s: f32(Float32Array.of(1), [1]),
      },
    );
    const wrong = referenceLinear(
      { x, batch, inF: n, outF: n, w, wStoredTransposed: false, a, b, r, s: 1 },
      spacedIndices(n),
    );
    const cmp = compareToReference(
      out.y as Float32Array,
      n,
      1,
      wrong,
      toleranceFor(['F32'], false),
    );
    assert.equal(cmp.ok, false);
    assert.ok(cmp.maxAbsErr > 1, `error ${cmp.maxAbsErr}`);
  });

  for (const wt of [false, true]) {
    it(`DoRA linear${wt ? ' (W stored [in, out])' : ''}: in-graph forward = JS merged weight`, async () => {
      const x = randomNormal(batch * inF, 11);
      const wOi = randomNormal(outF * inF, 12).map((v) => v * 0.1);
      const w = wt ? transpose2d(wOi, outF, inF) : wOi;
      const a = randomNormal(r * inF, 13).map((v) => v * 0.1);
      const b = randomNormal(outF * r, 14).map((v) => v * 0.1);
      const m = randomNormal(outF, 15).map((v) => 1 + Math.abs(v));
      const out = await run(
        { variant: wt ? 'dora-linear-wt' : 'dora-linear' },
        {
          x: f32(x, [batch, inF]),
          w: f32(w, wt ? [inF, outF] : [outF, inF]),
          a: f32(a, [r, inF]),
          b: f32(b, [outF, r]),
          s: f32(Float32Array.of(s), [1]),
          m: f32(m, [outF]),
        },
      );
      const cols = spacedIndices(outF, 16);
      const ref = referenceLinear(
        { x, batch, inF, outF, w, wStoredTransposed: wt, a, b, r, s, magnitude: m },
        cols,
      );
      assertMatches(out.y as Float32Array, outF, 1, ref, 'F32');
      // Without the magnitude the numbers differ: the check sees DoRA's rescaling.
      const plain = referenceLinear(
        { x, batch, inF, outF, w, wStoredTransposed: wt, a, b, r, s },
        cols,
      );
      assert.ok(
        !compareToReference(out.y as Float32Array, outF, 1, plain, toleranceFor(['F32'], false)).ok,
      );
    });
  }

  for (const [kh, kw] of [
    [3, 3],
    [1, 1],
    [3, 1],
  ] as const) {
    it(`conv ${kh}×${kw} (same padding, stride 1)`, async () => {
      const [inC, outC, h, rr] = [6, 5, 7, 3];
      const x = randomNormal(2 * inC * h * h, 21);
      const w = stored(outC * inC * kh * kw, 22, 'F16', 0.2);
      const a = randomNormal(rr * inC * kh * kw, 23).map((v) => v * 0.2);
      const b = randomNormal(outC * rr, 24).map((v) => v * 0.2);
      const attrs = sameConv(kh, kw);
      const out = await run(
        { variant: 'conv', conv: attrs },
        {
          x: f32(x, [2, inC, h, h]),
          w: f32(w, [outC, inC, kh, kw]),
          a: f32(a, [rr, inC, kh, kw]),
          b: f32(b, [outC, rr, 1, 1]),
          s: f32(Float32Array.of(0.75), [1]),
        },
      );
      assert.equal(out.y?.length, 2 * outC * h * h);
      const ref = referenceConv(
        {
          x,
          batch: 2,
          inC,
          outC,
          h,
          wd: h,
          kh,
          kw,
          padH: attrs.pads[0],
          padW: attrs.pads[1],
          w,
          a,
          b,
          r: rr,
          s: 0.75,
        },
        spacedIndices(outC),
      );
      assertMatches(out.y as Float32Array, outC, h * h, ref, 'F16', true);
    });
  }

  it('embedding: Gather(W) + s·Gather(Aᵀ)·Bᵀ', async () => {
    const [vocab, dim, rr] = [50, 12, 4];
    const ids = [0, 7, 49, 7, 23];
    const w = stored(vocab * dim, 31, 'BF16');
    const a = randomNormal(rr * vocab, 32);
    const b = randomNormal(dim * rr, 33);
    const out = await run(
      { variant: 'embedding' },
      {
        ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [ids.length]),
        wids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [ids.length]),
        w: f32(w, [vocab, dim]),
        a: f32(a, [rr, vocab]),
        b: f32(b, [dim, rr]),
        s: f32(Float32Array.of(2), [1]),
      },
    );
    const ref = referenceEmbedding({ ids, dim, vocab, w, a, b, r: rr, s: 2 }, spacedIndices(dim));
    assertMatches(out.y as Float32Array, dim, 1, ref, 'BF16');
    // The base part is exactly the gathered rows.
    assert.deepEqual(
      [...(out.base as Float32Array).subarray(dim, 2 * dim)],
      [...w.subarray(7 * dim, 8 * dim)],
    );
  });

  it('keys sessions by variant and conv attributes', () => {
    assert.equal(graphSignature({ variant: 'linear' }), 'linear');
    assert.notEqual(
      graphSignature({ variant: 'conv', conv: sameConv(3, 3) }),
      graphSignature({ variant: 'conv', conv: sameConv(1, 1) }),
    );
  });
});
