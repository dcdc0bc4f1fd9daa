/** F8_E4M3 encoding (against the shared decoder) and the factor-only cast error (against dense). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeValues } from '../../../src/core/formats/decode.js';
import { encodeE4M3, numberToE4M3 } from '../../../src/core/formats/encodeF8.js';
import { castModule } from '../../../src/core/surgery/castReport.js';
import { dense, randomLowRank, relDiff } from './helpers.js';

describe('F8_E4M3 encoder', () => {
  it('round-trips every finite code through the shared decoder', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i).filter((c) => (c & 0x7f) !== 0x7f);
    const values = decodeValues(codes, 'F8_E4M3');
    const back = new Uint8Array(values.length);
    assert.equal(encodeE4M3(values, back), -1);
    // −0 encodes as 0x80, +0 as 0x00: the byte identity holds for all 254 finite codes.
    assert.deepEqual([...back], [...codes]);
  });

  it('rounds to nearest, ties to even, saturates up to 464 and refuses beyond', () => {
    assert.equal(numberToE4M3(1.0625), numberToE4M3(1)); // halfway 1 ↔ 1.125: even mantissa 0
    assert.equal(numberToE4M3(1.1875), numberToE4M3(1.25)); // halfway 1.125 ↔ 1.25: even is 1.25
    assert.equal(numberToE4M3(1.07), numberToE4M3(1.125));
    assert.equal(numberToE4M3(460), 0x7e);
    assert.equal(numberToE4M3(-460), 0xfe);
    assert.equal(numberToE4M3(464), -1);
    assert.equal(numberToE4M3(Number.NaN), -1);
    assert.equal(numberToE4M3(2 ** -10), 0); // below half the smallest subnormal (2⁻⁹)
    assert.equal(numberToE4M3(2 ** -9), 1);
  });
});

describe('castModule', () => {
  for (const dtype of ['F32', 'F16', 'BF16', 'F8_E4M3'] as const) {
    it(`${dtype}: the factor-only error equals ‖ΔW_cast − ΔW‖ / ‖ΔW‖ computed densely`, () => {
      const f = randomLowRank(40, 56, 6, 11, 0.25, 0.6);
      const c = castModule(f, dtype, 'm');
      const up = decodeValues(c.upBytes, dtype);
      const down = decodeValues(c.downBytes, dtype);
      const stored = dense({ ...f, b: up, a: down, scale: c.scale });
      const actual = relDiff(stored, dense(f));
      assert.ok(
        Math.abs(c.relativeError - actual) <= 1e-6 * actual + 1e-15,
        `${c.relativeError} vs ${actual}`,
      );
      if (dtype === 'F8_E4M3') assert.ok(actual < 0.08, `F8 error ${actual}`);
    });
  }

  it('F8 power-of-two scaling moves only the scale (ΔW unchanged before rounding)', () => {
    const f = randomLowRank(16, 16, 2, 12, 1);
    for (let i = 0; i < f.b.length; i++) f.b[i] = (f.b[i] as number) * 1e-4;
    const plain = castModule(f, 'F8_E4M3', 'm', false);
    const scaled = castModule(f, 'F8_E4M3', 'm');
    assert.notEqual(scaled.scale, f.scale);
    assert.ok(Number.isInteger(Math.log2(f.scale / scaled.scale)));
    assert.ok(
      scaled.relativeError < plain.relativeError / 4,
      `${scaled.relativeError} vs ${plain.relativeError}`,
    );
  });

  it('refuses a value beyond F16 by name', () => {
    const f = randomLowRank(4, 4, 1, 13);
    f.b[0] = 1e6;
    assert.throws(() => castModule(f, 'F16', 'big'), { code: 'CastOverflow' });
  });
});
