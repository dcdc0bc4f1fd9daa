import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { buildTreeColumns, type TreeColumns } from '../../../src/core/view/treeColumns.js';

function tensor(name: string, i: number): TensorInfo {
  return {
    name,
    dtype: 'F16',
    shape: [i + 1],
    offset: 0,
    byteLength: 2 * (i + 1),
    parameterCount: i + 1,
  } as TensorInfo;
}

/** A small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Names that stress the shared-prefix shortcut: prefixes of each other, repeats, empty segments. */
function names(seed: number, count: number): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const parts = ['model', 'layers', 'a', 'ab', 'b', '', '0', '1', '10', 'q_proj', 'weight', 'x.y'];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const prev = out[out.length - 1];
    const roll = r();
    if (prev !== undefined && roll < 0.15) out.push(prev);
    else if (prev !== undefined && roll < 0.3) out.push(`${prev}.${pick(parts)}`);
    else if (prev !== undefined && roll < 0.4) out.push(prev.slice(0, prev.lastIndexOf('.')));
    else if (prev !== undefined && roll < 0.5) out.push(prev + pick(['', 'b', '.', '0']));
    else {
      const depth = 1 + Math.floor(r() * 5);
      out.push(Array.from({ length: depth }, () => pick(parts)).join('.'));
    }
  }
  return out;
}

function shape(c: TreeColumns) {
  return {
    parent: [...c.parentOf],
    label: [...c.labelOf].map((l) => c.labels[l]),
    tensor: [...c.tensorOf],
    childStart: [...c.childStart],
    childList: [...c.childList],
    count: [...c.countOf],
    params: [...c.paramsOf],
    bytes: [...c.bytesOf],
  };
}

describe('tree columns', () => {
  it('the dot-split build is the tree name.split(".") gives, node for node', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const tensors = names(seed, 1 + (seed % 60)).map(tensor);
      const fast = buildTreeColumns(tensors);
      const reference = buildTreeColumns(tensors, (t) => t.name.split('.'));
      assert.deepEqual(shape(fast), shape(reference), `seed ${seed}`);
    }
  });

  it('handles the edge names on their own', () => {
    for (const list of [
      [''],
      ['', ''],
      ['a', 'a.b', 'a'],
      ['a.b', 'a.bc', 'a.b.c', 'a.b'],
      ['a.', 'a..', 'a.', '.a', '.'],
      ['x.y.z', 'x.y', 'x', 'x.y.z.w'],
    ]) {
      const tensors = list.map(tensor);
      assert.deepEqual(
        shape(buildTreeColumns(tensors)),
        shape(buildTreeColumns(tensors, (t) => t.name.split('.'))),
        JSON.stringify(list),
      );
    }
  });

  it('keeps wide nodes (over 16 children) right', () => {
    const tensors = Array.from({ length: 500 }, (_, i) =>
      tensor(`layers.${(i * 7) % 50}.${i % 3 ? 'q' : 'k'}.weight`, i),
    );
    const fast = buildTreeColumns(tensors);
    assert.deepEqual(shape(fast), shape(buildTreeColumns(tensors, (t) => t.name.split('.'))));
    // layers has 50 children, in natural order.
    const layers = fast.childList[0] as number;
    const kids = [...fast.childList.subarray(fast.childStart[layers], fast.childStart[layers + 1])];
    assert.deepEqual(
      kids.map((k) => fast.labels[fast.labelOf[k] as number]),
      Array.from({ length: 50 }, (_, i) => String(i)),
    );
  });
});
