import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountingByteSource, MemoryByteSource } from '../../../../src/core/formats/index.js';
import { ProtoReader, int64, packedVarints } from '../../../../src/core/formats/onnx/wire.js';
import { cat, len, tag, varint, vint } from './protoBuilder.js';

const reader = (bytes: Uint8Array) => new ProtoReader(new MemoryByteSource(bytes, 'test.onnx'));

describe('onnx wire: ProtoReader', () => {
  it('decodes varints from 1 to 10 bytes, including 2^64 − 1', async () => {
    const values = [
      0n,
      1n,
      127n,
      128n,
      300n,
      2n ** 49n - 1n,
      2n ** 49n,
      2n ** 56n + 5n,
      2n ** 64n - 1n,
    ];
    const bytes = cat(...values.map((v) => vint(1, v)));
    const r = reader(bytes);
    for (const v of values) {
      const f = await r.next(bytes.length);
      assert.equal(f.number, 1);
      assert.equal(f.value, v);
    }
    assert.equal(r.pos, bytes.length);
  });

  it('reads negative int64 as two’s complement and refuses values past 2^53', () => {
    assert.equal(int64(BigInt.asUintN(64, -5n), 'x'), -5);
    assert.throws(() => int64(2n ** 60n, 'x'), { code: 'LimitExceeded' });
  });

  it('refuses varints longer than 10 bytes', async () => {
    const bytes = cat(tag(1, 0), new Uint8Array(10).fill(0xff), Uint8Array.of(1));
    await assert.rejects(reader(bytes).next(bytes.length), { code: 'InvalidOnnx' });
  });

  it('a length past the enclosing message is InvalidOnnx, past the file Truncated', async () => {
    const field = cat(tag(2, 2), varint(5), Uint8Array.of(1, 2, 3, 4, 5));
    // The field fits the file but not a 4-byte message around it.
    await assert.rejects(reader(field).next(4), { code: 'InvalidOnnx' });
    const cut = field.subarray(0, 5);
    await assert.rejects(reader(cut).next(cut.length), { code: 'Truncated' });
  });

  it('a varint cut by the end of the file is Truncated', async () => {
    const bytes = cat(tag(1, 0), Uint8Array.of(0x80, 0x80));
    await assert.rejects(reader(bytes).next(bytes.length), { code: 'Truncated' });
  });

  it('refuses groups, unknown wire types and field number 0', async () => {
    for (const bytes of [tag(1, 3), tag(1, 4), tag(1, 6), tag(1, 7), Uint8Array.of(0x00, 0x00)]) {
      await assert.rejects(reader(bytes).next(bytes.length), { code: 'InvalidOnnx' });
    }
  });

  it('skips a large payload without reading it', async () => {
    const big = new Uint8Array(4 * 1024 * 1024);
    const bytes = cat(len(9, big), vint(2, 7));
    const counting = new CountingByteSource(new MemoryByteSource(bytes, 'big.onnx'));
    const r = new ProtoReader(counting);
    const f = await r.next(bytes.length);
    assert.equal(f.length, big.length);
    r.skip(f);
    assert.equal((await r.next(bytes.length)).value, 7n);
    assert.ok(counting.bytesRead < 4096, `${counting.bytesRead} bytes read`);
  });

  it('bounds strings', async () => {
    const bytes = len(8, new Uint8Array(100));
    const r = reader(bytes);
    await assert.rejects(r.string(await r.next(bytes.length), 99, 'name'), {
      code: 'LimitExceeded',
    });
  });

  it('packedVarints decodes and refuses a cut-off varint', () => {
    assert.deepEqual(
      [...packedVarints(cat(varint(3), varint(300), varint(-1)), 'x')],
      [3n, 300n, 2n ** 64n - 1n],
    );
    assert.throws(() => [...packedVarints(Uint8Array.of(0x80), 'x')], { code: 'InvalidOnnx' });
  });
});
