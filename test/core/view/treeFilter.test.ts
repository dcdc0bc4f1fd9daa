import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { buildTreeColumns } from '../../../src/core/view/treeColumns.js';
import { TreeFilter } from '../../../src/core/view/treeFilter.js';

const tensors = ['a.q_proj.weight', 'a.k_proj.weight', 'b.q_proj.weight'].map(
  (name, i) =>
    ({
      name,
      dtype: 'F32',
      shape: [i + 1],
      offset: 0,
      byteLength: 4 * (i + 1),
      parameterCount: i + 1,
    }) as TensorInfo,
);

function filter(): TreeFilter {
  const cols = buildTreeColumns(tensors);
  return new TreeFilter(
    tensors,
    cols,
    () => tensors.map((t) => t.name),
    false,
    new uFuzzy({ intraMode: 1, intraIns: 1 }),
  );
}

/** Whether the filter still holds its work buffers (a private field: this is what the test is about). */
const holdsBuffers = (f: TreeFilter) =>
  (f as unknown as { scratch?: object }).scratch !== undefined;

describe('tree filter', () => {
  it('sums a kept group over its kept tensors only, on demand', () => {
    const f = filter();
    const r = f.apply('q_proj');
    assert.deepEqual(r.shown, { tensors: 2, params: 4, bytes: 16 });
    assert.deepEqual(f.totalsOf(0), { tensors: 2, params: 4, bytes: 16 });
    assert.deepEqual(
      f.totalsOf(1),
      { tensors: 1, params: 1, bytes: 4 },
      'group a: its q_proj only',
    );
  });

  it('keeps its buffers a while after the filter is cleared, then lets go', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const f = filter();
      f.apply('q');
      f.release();
      mock.timers.tick(10_000);
      assert.ok(holdsBuffers(f), 'still held 10 s later');
      f.apply('k');
      f.release();
      mock.timers.tick(15_000);
      assert.ok(holdsBuffers(f), 'a new query restarted the wait');
      mock.timers.tick(6_000);
      assert.equal(holdsBuffers(f), false, 'gone 20 s after the last clear');
      assert.deepEqual(f.apply('k_proj').shown.tensors, 1, 'and made again on the next query');
    } finally {
      mock.timers.reset();
    }
  });
});
