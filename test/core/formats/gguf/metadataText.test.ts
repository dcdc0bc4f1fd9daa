import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GgufValueType as V } from '../../../../src/core/formats/gguf/index.js';
import { MemoryByteSource } from '../../../../src/core/formats/index.js';
import {
  arrayText,
  f32Text,
  ggufReader,
  scalarText,
} from '../../../../src/core/formats/gguf/index.js';
import { ARCH_LLAMA, buildGguf } from './ggufBuilder.js';

describe('gguf: metadata as text', () => {
  it('writes f32 values at f32 precision', () => {
    assert.equal(f32Text(16), '16');
    assert.equal(f32Text(Math.fround(0.1)), '0.1');
    assert.equal(f32Text(Math.fround(1e-5)), '0.00001');
    assert.equal(f32Text(Math.fround(1e-30)), '1e-30');
    assert.equal(f32Text(Math.fround(16777217)), '16777216');
    assert.equal(f32Text(-0), '-0');
    assert.equal(f32Text(NaN), 'NaN');
    assert.equal(f32Text(-Infinity), '-Infinity');
  });

  it('writes scalars as String does, f32 at f32 precision', () => {
    assert.equal(scalarText(V.STRING, 'a "b"'), 'a "b"');
    assert.equal(scalarText(V.UINT64, 3n), '3');
    assert.equal(scalarText(V.BOOL, false), 'false');
    assert.equal(scalarText(V.FLOAT64, 0.1), '0.1');
    assert.equal(scalarText(V.FLOAT32, Math.fround(0.1)), '0.1');
  });

  it('writes short arrays as compact JSON', () => {
    assert.equal(arrayText(2, V.FLOAT32, [Math.fround(0.1), 2]), '[0.1,2]');
    assert.equal(arrayText(2, V.UINT64, [1n, 2n ** 63n]), '[1,9223372036854775808]');
    assert.equal(arrayText(2, V.STRING, ['x', 'y"']), '["x","y\\""]');
    assert.equal(arrayText(0, V.INT32, []), '[]');
    assert.equal(
      arrayText(2, V.ARRAY, [{ arrayText: '[1,2]' }, { arrayText: '[3]' }]),
      '[[1,2],[3]]',
    );
  });

  it('describes long arrays by length and first items', () => {
    const ids = Array.from({ length: 32 }, (_, i) => i);
    assert.equal(arrayText(128256, V.INT32, ids), '[array of 128256 i32] [0,1,2,3,4,…]');
    assert.equal(arrayText(33, V.INT32, ids), '[array of 33 i32] [0,1,2,3,4,…]');
    assert.equal(arrayText(32, V.INT32, ids), `[${ids.join(',')}]`);
    const merges = Array.from({ length: 20 }, () => 'ab'.repeat(40));
    assert.equal(
      arrayText(20, V.STRING, merges),
      `[array of 20 strings] [${Array(5)
        .fill(`"${'ab'.repeat(20)}…"`)
        .join(',')},…]`,
    );
    const bools = Array.from({ length: 32 }, (_, i) => i % 2 === 0);
    assert.equal(
      arrayText(40, V.BOOL, bools),
      '[array of 40 bools] [true,false,true,false,true,…]',
    );
  });

  it('opens a version 1 file (32-bit counts and lengths) and says llama.cpp no longer loads it', async () => {
    const { bytes } = buildGguf({
      version: 1,
      kvs: [ARCH_LLAMA, { key: 'x.alpha', type: V.FLOAT32, value: 8 }],
      tensors: [{ name: 'w', ne: [2], type: 0, data: new Uint8Array(8) }],
    });
    const ckpt = await ggufReader.open(new MemoryByteSource(bytes, 'v1.gguf'));
    assert.equal(ckpt.metadata['gguf.version'], '1');
    assert.equal(ckpt.metadata['x.alpha'], '8');
    assert.deepEqual(ckpt.tensors[0]?.shape, [2]);
    assert.match(ckpt.warnings?.join('\n') ?? '', /version 1/);
  });

  it('honours general.alignment', async () => {
    const { bytes, dataStart } = buildGguf({
      alignment: 64,
      kvs: [ARCH_LLAMA, { key: 'general.alignment', type: V.UINT32, value: 64 }],
      tensors: [
        { name: 'a', ne: [3], type: 0, data: new Uint8Array(12) },
        { name: 'b', ne: [3], type: 0, data: new Uint8Array(12) },
      ],
    });
    assert.equal(dataStart % 64, 0);
    const ckpt = await ggufReader.open(new MemoryByteSource(bytes, 'a.gguf'));
    assert.equal(ckpt.metadata['gguf.alignment'], '64');
    assert.deepEqual(
      ckpt.tensors.map((t) => t.offset),
      [dataStart, dataStart + 64],
    );
    assert.equal(ckpt.headerByteLength, dataStart);
  });
});
