/**
 * The resize speed-ups change how the work is laid out, never its arithmetic: each fast path is
 * compared bit for bit with the straightforward version it replaced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bf16ToNumber, halfToNumber } from '../../../src/core/formats/decode.js';
import { encodeFloats } from '../../../src/core/formats/encode.js';
import { castModule } from '../../../src/core/surgery/castReport.js';
import { decodeFloats } from '../../../src/core/surgery/floatBytes.js';
import {
  combineRows,
  gramRows,
  traceOfProduct,
  transpose,
} from '../../../src/core/surgery/lowRank.js';
import { randomLowRank, rng } from './helpers.js';

function naiveTranspose(x: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(x.length);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j] as number;
  return t;
}

/** Tᵀ·X as first written: whole rows, four output rows per pass, two rows of X at a time. */
function wholeRowCombine(
  t: Float64Array,
  x: Float64Array,
  r: number,
  k: number,
  n: number,
): Float64Array {
  const out = new Float64Array(k * n);
  let j = 0;
  for (; j + 3 < k; j += 4) {
    let p = 0;
    for (; p + 1 < r; p += 2)
      for (let q = 0; q < 4; q++)
        for (let i = 0; i < n; i++)
          out[(j + q) * n + i] =
            (out[(j + q) * n + i] as number) +
            (t[p * k + j + q] as number) * (x[p * n + i] as number) +
            (t[(p + 1) * k + j + q] as number) * (x[(p + 1) * n + i] as number);
    for (; p < r; p++)
      for (let q = 0; q < 4; q++)
        for (let i = 0; i < n; i++)
          out[(j + q) * n + i] =
            (out[(j + q) * n + i] as number) +
            (t[p * k + j + q] as number) * (x[p * n + i] as number);
  }
  for (; j < k; j++)
    for (let p = 0; p < r; p++) {
      const c = t[p * k + j] as number;
      if (c === 0) continue;
      for (let i = 0; i < n; i++)
        out[j * n + i] = (out[j * n + i] as number) + c * (x[p * n + i] as number);
    }
  return out;
}

/** The cast error as first written: the stacked [δB, B̃] and [A; δA] and their 2k-row Grams. */
function stackedCastError(
  out: number,
  inK: number,
  k: number,
  b: Float64Array,
  a: Float64Array,
  bBack: Float64Array,
  aBack: Float64Array,
): number {
  const leftT = new Float64Array(2 * k * out);
  for (let o = 0; o < out; o++)
    for (let j = 0; j < k; j++) {
      const stored = bBack[o * k + j] as number;
      leftT[j * out + o] = stored - (b[o * k + j] as number);
      leftT[(k + j) * out + o] = stored;
    }
  const right = new Float64Array(2 * k * inK);
  right.set(a);
  for (let i = 0; i < a.length; i++) right[a.length + i] = (aBack[i] as number) - (a[i] as number);
  return traceOfProduct(gramRows(leftT, 2 * k, out), gramRows(right, 2 * k, inK));
}

describe('resize fast paths', () => {
  it('blocked transpose equals the element-by-element one (block remainders, power-of-two rows)', () => {
    const g = rng(3);
    for (const [rows, cols] of [
      [1, 1],
      [7, 3],
      [8, 5],
      [13, 7],
      [64, 16],
      [4096, 4],
      [16, 4096],
      [1027, 9],
    ] as const) {
      const x = Float64Array.from({ length: rows * cols }, () => g());
      assert.deepEqual(transpose(x, rows, cols), naiveTranspose(x, rows, cols), `${rows}×${cols}`);
    }
  });

  it('column-blocked combineRows equals the whole-row one bit for bit', () => {
    const g = rng(4);
    for (const [r, k, n] of [
      [64, 16, 4096],
      [7, 6, 1000],
      [5, 3, 257],
      [2, 4, 255],
      [1, 1, 1],
    ] as const) {
      const t = Float64Array.from({ length: r * k }, () => g());
      const x = Float64Array.from({ length: r * n }, () => g());
      assert.deepEqual(
        combineRows(t, x, r, k, n),
        wholeRowCombine(t, x, r, k, n),
        `${r}×${k}×${n}`,
      );
    }
  });

  it('the 16-bit view decodes F16 / BF16 as the byte path does, aligned or not', () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const bytes = new Uint8Array(codes.buffer);
    const odd = new Uint8Array(bytes.length + 1).subarray(1);
    odd.set(bytes);
    for (const dtype of ['F16', 'BF16'] as const) {
      const aligned = decodeFloats(bytes, dtype);
      const unaligned = decodeFloats(odd, dtype);
      assert.deepEqual(aligned, unaligned, dtype);
      // The Float32 table holds every value exactly: equal to the shared one-value decoder.
      const one = dtype === 'F16' ? halfToNumber : bf16ToNumber;
      for (let h = 0; h < 65536; h++) {
        const want = one(h);
        if (!Number.isNaN(want))
          assert.ok(Object.is(aligned[h], want), `${dtype} 0x${h.toString(16)}`);
        else assert.ok(Number.isNaN(aligned[h]));
      }
      // Every finite code decodes to a value that encodes back to the same bits.
      const back = new Uint16Array(encodeFloats(aligned, dtype).buffer);
      for (let h = 0; h < 65536; h++)
        if (Number.isFinite(aligned[h])) assert.equal(back[h], h, `${dtype} 0x${h.toString(16)}`);
    }
  });

  it('the cast error from k×k blocks equals the stacked 2k-row Grams bit for bit', () => {
    for (const [out, inK, k, dtype] of [
      [37, 53, 5, 'F16'],
      [96, 64, 8, 'BF16'],
      [40, 24, 3, 'F32'],
    ] as const) {
      const f = randomLowRank(out, inK, k, out + inK, 0.5);
      const cast = castModule(f, dtype, 'm', false);
      const bBack = decodeFloats(cast.upBytes, dtype);
      const aBack = decodeFloats(cast.downBytes, dtype);
      const errSquared = stackedCastError(out, inK, k, f.b, f.a, bBack, aBack);
      const norm = Math.sqrt(
        traceOfProduct(gramRows(naiveTranspose(f.b, out, k), k, out), gramRows(f.a, k, inK)),
      );
      const expected = Math.sqrt(Math.max(0, f.scale * f.scale * errSquared));
      const got = castModule(f, dtype, 'm', false, norm * Math.abs(f.scale)).relativeError;
      assert.equal(got, expected / (norm * Math.abs(f.scale)), `${out}×${inK} r${k} ${dtype}`);
    }
  });
});
