import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeValues } from '../../../src/core/formats/decode.js';
import { encodeFloats } from '../../../src/core/formats/encode.js';
import { sliceColumns, toFloat32, transpose2d } from '../../../src/core/formats/floatDecode.js';

/** Same value, NaN equal to NaN, and +0 distinct from −0. */
function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('toFloat32', () => {
  it('decodes all 65,536 F16 patterns exactly as decodeValues does', () => {
    const bytes = new Uint8Array(65536 * 2);
    const dv = new DataView(bytes.buffer);
    for (let h = 0; h < 65536; h++) dv.setUint16(h * 2, h, true);
    const fast = toFloat32(bytes, 'F16');
    const exact = decodeValues(bytes, 'F16');
    assert.equal(fast.length, 65536);
    let bad = 0;
    for (let h = 0; h < 65536; h++) if (!sameFloat(fast[h] as number, exact[h] as number)) bad++;
    assert.equal(bad, 0);
    // A few landmarks, so a table built wrongly in both places would still show.
    assert.equal(fast[0x3c00], 1);
    assert.equal(fast[0xc000], -2);
    assert.equal(fast[0x0001], 2 ** -24);
    assert.equal(fast[0x7c00], Infinity);
  });

  it('decodes BF16 exactly as decodeValues does (every 7th pattern and the specials)', () => {
    const patterns: number[] = [];
    for (let b = 0; b < 65536; b += 7) patterns.push(b);
    patterns.push(0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0xffff);
    const bytes = new Uint8Array(patterns.length * 2);
    const dv = new DataView(bytes.buffer);
    patterns.forEach((p, i) => dv.setUint16(i * 2, p, true));
    const fast = toFloat32(bytes, 'BF16');
    const exact = decodeValues(bytes, 'BF16');
    patterns.forEach((p, i) =>
      assert.ok(sameFloat(fast[i] as number, exact[i] as number), `pattern 0x${p.toString(16)}`),
    );
    assert.equal(fast[patterns.indexOf(0x3f80)], 1);
  });

  it('reads F32 at an odd byte offset and F64 by rounding to float32', () => {
    const values = [1.5, -2.25, 3e-8, 65504];
    const f32 = encodeFloats(values, 'F32');
    const shifted = new Uint8Array(f32.length + 1);
    shifted.set(f32, 1);
    assert.deepEqual([...toFloat32(shifted.subarray(1), 'F32')], values.map(Math.fround));
    const f64 = new Uint8Array(new Float64Array([0.1, -7]).buffer);
    assert.deepEqual([...toFloat32(f64, 'F64')], [Math.fround(0.1), -7]);
  });

  it('refuses dtypes it cannot feed', () => {
    assert.throws(() => toFloat32(new Uint8Array(4), 'I32'), /cannot decode I32/);
  });
});

describe('matrix helpers', () => {
  it('transposes and slices columns of row-major matrices', () => {
    const m = Float32Array.from([1, 2, 3, 4, 5, 6]); // [2, 3]
    assert.deepEqual([...transpose2d(m, 2, 3)], [1, 4, 2, 5, 3, 6]);
    assert.deepEqual([...sliceColumns(m, 2, 3, 1, 3)], [2, 3, 5, 6]);
  });
});
