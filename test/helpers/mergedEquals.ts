/** Compares a merged model with the truth a generator wrote, tensor by tensor, as floats. */
import assert from 'node:assert/strict';
import { openPath } from '../../src/core/formats/index.js';
import { readFloatTensor } from '../../src/core/formats/quant/readFloat.js';

/** max |a − b| / max |b| over the tensor. */
function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / (scale || 1);
}

/** Every tensor of `merged` equals `truth` within `tol` relative, and the names agree. */
export async function assertMergedEquals(
  mergedPath: string,
  truthPath: string,
  tol: number,
): Promise<void> {
  const merged = await openPath(mergedPath);
  const truth = await openPath(truthPath);
  try {
    assert.deepEqual(
      merged.tensors.map((t) => t.name).sort(),
      truth.tensors.map((t) => t.name).sort(),
    );
    for (const t of truth.tensors) {
      const m = merged.tensor(t.name);
      assert.deepEqual(m.shape, t.shape, t.name);
      const err = relError(await readFloatTensor(merged, m), await readFloatTensor(truth, t));
      assert.ok(err <= tol, `${t.name}: relative error ${err} > ${tol}`);
    }
  } finally {
    await merged.close();
    await truth.close();
  }
}
