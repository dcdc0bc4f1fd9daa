import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import { infoFrom } from './loraTestInfo.js';

const P = 'base_model.model.model.layers';
const config = { 'adapter_config.json': { peft_type: 'LORA', r: 4, lora_alpha: 8 } };

describe('LoRA warnings', () => {
  it('orphans: a lora_A without its lora_B, a lone magnitude vector', () => {
    const a = analyzeLoraSync(
      infoFrom(
        {
          [`${P}.0.self_attn.q_proj.lora_A.weight`]: [4, 64],
          [`${P}.0.self_attn.q_proj.lora_B.weight`]: [64, 4],
          [`${P}.0.self_attn.v_proj.lora_A.weight`]: [4, 64],
          [`${P}.1.self_attn.q_proj.lora_magnitude_vector`]: [64],
        },
        { configs: config },
      ),
    );
    assert.equal(a.family, 'peft');
    assert.equal(a.modules.length, 1);
    assert.deepEqual(a.warnings, [
      `orphan tensors in 2 modules: ${P}.0.self_attn.v_proj (lora_A without lora_B); ${P}.1.self_attn.q_proj (only magnitude, no adapter weights)`,
    ]);
    assert.deepEqual(
      a.nonLora.map((e) => [e.name, e.category, e.reason]),
      [
        [`${P}.0.self_attn.v_proj.lora_A.weight`, 'orphan', 'orphan: lora_A without lora_B'],
        [
          `${P}.1.self_attn.q_proj.lora_magnitude_vector`,
          'orphan',
          'orphan: only magnitude, no adapter weights',
        ],
      ],
    );
  });

  it('shape inconsistencies: A and B disagree on rank; DoRA magnitude and up bias of the wrong length', () => {
    const a = analyzeLoraSync(
      infoFrom(
        {
          [`${P}.0.mlp.up_proj.lora_A.weight`]: [4, 64],
          [`${P}.0.mlp.up_proj.lora_B.weight`]: [128, 8],
          [`${P}.0.self_attn.q_proj.lora_A.weight`]: [4, 64],
          [`${P}.0.self_attn.q_proj.lora_B.weight`]: [64, 4],
          [`${P}.0.self_attn.q_proj.lora_B.bias`]: [32],
          [`${P}.0.self_attn.q_proj.lora_magnitude_vector`]: [32],
        },
        { configs: config },
      ),
    );
    const up = a.modules.find((m) => m.target === 'model.layers.0.mlp.up_proj');
    assert.deepEqual(
      [up?.rank, up?.orientation, up?.inFeatures, up?.outFeatures],
      [null, null, 64, 128],
    );
    assert.deepEqual(a.warnings, [
      `shape inconsistencies in 3 places: ${P}.0.mlp.up_proj: down [4, 64] and up [128, 8] do not share a rank; ${P}.0.self_attn.q_proj: up bias [32] does not match 64 outputs; ${P}.0.self_attn.q_proj: magnitude [32] does not match 64 outputs`,
    ]);
  });

  it('a standard-layout family with a transposed pair is flagged', () => {
    const a = analyzeLoraSync(
      infoFrom(
        {
          [`${P}.0.mlp.up_proj.lora_A.weight`]: [64, 4],
          [`${P}.0.mlp.up_proj.lora_B.weight`]: [4, 128],
        },
        { configs: config },
      ),
    );
    assert.deepEqual(
      [a.modules[0]?.orientation, a.modules[0]?.inFeatures, a.modules[0]?.outFeatures],
      ['transposed', 64, 128],
    );
    assert.deepEqual(a.warnings, [
      `shape inconsistencies in 1 place: ${P}.0.mlp.up_proj: down [64, 4] / up [4, 128] are transposed, the family stores standard`,
    ]);
  });

  it('mixed dtypes (0-d alphas do not count) and varying ranks', () => {
    const a = analyzeLoraSync(
      infoFrom(
        {
          'lora_unet_a.lora_down.weight': [4, 64],
          'lora_unet_a.lora_up.weight': [64, 4],
          'lora_unet_a.alpha': [],
          'lora_unet_b.lora_down.weight': [8, 64],
          'lora_unet_b.lora_up.weight': [64, 8],
          'lora_unet_c.lora_down.weight': [8, 64],
          'lora_unet_c.lora_up.weight': [64, 8],
        },
        {
          dtype: 'F16',
          dtypes: { 'lora_unet_a.alpha': 'F32', 'lora_unet_c.lora_up.weight': 'BF16' },
        },
      ),
    );
    assert.deepEqual(a.warnings, [
      'alpha tensor present, value not read: 1 module has no known scale',
      'mixed dtypes: F16 ×5, BF16 ×1 (adapter tensors)',
      'rank varies: 4 ×1, 8 ×2',
    ]);
    assert.deepEqual(a.summary.dtypes, [
      { value: 'F16', count: 5 },
      { value: 'BF16', count: 1 },
      { value: 'F32', count: 1 },
    ]);
    assert.deepEqual(a.summary.ranks, [
      { value: 4, count: 1 },
      { value: 8, count: 2 },
    ]);
    assert.deepEqual(a.summary.alphas, [
      { value: 8, count: 2 },
      { value: null, count: 1 },
    ]);
  });
});
