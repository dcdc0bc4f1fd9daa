import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  analyzeLoraSync,
  loraModuleOf,
  tensorModuleMap,
  tensorPart,
} from '../../../src/core/lora/index.js';
import { infoFrom } from './loraTestInfo.js';

describe('tensor name → module', () => {
  const cases: [string, string, string, string?][] = [
    // name, module, part, adapter
    [
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj',
      'down',
    ],
    [
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.q_proj',
      'up',
    ],
    ['m.q_proj.lora_A.default.weight', 'm.q_proj', 'down', 'default'],
    ['m.q_proj.lora_B.bias', 'm.q_proj', 'up_bias'],
    ['base_model.model.emb.lora_embedding_A', 'base_model.model.emb', 'down'],
    ['base_model.model.emb.lora_embedding_B', 'base_model.model.emb', 'up'],
    ['m.q_proj.lora_magnitude_vector', 'm.q_proj', 'magnitude'],
    ['m.q_proj.lora_magnitude_vector.weight', 'm.q_proj', 'magnitude'],
    ['m.q_proj.lora_magnitude_vector.default.weight', 'm.q_proj', 'magnitude', 'default'],
    ['lin0.lora_E', 'lin0', 'lora_E'],
    ['lora_unet_x.lora_down.weight', 'lora_unet_x', 'down'],
    ['lora_unet_x.lora_up.weight', 'lora_unet_x', 'up'],
    ['lora_unet_x.lora_mid.weight', 'lora_unet_x', 'mid'],
    ['lora_unet_x.lora_down.1.weight', 'lora_unet_x', 'down.1'],
    ['lora_unet_x.alpha', 'lora_unet_x', 'alpha'],
    ['lora_unet_x.dora_scale', 'lora_unet_x', 'dora_scale'],
    ['lora_unet_x.hada_w1_a', 'lora_unet_x', 'hada_w1_a'],
    ['lora_unet_x.lokr_w2_b', 'lora_unet_x', 'lokr_w2_b'],
    ['lora_unet_x.oft_blocks', 'lora_unet_x', 'oft_blocks'],
    ['lora_unet_x.diff_b', 'lora_unet_x', 'diff_b'],
    ['model.layers.0.self_attn.q_proj.lora_a', 'model.layers.0.self_attn.q_proj', 'down'],
    ['blk.0.attn_q.weight.lora_b', 'blk.0.attn_q.weight', 'up'],
    [
      'double_blocks.0.processor.qkv_lora1.down.weight',
      'double_blocks.0.processor.qkv_lora1',
      'down',
    ],
    ['unet.a.attn1.processor.to_q_lora.up.weight', 'unet.a.attn1.processor.to_q_lora', 'up'],
    ['unet.a.to_q.lora.down.weight', 'unet.a.to_q.lora', 'down'],
    ['te.q_proj.lora_linear_layer.up.weight', 'te.q_proj.lora_linear_layer', 'up'],
    ['unet:3:down', 'unet:3', 'down'],
    ['model.layers.0.attn.q_proj.lora_A.MatMul.weight', 'model.layers.0.attn.q_proj', 'down'],
    ['base_model.model.lin0.ia3_l', 'base_model.model.lin0', 'ia3_l'],
  ];
  for (const [name, module, part, adapter] of cases) {
    it(name, () => {
      const p = tensorPart(name);
      assert.deepEqual(p && [p.module, p.part, p.adapter], [module, part, adapter]);
      assert.equal(loraModuleOf(name), module);
    });
  }

  it('ordinary weights are not adapter parts', () => {
    for (const name of [
      'model.layers.0.self_attn.q_proj.weight',
      'decoder.up.weight',
      'lm_head.weight',
      'x.lora_A.bias',
    ])
      assert.equal(loraModuleOf(name), undefined, name);
  });

  it('tensorModuleMap groups A, B and alpha under one module, including contextual parts', () => {
    const a = analyzeLoraSync(
      infoFrom({
        'lora_unet_x.lora_down.weight': [4, 8],
        'lora_unet_x.lora_up.weight': [8, 4],
        'lora_unet_x.alpha': [],
        'lora_unet_y.weight': [8],
        'lora_unet_y.on_input': [],
      }),
    );
    assert.deepEqual(
      [...tensorModuleMap(a)],
      [
        ['lora_unet_x.lora_down.weight', 'lora_unet_x'],
        ['lora_unet_x.lora_up.weight', 'lora_unet_x'],
        ['lora_unet_x.alpha', 'lora_unet_x'],
        ['lora_unet_y.on_input', 'lora_unet_y'],
        ['lora_unet_y.weight', 'lora_unet_y'],
      ],
    );
  });
});
