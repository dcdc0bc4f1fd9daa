import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  gatherStrided,
  isContiguous,
  layoutOf,
  swapBytes,
} from '../../../../src/core/formats/torch/tensorLayout.js';
import { TorchStorage, TorchTensor } from '../../../../src/core/formats/torch/pickleValues.js';
import { torchDtype } from '../../../../src/core/formats/torch/torchDtypes.js';

const dtype = (name: string) => {
  const d = torchDtype(name);
  assert.ok(d);
  return d;
};
const F32 = dtype('float32');

function view(shape: number[], stride: number[], offset = 0, numel = 64): TorchTensor {
  return new TorchTensor(
    new TorchStorage('0', F32, 'cpu', numel),
    F32,
    offset,
    shape,
    stride,
    false,
  );
}

/** Element i of the storage holds the value i. */
function storageBytes(numel: number): Uint8Array {
  return new Uint8Array(Float32Array.from({ length: numel }, (_, i) => i).buffer);
}

/** What torch would give: walk every index row-major. */
function naive(t: TorchTensor): number[] {
  const out: number[] = [];
  const idx = t.shape.map(() => 0);
  const n = t.shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    out.push(t.storageOffset + idx.reduce((s, v, d) => s + v * (t.stride[d] as number), 0));
    for (let d = t.shape.length - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (t.shape[d] as number)) break;
      idx[d] = 0;
    }
  }
  return out;
}

function gather(t: TorchTensor): number[] {
  const layout = layoutOf(t, 't');
  const all = storageBytes(64);
  const span = all.subarray(layout.spanStart * 4, layout.spanEnd * 4);
  return [...new Float32Array(gatherStrided(span, t, layout).slice().buffer)];
}

describe('tensor layout', () => {
  it('follows torch is_contiguous (size-1 and empty dimensions)', () => {
    assert.equal(isContiguous([2, 3], [3, 1]), true);
    assert.equal(isContiguous([3, 2], [1, 3]), false);
    assert.equal(isContiguous([2, 1, 3], [3, 99, 1]), true);
    assert.equal(isContiguous([0, 3], [7, 7]), true);
    assert.equal(isContiguous([], []), true);
    assert.equal(isContiguous([4, 3], [0, 1]), false);
  });

  it('gives element counts and spans', () => {
    assert.deepEqual(layoutOf(view([2, 3], [3, 1], 5), 't'), {
      numel: 6,
      contiguous: true,
      spanStart: 5,
      spanEnd: 11,
    });
    assert.deepEqual(layoutOf(view([0, 3], [3, 1], 5), 't'), {
      numel: 0,
      contiguous: true,
      spanStart: 5,
      spanEnd: 5,
    });
    assert.deepEqual(layoutOf(view([], []), 't'), {
      numel: 1,
      contiguous: true,
      spanStart: 0,
      spanEnd: 1,
    });
  });

  it('gathers any strided view like a row-major walk', () => {
    for (const t of [
      view([3, 4], [1, 3]),
      view([4, 3], [5, 2], 1),
      view([2, 3, 2], [1, 4, 12], 2),
      view([4, 3], [0, 1]),
      view([2, 2, 2], [16, 4, 1], 3),
      view([5], [7]),
      view([], [], 9),
    ]) {
      assert.deepEqual(gather(t), naive(t), `shape ${t.shape} stride ${t.stride}`);
    }
  });

  it('swaps bytes per unit for big-endian storages', () => {
    assert.deepEqual([...swapBytes(Uint8Array.from([1, 2, 3, 4]), 2)], [2, 1, 4, 3]);
    assert.deepEqual([...swapBytes(Uint8Array.from([1, 2, 3, 4]), 4)], [4, 3, 2, 1]);
    assert.deepEqual([...swapBytes(Uint8Array.from([1, 2]), 1)], [1, 2]);
  });
});
