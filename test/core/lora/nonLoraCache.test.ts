import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorInfo, TensorRole } from '../../../src/core/formats/checkpoint.js';
import { cachedClassifier, classifyTensor } from '../../../src/core/lora/nonLora.js';

const tensor = (name: string, shape: number[], role?: TensorRole): TensorInfo => ({
  name,
  dtype: 'F32',
  shape,
  offset: 0,
  byteLength: 4 * shape.reduce((a, b) => a * b, 1),
  parameterCount: shape.reduce((a, b) => a * b, 1),
  ...(role ? { role } : {}),
});

// Names that share a digit template but differ in what classifyTensor reads besides the name: the
// role, whether the tensor holds at most one element, and a last segment that is a number.
const TENSORS: TensorInfo[] = [
  tensor('model.layers.3.step', [1]),
  tensor('model.layers.4.step', [8]),
  tensor('model.layers.5.step', [1]),
  tensor('model.layers.6.mlp.weight', [4, 4], 'buffer'),
  tensor('model.layers.7.mlp.weight', [4, 4], 'other'),
  tensor('model.layers.8.mlp.weight', [4, 4]),
  tensor('model.layers.9.mlp.weight', [4, 4], 'optimizer'),
  tensor('state.12.exp_avg', [4], 'optimizer'),
  tensor('state.13.exp_avg', [4], 'optimizer'),
  tensor('optimizer.state.14', [4]),
  tensor('optimizer.state.15', [4]),
  tensor('model.layers.10.input_layernorm.weight', [4]),
  tensor('model.embed_tokens.weight', [10, 4]),
  tensor('blocks.2.x', [4]),
  tensor('blocks.02.x', [4]),
];

for (const family of ['none', 'peft'] as const) {
  test(`the cached classifier agrees with classifyTensor (family ${family})`, () => {
    const ctx = { family, modulesToSave: [] };
    const cached = cachedClassifier(ctx);
    // Twice: the second pass reads every verdict from the cache.
    for (let pass = 0; pass < 2; pass++)
      for (const t of TENSORS) {
        const want = classifyTensor(t, ctx);
        const got = cached(t);
        assert.deepEqual(
          { category: got.category, reason: got.reason },
          {
            category: want.category,
            reason: want.reason,
          },
          t.name,
        );
      }
  });
}

test('with modules_to_save the exact path decides, layer numbers included', () => {
  const ctx = { family: 'peft' as const, modulesToSave: ['layers.3.mlp'] };
  const cached = cachedClassifier(ctx);
  assert.equal(cached(tensor('model.layers.3.mlp.weight', [4])).category, 'modules-to-save');
  assert.notEqual(cached(tensor('model.layers.4.mlp.weight', [4])).category, 'modules-to-save');
});
