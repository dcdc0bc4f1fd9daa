import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MergePatch } from '../../../../src/core/export/merge/plan.js';
import { patchInitializer } from '../../../../src/core/export/onnxMerge/patchInitializers.js';
import { MemoryByteSource, openSafetensors } from '../../../../src/core/formats/index.js';
import { decodeValues } from '../../../../src/core/formats/decode.js';
import { encodeFloats } from '../../../../src/core/formats/encode.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import type { MappingEntry } from '../../../../src/core/mapping/types.js';
import { buildSafetensors } from '../../../helpers/safetensorsBuilder.js';

/** A small deterministic generator (not the code under test's). */
function values(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

interface Case {
  /** Stored initializer shape. */
  shape: number[];
  dtype?: 'F32' | 'F16' | 'BF16';
  out: number;
  inK: number;
  rank: number;
  scale: number;
  transposed: boolean;
  rowStart?: number;
  colStart?: number;
  /** Adapter factors stored [in, r] / [r, out] (MLX / ONNX adapters). */
  adapterTransposed?: boolean;
  dora?: boolean;
  kind?: LoraModule['kind'];
  block?: number;
}

/**
 * The expected stored initializer, written straight from the formulas: ΔW[o,i] = s·Σ_r B[o,r]·A[r,i],
 * stored as is at rows rowStart.. or transposed at cols colStart..; DoRA scales each output row of
 * W + ΔW to the magnitude.
 */
function expected(c: Case, w: number[], a: number[], b: number[], m: number[]): number[] {
  const cols = c.shape.slice(1).reduce((x, y) => x * y, 1);
  const at = (o: number, i: number) =>
    c.transposed ? i * cols + (c.colStart ?? 0) + o : ((c.rowStart ?? 0) + o) * cols + i;
  const res = [...w];
  for (let o = 0; o < c.out; o++) {
    const row: number[] = [];
    for (let i = 0; i < c.inK; i++) {
      let d = 0;
      for (let k = 0; k < c.rank; k++)
        d += (b[o * c.rank + k] as number) * (a[k * c.inK + i] as number);
      row.push((w[at(o, i)] as number) + c.scale * d);
    }
    const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    row.forEach((v, i) => (res[at(o, i)] = c.dora ? ((m[o] as number) / norm) * v : v));
  }
  return res;
}

async function merge(
  c: Case,
): Promise<{ got: Float64Array; want: number[]; raw: Uint8Array; out: Uint8Array }> {
  const dtype = c.dtype ?? 'F32';
  const n = c.shape.reduce((x, y) => x * y, 1);
  const wRaw = encodeFloats(values(n, 1), dtype);
  const w = [...decodeValues(wRaw, dtype)];
  const a = values(c.rank * c.inK, 2);
  const b = values(c.out * c.rank, 3);
  const m = values(c.out, 4).map((v) => 1 + v);
  const transpose = (x: number[], rows: number, cols: number) =>
    Array.from(
      { length: rows * cols },
      (_, j) => x[(j % rows) * cols + Math.floor(j / rows)] as number,
    );
  const down = c.adapterTransposed ? transpose(a, c.rank, c.inK) : a;
  const up = c.adapterTransposed ? transpose(b, c.out, c.rank) : b;
  const adapter = await openSafetensors(
    new MemoryByteSource(
      buildSafetensors([
        {
          name: 'down',
          dtype: 'F64',
          shape: c.adapterTransposed ? [c.inK, c.rank] : [c.rank, c.inK],
          data: encode64(down),
        },
        {
          name: 'up',
          dtype: 'F64',
          shape: c.adapterTransposed ? [c.rank, c.out] : [c.out, c.rank],
          data: encode64(up),
        },
        { name: 'mag', dtype: 'F64', shape: [c.out], data: encode64(m) },
      ]),
    ),
  );
  const base = await openSafetensors(
    new MemoryByteSource(buildSafetensors([{ name: 'w', dtype, shape: c.shape, data: wRaw }])),
  );
  const patch: MergePatch = {
    module: {
      name: 'm',
      kind: c.kind ?? 'linear',
      parts: { down: 'down', up: 'up' },
      orientation: c.adapterTransposed ? 'transposed' : 'standard',
    } as unknown as LoraModule,
    entry: { transposed: c.transposed, slice: null } as unknown as MappingEntry,
    target: base.tensor('w'),
    dtype,
    rows: c.shape[0] as number,
    cols: n / (c.shape[0] as number),
    out: c.out,
    inK: c.inK,
    rank: c.rank,
    scale: c.scale,
    transposed: c.transposed,
    rowStart: c.rowStart ?? 0,
    colStart: c.colStart ?? 0,
    magnitude: c.dora ? 'mag' : null,
  };
  const out = wRaw.slice();
  await patchInitializer(
    base,
    adapter,
    [patch],
    async (offset, bytes) => void out.set(bytes, offset),
    undefined,
    c.block ?? 1 << 20,
  );
  return { got: decodeValues(out, dtype), want: expected(c, w, a, b, m), raw: wRaw, out };
}

function encode64(v: number[]): Uint8Array {
  return new Uint8Array(Float64Array.from(v).buffer);
}

function assertNear(got: Float64Array, want: number[], tol: number): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    assert.ok(
      err <= tol * (1 + Math.abs(want[i] as number)),
      `element ${i}: ${got[i]} vs ${want[i]}`,
    );
  }
}

