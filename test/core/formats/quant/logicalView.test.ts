import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryByteSource,
  openSafetensors,
  type Checkpoint,
} from '../../../../src/core/formats/index.js';
import {
  isQuantizedCheckpoint,
  withQuantizedWeights,
} from '../../../../src/core/formats/quant/logicalView.js';
import {
  floatReadable,
  readFloatElements,
  readFloatTensor,
} from '../../../../src/core/formats/quant/readFloat.js';
import { quantizationSummary } from '../../../../src/core/formats/quant/summary.js';
import type { QuantScheme, QuantizedWeight } from '../../../../src/core/formats/quant/types.js';
import { TensorTree } from '../../../../src/core/view/tensorTree.js';
import { buildSafetensors, f32Bytes } from '../../../helpers/safetensorsBuilder.js';

/**
 * A toy scheme for the view's own tests: `<m>.q` I8 [out, in] with `<m>.s` F32 [out] → `<m>.weight`,
 * W = q · s[row]. The real schemes have tests of their own.
 */
const toy: QuantScheme = {
  id: 'fp8',
  recognise(ctx) {
    const out: QuantizedWeight[] = [];
    for (const q of ctx.tensors) {
      if (!q.name.endsWith('.q')) continue;
      const m = q.name.slice(0, -2);
      const s = ctx.byName.get(`${m}.s`);
      if (!s) continue;
      const [rows = 0, cols = 0] = q.shape;
      out.push({
        name: `${m}.weight`,
        shape: [rows, cols],
        quant: {
          scheme: 'fp8',
          dtype: 'TOY8',
          label: 'toy int8 per row',
          bits: 8,
          bitsPerWeight: ((q.byteLength + s.byteLength) * 8) / (rows * cols),
          layout: 'int8 [out, in], F32 scale per row',
          parts: { q, s },
          scaleDtype: 'F32',
        },
        async dequantizeRows(read, start, count, dst) {
          const qb = await read.bytes(q, start * cols, count * cols);
          const sb = await read.elements(s, { start, count });
          const scales = new Float32Array(sb.slice().buffer);
          for (let r = 0; r < count; r++)
            for (let c = 0; c < cols; c++) {
              const v = ((qb[r * cols + c] as number) << 24) >> 24;
              dst[r * cols + c] = v * (scales[r] as number);
            }
        },
      });
    }
    return Promise.resolve(out);
  },
};

const Q = new Int8Array([1, -2, 3, 4, -5, 6]); // [2, 3]
const S = [0.5, 2];

async function open(
  extra: { name: string; dtype: string; shape: number[]; data: Uint8Array }[] = [],
) {
  const file = buildSafetensors([
    { name: 'layer.q', dtype: 'I8', shape: [2, 3], data: new Uint8Array(Q.buffer) },
    { name: 'layer.s', dtype: 'F32', shape: [2], data: f32Bytes(S) },
    { name: 'norm.weight', dtype: 'F32', shape: [3], data: f32Bytes([1, 1, 1]) },
    ...extra,
  ]);
  const stored = await openSafetensors(new MemoryByteSource(file, 'toy.safetensors'));
  return withQuantizedWeights(stored, [toy]);
}

