/** KeyMatcher: keys by name, renames by normalised name and shape, and two 1M-key headers in bounded time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointInfo, TensorInfo } from '../../../src/core/formats/checkpoint.js';
import {
  diffHeaders,
  differencesOf,
  KeyMatcher,
  normalizedKey,
} from '../../../src/core/compare/index.js';

const t = (name: string, shape: number[], dtype = 'F16'): TensorInfo => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, offset: 0, byteLength: 2 * n, parameterCount: n };
};

function info(tensors: TensorInfo[]): CheckpointInfo {
  return {
    format: 'safetensors',
    name: 'memory',
    fileSize: 0,
    headerByteLength: 0,
    tensors,
    metadata: Object.create(null) as Record<string, string>,
    parameterCount: 0,
    dataBytes: 0,
    dtypes: [],
  };
}

describe('KeyMatcher', () => {
  it('same names: same, dtype and shape changes, keys on one side', () => {
    const k = new KeyMatcher(
      [t('a.weight', [2, 3]), t('b.weight', [4]), t('c.weight', [2, 2]), t('gone.weight', [1])],
      [
        t('a.weight', [2, 3]),
        t('b.weight', [4], 'F32'),
        t('c.weight', [2, 3]),
        t('new.weight', [1]),
      ],
    ).result();
    assert.equal(k.same, 1);
    assert.deepEqual(
      k.changed.map((c) => [c.a, c.changed]),
      [
        ['b.weight', ['dtype']],
        ['c.weight', ['shape']],
      ],
    );
    assert.deepEqual(
      k.onlyA.map((x) => x.name),
      ['gone.weight'],
    );
    assert.deepEqual(
      k.onlyB.map((x) => x.name),
      ['new.weight'],
    );
  });

  it('renames by normalised name: wrappers stripped, shape must agree, dtype change kept', () => {
    const k = new KeyMatcher(
      [
        t('model.layers.0.self_attn.q_proj.weight', [8, 8]),
        t('model.norm.weight', [8]),
        t('lm_head.weight', [4, 8]),
      ],
      [
        t('base_model.model.model.layers.0.self_attn.q_proj.weight', [8, 8], 'BF16'),
        t('base_model.model.model.norm.weight', [9]),
        t('lm_head.bias', [4]),
      ],
    );
    k.pairByNormalizedName();
    const r = k.result();
    assert.deepEqual(r.renamed, [
      {
        a: 'model.layers.0.self_attn.q_proj.weight',
        b: 'base_model.model.model.layers.0.self_attn.q_proj.weight',
        via: 'normalized-name',
      },
    ]);
    assert.deepEqual(r.changed[0]?.changed, ['dtype']);
    // Another shape, or weight against bias: not the same tensor.
    assert.deepEqual(
      r.onlyA.map((x) => x.name),
      ['model.norm.weight', 'lm_head.weight'],
    );
  });

  it('an ambiguous normalised name is left unpaired, not guessed', () => {
    const k = new KeyMatcher(
      [t('model.layers.0.mlp.up_proj.weight', [4, 4])],
      [
        t('base_model.model.layers.0.mlp.up_proj.weight', [4, 4]),
        t('base_model.model.model.layers.0.mlp.up_proj.weight', [4, 4]),
      ],
    );
    assert.equal(
      normalizedKey(t('base_model.model.layers.0.mlp.up_proj.weight', [4, 4])),
      normalizedKey(t('base_model.model.model.layers.0.mlp.up_proj.weight', [4, 4])),
    );
    k.pairByNormalizedName();
    const r = k.result();
    assert.equal(r.renamed.length, 0);
    assert.equal(r.onlyB.length, 2);
  });

  it('pair() refuses a key already matched', () => {
    const k = new KeyMatcher([t('x', [1]), t('y', [1])], [t('p', [1])]);
    assert.equal(k.pair('x', 'p', 'module'), true);
    assert.equal(k.pair('y', 'p', 'module'), false);
    assert.equal(k.result().onlyA.length, 1);
  });

  it('a transposed pair (orientation flip) is a rename, not a shape change', () => {
    const k = new KeyMatcher([t('m.lora_A.weight', [4, 64])], [t('m.lora_a', [64, 4])]);
    k.pair('m.lora_A.weight', 'm.lora_a', 'module', 'm', true);
    const r = k.result();
    assert.equal(r.changed.length, 0);
    assert.equal(r.renamed[0]?.transposed, true);
  });
});

describe('two 1M-key headers', () => {
  it('diff in bounded time: no key compared with every other', () => {
    const N = 1_000_000;
    const a: TensorInfo[] = [];
    const b: TensorInfo[] = [];
    for (let i = 0; i < N; i++) {
      const layer = Math.floor(i / 1000);
      const name = `model.layers.${layer}.mlp.experts.${i % 1000}.weight`;
      a.push(t(name, [4, 4]));
      // Every 4th key renamed under a wrapper, every 10th cast, every 1000th dropped; the rest equal.
      if (i % 1000 === 999) continue;
      if (i % 4 === 1) b.push(t(`base_model.model.${name}`, [4, 4]));
      else b.push(t(name, [4, 4], i % 10 === 0 ? 'F32' : 'F16'));
    }
    b.push(t('extra.weight', [1]));
    const started = performance.now();
    const h = diffHeaders({ info: info(a), analysis: null }, { info: info(b), analysis: null });
    const ms = performance.now() - started;
    assert.equal(h.keys.onlyA.length, 1000);
    assert.deepEqual(
      h.keys.onlyB.map((x) => x.name),
      ['extra.weight'],
    );
    assert.equal(h.keys.renamed.length, 250_000);
    assert.equal(h.keys.changed.length, 100_000);
    assert.equal(h.keys.same + h.keys.changed.length, N - 1000);
    assert.deepEqual(differencesOf(h, null, false), [
      'keys-only-in-a',
      'keys-only-in-b',
      'shape-or-dtype',
      'renamed',
    ]);
    // Not a timing assertion: a note for the log. Quadratic work on 1M keys would not finish at all.
    console.log(`# 1M-key diff: ${ms.toFixed(0)} ms`);
  });
});
