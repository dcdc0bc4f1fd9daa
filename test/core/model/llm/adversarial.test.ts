import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelFacts } from '../../../../src/core/model/types.js';
import { recognizeAll } from './kit.js';

/** Block names the recognisers key on, so that crafted names reach the signature checks, not only the scan. */
const ANCHORS = [
  'layers.0.self_attn.q_proj.weight',
  'layers.3.self_attn.o_proj.weight',
  'layers.1.input_layernorm.weight',
  'h.0.attn.c_attn.weight',
  'h.2.mlp.c_fc.weight',
  'layer.0.attention.self.query.weight',
  'block.0.layer.0.SelfAttention.q.weight',
  'layers.7.block_sparse_moe.experts.99999.w1.weight',
];

function adversarial(count: number): ModelFacts {
  let seed = 11;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const segments = [
    '0',
    '12',
    'layers',
    'layer',
    'h',
    'block',
    'experts',
    'model',
    'encoder',
    'decoder',
    'weight',
    '',
  ];
  const tensors: { name: string; shape: number[] }[] = [];
  for (let i = 0; i < count; i += 1) {
    const depth = 1 + rand(i % 1000 === 0 ? 400 : 24);
    const parts: string[] = [];
    for (let d = 0; d < depth; d += 1) parts.push(segments[rand(segments.length)] ?? 'x');
    const anchor = i % 40 === 0 ? `.${ANCHORS[rand(ANCHORS.length)] ?? ''}` : `.${i}`;
    tensors.push({ name: parts.join('.') + anchor, shape: [rand(5) - 1, rand(3) === 0 ? 2.5 : 3] });
  }
  return {
    tensors,
    shapes: new Map(tensors.map((t) => [t.name, t.shape])),
    config: null,
    metadata: {},
    format: 'safetensors',
  };
}

describe('LLM recognisers: 1M adversarial tensors', () => {
  it('random deep dotted names with anchors under random prefixes: quick, bounded, no throw', () => {
    const facts = adversarial(1_000_000);
    const start = performance.now();
    const parts = recognizeAll(facts);
    const ms = performance.now() - start;
    console.log(`1M adversarial: ${ms.toFixed(0)} ms, ${parts.length} parts`);
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
    // The scan keeps at most 256 block groups, so the answer is bounded whatever the names.
    assert.ok(parts.length <= 256 * 6, `${parts.length} parts`);
    let claimed = 0;
    for (const p of parts) claimed += p.tensorCount;
    assert.ok(claimed <= facts.tensors.length);
  });

  it('200k crafted Llama signatures under distinct prefixes: bounded by the group cap', () => {
    const tensors: { name: string; shape: number[] }[] = [];
    for (let i = 0; i < 200_000; i += 1) {
      for (const rest of [
        'self_attn.q_proj.weight',
        'self_attn.o_proj.weight',
        'input_layernorm.weight',
      ]) {
        tensors.push({
          name: `p${i}.${'x.'.repeat(i % 30)}layers.${i % 7}.${rest}`,
          shape: [8, 8],
        });
      }
    }
    const facts: ModelFacts = {
      tensors,
      shapes: new Map(tensors.map((t) => [t.name, t.shape])),
      config: null,
      metadata: {},
      format: 'safetensors',
    };
    const start = performance.now();
    const parts = recognizeAll(facts);
    const ms = performance.now() - start;
    console.log(`600k crafted: ${ms.toFixed(0)} ms, ${parts.length} parts`);
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
    assert.equal(parts.length, 256);
    for (const p of parts) assert.equal(p.tensorCount, 3);
  });
});
