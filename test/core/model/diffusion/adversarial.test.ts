import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIFFUSION_RECOGNIZERS } from '../../../../src/core/model/diffusion/index.js';
import type { ModelFacts } from '../../../../src/core/model/types.js';
import { factsOf, fixtures } from './kit.js';

/** Every recogniser's anchor, so that the crafted names reach the validation paths, not only the scan. */
const ANCHORS = [
  'time_embedding.linear_1.weight',
  'time_embed.0.weight',
  'joint_blocks.0.x_block.attn.qkv.weight',
  'pos_embed.proj.weight',
  'double_blocks.0.img_attn.qkv.weight',
  'single_transformer_blocks.0.proj_out.weight',
  'transformer_blocks.0.img_mod.1.weight',
  'encoder.layers.0.self_attn.q_proj.weight',
  'transformer.resblocks.0.attn.in_proj_weight',
  'encoder.block.0.layer.0.SelfAttention.q.weight',
  'decoder.conv_in.weight',
];

function adversarial(count: number): ModelFacts {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const segments = [
    '0',
    '1',
    '99',
    'blocks',
    'transformer_blocks',
    'attn',
    'x',
    'model',
    'encoder',
    'weight',
    '',
  ];
  const tensors: { name: string; shape: number[] }[] = [];
  for (let i = 0; i < count; i += 1) {
    const depth = 1 + rand(i % 1000 === 0 ? 400 : 24);
    const parts: string[] = [];
    for (let d = 0; d < depth; d += 1) parts.push(segments[rand(segments.length)] ?? 'x');
    // One name in 50 ends with an anchor under a random deep prefix.
    const name =
      i % 50 === 0 ? `${parts.join('.')}.${ANCHORS[rand(ANCHORS.length)] ?? ''}` : parts.join('.');
    tensors.push({
      name: `${name}.${i}`.replace(/\.\d+$/, i % 3 === 0 ? '' : `.${i}`),
      shape: [rand(5) - 1, 3],
    });
  }
  return {
    tensors,
    shapes: new Map(tensors.map((t) => [t.name, t.shape])),
    config: null,
    metadata: {},
    format: 'safetensors',
  };
}

describe('diffusion recognisers: 1M adversarial tensors', () => {
  it('random deep dotted names, anchors at random prefixes: quick and no throw', () => {
    const facts = adversarial(1_000_000);
    const start = performance.now();
    const parts = DIFFUSION_RECOGNIZERS.flatMap((r) => r.recognize(facts));
    const ms = performance.now() - start;
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
    // A lone anchor name is not a model: every recogniser wants other names of the part beside it.
    assert.deepEqual(parts, []);
    console.log(`1M adversarial: ${ms.toFixed(0)} ms, ${parts.length} parts`);
  });

  it('1M tensors that are ~1450 valid UNets under distinct prefixes: candidates capped, still linear', () => {
    const unet = fixtures().find((f) => f.file === 'sd15-unet-diffusers.json');
    assert.ok(unet);
    const keys = Object.entries(unet.tensors);
    const tensors: Record<string, number[]> = {};
    for (let i = 0, n = 0; n < 1_000_000 - keys.length; i += 1, n += keys.length) {
      for (const [k, v] of keys) tensors[`m${i}.${k}`] = v;
    }
    const facts = factsOf(tensors);
    const start = performance.now();
    const parts = DIFFUSION_RECOGNIZERS.flatMap((r) => r.recognize(facts));
    const ms = performance.now() - start;
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
    assert.equal(parts.length, 8);
    assert.ok(parts.every((p) => p.family === 'sd1' && p.tensorCount === 686));
    console.log(`1M as UNet copies: ${ms.toFixed(0)} ms, ${parts.length} parts`);
  });
});