describe('logical view of quantized weights', () => {
  it('replaces the parts with one logical weight and keeps the rest', async () => {
    const cp = await open();
    assert.ok(isQuantizedCheckpoint(cp));
    assert.deepEqual(
      cp.tensors.map((t) => t.name),
      ['layer.weight', 'norm.weight'],
    );
    const w = cp.tensor('layer.weight');
    assert.equal(w.dtype, 'TOY8');
    assert.deepEqual(w.shape, [2, 3]);
    assert.equal(w.parameterCount, 6);
    assert.equal(w.byteLength, 6 + 8);
    assert.equal(cp.parameterCount, 9);
    // Parts are still found by their stored names.
    assert.equal(cp.tensor('layer.q').dtype, 'I8');
    await assert.rejects(cp.readTensorBytes(w), { code: 'UnsupportedDtype' });
  });

  it('reads dequantized floats by rows and by unaligned element ranges', async () => {
    const cp = await open();
    const w = cp.tensor('layer.weight');
    assert.deepEqual([...(await readFloatTensor(cp, w))], [0.5, -1, 1.5, 8, -10, 12]);
    const mid = new Float32Array(3);
    await readFloatElements(cp, w, 2, 3, mid);
    assert.deepEqual([...mid], [1.5, 8, -10]);
    assert.equal(floatReadable(cp, w), true);
    assert.match(String(floatReadable(cp, cp.tensor('layer.q'))), /neither a float dtype/);
  });

  it('refuses a tensor claimed by two weights (schemes only see unclaimed tensors)', async () => {
    const file = buildSafetensors([
      { name: 'layer.q', dtype: 'I8', shape: [2, 3], data: new Uint8Array(Q.buffer) },
      { name: 'layer.s', dtype: 'F32', shape: [2], data: f32Bytes(S) },
    ]);
    const stored: Checkpoint = await openSafetensors(new MemoryByteSource(file, 'x.safetensors'));
    // A second scheme is offered only what the first left: no clash.
    assert.equal((await withQuantizedWeights(stored, [toy, toy])).tensors.length, 1);
    // One scheme that hands out the same part twice is a bug in the scheme, refused by name.
    const twice: QuantScheme = {
      id: 'fp8',
      recognise: async (ctx) => {
        const ws = await toy.recognise(ctx);
        return [...ws, ...ws.map((w) => ({ ...w, name: `${w.name}2` }))];
      },
    };
    await assert.rejects(withQuantizedWeights(stored, [twice]), {
      code: 'InvalidQuantization',
      message: /would be part of both layer\.weight and layer\.weight2/,
    });
  });

  it('leaves a checkpoint with nothing quantized unchanged', async () => {
    const file = buildSafetensors([
      { name: 'a.weight', dtype: 'F32', shape: [1], data: f32Bytes([1]) },
    ]);
    const stored = await openSafetensors(new MemoryByteSource(file, 'x.safetensors'));
    assert.equal(await withQuantizedWeights(stored, [toy]), stored);
    assert.equal(quantizationSummary(stored), null);
  });

  it('summarises the scheme and what it saves against 16 bits', async () => {
    const q = quantizationSummary(await open());
    assert.ok(q);
    assert.equal(q.quantizedWeights, 1);
    assert.equal(q.quantizedParameters, 6);
    assert.equal(q.storedBytes, 14);
    assert.equal(q.bytesAt16Bit, 12);
    assert.equal(q.savedBytes, -2);
    assert.equal(q.floatParameters, 3);
    assert.equal(q.schemes[0]?.bitsPerWeight, (14 * 8) / 6);
  });

  it('folds the stored parts under the weight in the tree, counted once', async () => {
    const cp = await open();
    const tree = new TensorTree(cp.tensors);
    tree.expandAll();
    const rows = tree.rows(0, 20);
    const weight = rows.find((r) => r.path === 'layer.weight');
    assert.ok(weight);
    assert.equal(weight.kind, 'group');
    assert.equal(weight.parts, 2);
    assert.equal(weight.dtype, 'TOY8');
    assert.match(weight.note ?? '', /toy int8 per row · 18\.67 bits\/weight/);
    assert.deepEqual(weight.totals, { tensors: 1, params: 6, bytes: 14 });
    const parts = rows.filter((r) => r.path === 'layer.q' || r.path === 'layer.s');
    assert.deepEqual(
      parts.map((r) => [r.label, r.dtype, r.depth]),
      [
        ['q', 'I8', weight.depth + 1],
        ['s', 'F32', weight.depth + 1],
      ],
    );
    assert.deepEqual(tree.total, { tensors: 2, params: 9, bytes: 14 + 12 });
    // Filtering for the weight keeps its parts visible.
    tree.setQuery('layer');
    const filtered = tree.rows(0, 20).map((r) => r.path);
    assert.ok(filtered.includes('layer.q') && filtered.includes('layer.s'), filtered.join(', '));
  });
});
