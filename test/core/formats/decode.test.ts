import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bf16ToNumber,
  decodeValues,
  halfToNumber,
  CheckpointError,
  type DType,
} from '../../../src/core/formats/index.js';

const le = (bytes: number[]) => new Uint8Array(bytes);

describe('decodeValues', () => {
  it('decodes F32 and F64 from an unaligned slice', () => {
    const buf = new Uint8Array(1 + 8);
    new DataView(buf.buffer).setFloat32(1, 1.5, true);
    new DataView(buf.buffer).setFloat32(5, -2.25, true);
    assert.deepEqual([...decodeValues(buf.subarray(1), 'F32')], [1.5, -2.25]);
    const b64 = new Uint8Array(3 + 8);
    new DataView(b64.buffer).setFloat64(3, Math.PI, true);
    assert.deepEqual([...decodeValues(b64.subarray(3), 'F64')], [Math.PI]);
  });

  it('decodes F16 including subnormals, infinities and NaN', () => {
    assert.equal(halfToNumber(0x3c00), 1);
    assert.equal(halfToNumber(0xc000), -2);
    assert.equal(halfToNumber(0x7bff), 65504);
    assert.equal(halfToNumber(0x0001), 2 ** -24);
    assert.equal(halfToNumber(0x7c00), Infinity);
    assert.equal(halfToNumber(0xfc00), -Infinity);
    assert.ok(Number.isNaN(halfToNumber(0x7e00)));
    assert.deepEqual([...decodeValues(le([0x00, 0x3c, 0x00, 0xc0]), 'F16')], [1, -2]);
  });

  it('decodes BF16', () => {
    assert.equal(bf16ToNumber(0x3f80), 1);
    assert.equal(bf16ToNumber(0xc040), -3);
    assert.deepEqual([...decodeValues(le([0x80, 0x3f, 0x40, 0xc0]), 'BF16')], [1, -3]);
  });

  it('decodes signed and unsigned integers of every width, and BOOL', () => {
    assert.deepEqual([...decodeValues(le([0xff, 0x7f]), 'I8')], [-1, 127]);
    assert.deepEqual([...decodeValues(le([0xff, 0x7f]), 'U8')], [255, 127]);
    assert.deepEqual([...decodeValues(le([0xfe, 0xff]), 'I16')], [-2]);
    assert.deepEqual([...decodeValues(le([0xfe, 0xff]), 'U16')], [65534]);
    assert.deepEqual([...decodeValues(le([0xff, 0xff, 0xff, 0xff]), 'I32')], [-1]);
    assert.deepEqual([...decodeValues(le([0xff, 0xff, 0xff, 0xff]), 'U32')], [4294967295]);
    assert.deepEqual(
      [...decodeValues(le([0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'I64')],
      [-3],
    );
    assert.deepEqual([...decodeValues(le([5, 0, 0, 0, 0, 0, 0, 0]), 'U64')], [5]);
    assert.deepEqual([...decodeValues(le([0, 1, 2]), 'BOOL')], [0, 1, 1]);
  });

  it('decodes C64 as interleaved real and imaginary parts', () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat32(0, 1, true);
    new DataView(b.buffer).setFloat32(4, -1, true);
    assert.deepEqual([...decodeValues(b, 'C64')], [1, -1]);
  });

  it('decodes the fp8 family by their own rules', () => {
    const one = (dtype: DType, byte: number) => decodeValues(le([byte]), dtype)[0] as number;
    // E4M3FN: bias 7, max 448, only S.1111.111 is NaN.
    assert.equal(one('F8_E4M3', 0x38), 1);
    assert.equal(one('F8_E4M3', 0x7e), 448);
    assert.ok(Number.isNaN(one('F8_E4M3', 0x7f)));
    assert.equal(one('F8_E4M3', 0x01), 2 ** -9);
    // E5M2: IEEE-like, bias 15.
    assert.equal(one('F8_E5M2', 0x3c), 1);
    assert.equal(one('F8_E5M2', 0x7b), 57344);
    assert.equal(one('F8_E5M2', 0x7c), Infinity);
    assert.ok(Number.isNaN(one('F8_E5M2', 0x7d)));
    // FNUZ variants: bias 8/16, 0x80 is NaN, no infinity.
    assert.equal(one('F8_E4M3FNUZ', 0x40), 1);
    assert.ok(Number.isNaN(one('F8_E4M3FNUZ', 0x80)));
    assert.equal(one('F8_E4M3FNUZ', 0x7f), 240);
    assert.equal(one('F8_E5M2FNUZ', 0x40), 1);
    assert.equal(one('F8_E5M2FNUZ', 0x7f), 57344);
    // E8M0: 2^(e-127).
    assert.equal(one('F8_E8M0', 127), 1);
    assert.equal(one('F8_E8M0', 130), 8);
    assert.ok(Number.isNaN(one('F8_E8M0', 255)));
  });

  it('refuses packed sub-byte types and ragged byte counts by name', () => {
    assert.throws(
      () => decodeValues(le([0]), 'F4'),
      (e: unknown) => (e as CheckpointError).code === 'UnsupportedDtype',
    );
    assert.throws(
      () => decodeValues(le([0, 0, 0]), 'F32'),
      (e: unknown) => (e as CheckpointError).code === 'InvalidRange',
    );
  });
});
