import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryByteSource } from '../../src/core/formats/byteSource.js';
import { openSafetensors } from '../../src/core/formats/safetensors.js';
import { buildDocumentModel, EAGER_TREE_TENSORS } from '../../src/extension/documentModel.js';
import { buildSafetensors } from '../helpers/safetensorsBuilder.js';

async function modelOf(count: number) {
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `model.layers.${i}.mlp.up_proj.weight`,
    dtype: 'I8',
    shape: [1],
  }));
  const ckpt = await openSafetensors(
    new MemoryByteSource(buildSafetensors(specs), 'm.safetensors'),
  );
  return buildDocumentModel(ckpt, 'm.safetensors', 'ranged', 0);
}

describe('document model', () => {
  it('builds a small tree before the first paint, a large one after', async () => {
    const small = await modelOf(10);
    assert.equal(small.eagerTree, true);
    const large = await modelOf(EAGER_TREE_TENSORS + 1);
    assert.equal(large.eagerTree, false);
    assert.equal(large.summary.tensorCount, EAGER_TREE_TENSORS + 1);
  });

  it('builds its tree once, on the first ask, with every tensor', async () => {
    const doc = await modelOf(1200);
    const tree = doc.tree();
    assert.equal(doc.tree(), tree, 'the same tree every time');
    assert.equal(tree.state().total.tensors, 1200);
    tree.setQuery('layers 1199 up');
    assert.equal(tree.state().shown.tensors, 1);
  });
});