describe('ΔW merge math', () => {
  it('linear, stored [out, in]', async () => {
    const { got, want } = await merge({
      shape: [6, 5],
      out: 6,
      inK: 5,
      rank: 2,
      scale: 2,
      transposed: false,
    });
    assertNear(got, want, 1e-6);
  });

  it('linear, stored [in, out] (ONNX MatMul weight), across block edges', async () => {
    const { got, want } = await merge({
      shape: [5, 6],
      out: 6,
      inK: 5,
      rank: 3,
      scale: 0.5,
      transposed: true,
      block: 7,
    });
    assertNear(got, want, 1e-6);
  });

  it('adapter factors stored transposed (down [in, r], up [r, out])', async () => {
    const { got, want } = await merge({
      shape: [5, 6],
      out: 6,
      inK: 5,
      rank: 3,
      scale: 1.5,
      transposed: true,
      adapterTransposed: true,
    });
    assertNear(got, want, 1e-6);
  });

  it('conv 3×3: ΔW[o,i,:,:] = s·Σ_r B[o,r]·A[r,i,:,:]', async () => {
    const { got, want } = await merge({
      shape: [4, 3, 3, 3],
      out: 4,
      inK: 27,
      rank: 2,
      scale: 1,
      transposed: false,
      kind: 'conv',
    });
    assertNear(got, want, 1e-6);
  });

  it('a slice of a fused weight: rows of [out, in], columns of [in, out]; the rest is byte-identical', async () => {
    for (const c of [
      {
        shape: [10, 4],
        out: 3,
        inK: 4,
        rank: 2,
        scale: 1,
        transposed: false,
        rowStart: 5,
        block: 8,
      },
      {
        shape: [4, 10],
        out: 3,
        inK: 4,
        rank: 2,
        scale: 1,
        transposed: true,
        colStart: 7,
        block: 8,
      },
    ] satisfies Case[]) {
      const { got, want, raw, out } = await merge(c);
      assertNear(got, want, 1e-6);
      const changed = [...out].filter((v, i) => v !== raw[i]).length;
      assert.ok(changed > 0 && changed <= 3 * 4 * 4, `${changed} bytes changed`);
      for (let k = 0; k < got.length; k++) {
        const row = Math.floor(k / (c.shape[1] as number));
        const col = k % (c.shape[1] as number);
        const inside = c.transposed ? col >= 7 : row >= 5 && row < 8;
        if (!inside)
          assert.deepEqual(out.subarray(k * 4, k * 4 + 4), raw.subarray(k * 4, k * 4 + 4));
      }
    }
  });

  it('DoRA: W′ = m / ‖W + ΔW‖_row · (W + ΔW), in either layout', async () => {
    for (const transposed of [false, true]) {
      const shape = transposed ? [5, 6] : [6, 5];
      const { got, want } = await merge({
        shape,
        out: 6,
        inK: 5,
        rank: 2,
        scale: 2,
        transposed,
        dora: true,
        block: 6,
      });
      assertNear(got, want, 1e-6);
      // Each output row of the result has the magnitude as its norm.
      const m = values(6, 4).map((v) => 1 + v);
      for (let o = 0; o < 6; o++) {
        let sq = 0;
        for (let i = 0; i < 5; i++) sq += (got[transposed ? i * 6 + o : o * 5 + i] as number) ** 2;
        assert.ok(Math.abs(Math.sqrt(sq) - (m[o] as number)) < 1e-5, `row ${o}`);
      }
    }
  });

  it('casts back to F16 and BF16 (rounded to nearest)', async () => {
    const f16 = await merge({
      shape: [5, 6],
      dtype: 'F16',
      out: 6,
      inK: 5,
      rank: 2,
      scale: 1,
      transposed: true,
    });
    assertNear(f16.got, f16.want, 1e-3);
    const bf16 = await merge({
      shape: [5, 6],
      dtype: 'BF16',
      out: 6,
      inK: 5,
      rank: 2,
      scale: 1,
      transposed: true,
    });
    assertNear(bf16.got, bf16.want, 8e-3);
  });

  it('refuses a result that is not finite in the stored dtype', async () => {
    await assert.rejects(
      merge({ shape: [5, 6], dtype: 'F16', out: 6, inK: 5, rank: 2, scale: 1e6, transposed: true }),
      /non-finite F16 value/,
    );
  });
});
