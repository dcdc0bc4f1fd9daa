import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLora, analyzeLoraSync, type LoraAnalysis } from '../../../src/core/lora/index.js';
import { infoFrom, keyList } from './loraTestInfo.js';

interface Expected {
  family: string;
  modules: number;
  groups: [string, number][];
  kinds: [string, number][];
  ranks: [number | null, number][];
  nonLora: number;
}

// Real key → shape lists of diffusion-model adapters (InvokeAI test data), one row per file.
const CASES: Record<string, Expected> = {
  anima_lora_kohya_format: {
    family: 'kohya',
    modules: 11,
    groups: [['lora_unet', 11]],
    kinds: [['linear', 11]],
    ranks: [[8, 11]],
    nonLora: 0,
  },
  anima_lora_kohya_with_te_format: {
    family: 'kohya',
    modules: 9,
    groups: [
      ['lora_te', 7],
      ['lora_unet', 2],
    ],
    kinds: [['linear', 9]],
    ranks: [[8, 9]],
    nonLora: 0,
  },
  anima_lora_lokr_format: {
    family: 'lycoris',
    modules: 3,
    groups: [['diffusion_model', 3]],
    kinds: [
      ['DoRA LoKr', 2],
      ['LoKr', 1],
    ],
    ranks: [[null, 3]],
    nonLora: 0,
  },
  anima_lora_peft_format: {
    family: 'bfl',
    modules: 6,
    groups: [['diffusion_model', 6]],
    kinds: [['linear', 6]],
    ranks: [[8, 6]],
    nonLora: 0,
  },
  flux_control_lora_format: {
    family: 'bfl',
    modules: 314,
    groups: [],
    kinds: [['linear', 314]],
    ranks: [
      [64, 1],
      [128, 313],
    ],
    nonLora: 152,
  },
  flux_dora_onetrainer_format: {
    family: 'kohya',
    modules: 506,
    groups: [
      ['lora_transformer', 266],
      ['lora_te2', 168],
      ['lora_te1', 72],
    ],
    kinds: [['DoRA linear', 506]],
    ranks: [[4, 506]],
    nonLora: 0,
  },
  flux_lokr_bfl_format: {
    family: 'lycoris',
    modules: 6,
    groups: [['diffusion_model', 6]],
    kinds: [['LoKr', 6]],
    ranks: [[null, 6]],
    nonLora: 0,
  },
  flux_lora_aitoolkit_format: {
    family: 'bfl',
    modules: 228,
    groups: [['diffusion_model', 228]],
    kinds: [['linear', 228]],
    ranks: [[16, 228]],
    nonLora: 0,
  },
  flux_lora_diffusers_base_model_format: {
    family: 'peft',
    modules: 381,
    groups: [],
    kinds: [['linear', 381]],
    ranks: [[4, 381]],
    nonLora: 0,
  },
  flux_lora_diffusers_format: {
    family: 'diffusers',
    modules: 494,
    groups: [['transformer', 494]],
    kinds: [['linear', 494]],
    ranks: [[32, 494]],
    nonLora: 0,
  },
  flux_lora_diffusers_no_proj_mlp_format: {
    family: 'diffusers',
    modules: 342,
    groups: [['transformer', 342]],
    kinds: [['linear', 342]],
    ranks: [[16, 342]],
    nonLora: 0,
  },
  flux_lora_kohya_format: {
    family: 'kohya',
    modules: 304,
    groups: [['lora_unet', 304]],
    kinds: [['linear', 304]],
    ranks: [[16, 304]],
    nonLora: 0,
  },
  flux_lora_kohya_with_te1_format: {
    family: 'kohya',
    modules: 376,
    groups: [
      ['lora_unet', 304],
      ['lora_te1', 72],
    ],
    kinds: [['linear', 376]],
    ranks: [[4, 376]],
    nonLora: 0,
  },
  flux_lora_xlabs_format: {
    family: 'xlabs',
    modules: 12,
    groups: [],
    kinds: [['linear', 12]],
    ranks: [[16, 12]],
    nonLora: 0,
  },
  krea2_lora_kohya_format: {
    family: 'kohya',
    modules: 40,
    groups: [['lora_unet', 40]],
    kinds: [['linear', 40]],
    ranks: [[32, 40]],
    nonLora: 0,
  },
  qwen_image_lora_diffusers_format: {
    family: 'diffusers',
    modules: 3,
    groups: [],
    kinds: [['linear', 3]],
    ranks: [[64, 3]],
    nonLora: 0,
  },
  qwen_image_lora_kohya_format: {
    family: 'lycoris',
    modules: 8,
    groups: [['lora_unet', 8]],
    kinds: [['LoKr', 8]],
    ranks: [[null, 8]],
    nonLora: 0,
  },
};

function analyze(name: string, dtype = 'BF16'): LoraAnalysis {
  return analyzeLoraSync(infoFrom(keyList(name), { dtype }));
}

function moduleByName(a: LoraAnalysis, name: string) {
  const m = a.modules.find((x) => x.name === name);
  assert.ok(m, `no module ${name}`);
  return m;
}

describe('LoRA analysis: real diffusion key lists', () => {
  for (const [name, e] of Object.entries(CASES)) {
    it(`${name}: ${e.family}, ${e.modules} modules`, () => {
      const a = analyze(name);
      assert.equal(a.family, e.family);
      assert.equal(a.modules.length, e.modules);
      assert.deepEqual(
        a.groups.map((g) => [g.name, g.modules]),
        e.groups,
      );
      assert.deepEqual(
        a.summary.kinds.map((k) => [k.value, k.count]),
        e.kinds,
      );
      assert.deepEqual(
        a.summary.ranks.map((k) => [k.value, k.count]),
        e.ranks,
      );
      assert.equal(a.nonLora.length, e.nonLora);
      // Every tensor is either in a module or classified: nothing is dropped.
      const inModules = a.modules.reduce((n, m) => n + m.tensors.length, 0);
      assert.equal(inModules + a.nonLora.length, Object.keys(keyList(name)).length);
      assert.ok(a.evidence.length > 0);
      assert.ok(!a.warnings.some((w) => w.startsWith('unknown family')));
    });
  }

  it('kohya Flux: fused qkv and linear1 keep their fused output widths; alphas are present, not read', () => {
    const a = analyze('flux_lora_kohya_format');
    const qkv = moduleByName(a, 'lora_unet_double_blocks_0_img_attn_qkv');
    assert.deepEqual(
      [qkv.target, qkv.group, qkv.rank, qkv.inFeatures, qkv.outFeatures, qkv.orientation],
      ['lora_unet_double_blocks_0_img_attn_qkv', 'lora_unet', 16, 3072, 9216, 'standard'],
    );
    assert.equal(moduleByName(a, 'lora_unet_single_blocks_0_linear1').outFeatures, 21504);
    assert.deepEqual(
      [qkv.alpha, qkv.scale, qkv.alphaOrigin, qkv.alphaSources[0]?.note],
      [null, null, 'tensor-unread', 'alpha tensor present, value not read'],
    );
    assert.deepEqual(qkv.parts, {
      down: 'lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight',
      up: 'lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight',
      alpha: 'lora_unet_double_blocks_0_img_attn_qkv.alpha',
    });
    assert.deepEqual(a.warnings, [
      'alpha tensor present, value not read: 304 modules have no known scale',
    ]);
    assert.deepEqual(
      a.summary.layers.map((l) => [l.stack, l.indices.length, l.indices[0], l.indices.at(-1)]),
      [
        ['lora_unet_double_blocks', 19, 0, 18],
        ['lora_unet_single_blocks', 38, 0, 37],
      ],
    );
    assert.deepEqual(a.summary.targets.slice(0, 3), [
      { value: 'linear1', count: 38 },
      { value: 'linear2', count: 38 },
      { value: 'modulation_lin', count: 38 },
    ]);
  });

  it('kohya Flux: reading the alphas gives alpha/rank', async () => {
    const a = await analyzeLora(infoFrom(keyList('flux_lora_kohya_format')), {
      readScalar: async () => 8,
    });
    const qkv = moduleByName(a, 'lora_unet_double_blocks_0_img_attn_qkv');
    assert.deepEqual(
      [qkv.alpha, qkv.scale, qkv.scaleRule, qkv.alphaOrigin],
      [8, 0.5, 'alpha/rank', 'tensor'],
    );
    assert.deepEqual(a.warnings, []);
  });

  it('OneTrainer DoRA: dora_scale [1, in] is a per-column magnitude and part of its module', () => {
    const a = analyze('flux_dora_onetrainer_format');
    const m = moduleByName(a, 'lora_te1_text_model_encoder_layers_0_mlp_fc1');
    assert.deepEqual(m.dora, {
      tensor: 'lora_te1_text_model_encoder_layers_0_mlp_fc1.dora_scale',
      axis: 'in',
    });
    assert.deepEqual(
      [m.kind, m.label, m.inFeatures, m.outFeatures],
      ['linear', 'DoRA linear', 768, 3072],
    );
    assert.ok(a.evidence.includes('lora_transformer_ prefix: OneTrainer naming'));
  });

  it('diffusers Flux without metadata: alpha = rank, scale 1', () => {
    const a = analyze('flux_lora_diffusers_format');
    const m = moduleByName(a, 'transformer.single_transformer_blocks.0.attn.to_k');
    assert.deepEqual(
      [m.target, m.group, m.rank, m.alpha, m.scale, m.alphaOrigin],
      ['single_transformer_blocks.0.attn.to_k', 'transformer', 32, 32, 1, 'default-rank'],
    );
  });

  it('ai-toolkit / BFL: diffusion_model. prefix stripped, no alpha, scale 1 by construction', () => {
    const a = analyze('flux_lora_aitoolkit_format');
    const m = moduleByName(a, 'diffusion_model.double_blocks.0.img_attn.qkv');
    assert.deepEqual(
      [m.target, m.group, m.rank, m.alpha, m.scale, m.alphaOrigin, m.outFeatures],
      ['double_blocks.0.img_attn.qkv', 'diffusion_model', 16, null, 1, 'scale-1', 9216],
    );
    assert.match(m.alphaSources[0]?.note ?? '', /baked into the weights/);
  });

  it('XLabs: processors map onto BFL image / text stream names', () => {
    const a = analyze('flux_lora_xlabs_format');
    assert.deepEqual(
      a.modules.slice(0, 4).map((m) => [m.name, m.target, m.outFeatures]),
      [
        ['double_blocks.0.processor.proj_lora1', 'double_blocks.0.img_attn.proj', 3072],
        ['double_blocks.0.processor.proj_lora2', 'double_blocks.0.txt_attn.proj', 3072],
        ['double_blocks.0.processor.qkv_lora1', 'double_blocks.0.img_attn.qkv', 9216],
        ['double_blocks.0.processor.qkv_lora2', 'double_blocks.0.txt_attn.qkv', 9216],
      ],
    );
    assert.deepEqual(a.summary.layers, [{ stack: 'double_blocks', indices: [0, 1, 10] }]);
  });

  it('BFL control LoRA: lora_B.bias belongs to the module, norm scales are non-LoRA', () => {
    const a = analyze('flux_control_lora_format');
    const m = moduleByName(a, 'double_blocks.0.img_attn.qkv');
    assert.equal(m.parts['up_bias'], 'double_blocks.0.img_attn.qkv.lora_B.bias');
    assert.deepEqual(a.nonLora[0], {
      name: 'double_blocks.0.img_attn.norm.key_norm.scale',
      reason: 'norm weights saved beside the adapter (replace the base ones)',
      category: 'norm',
      source: 'tensor',
    });
    assert.ok(a.nonLora.every((e) => e.category === 'norm'));
    assert.deepEqual(a.warnings, ['rank varies: 64 ×1, 128 ×313']);
  });

  it('LoKr factors: in/out are the Kronecker products, rank is undefined with two full factors', () => {
    const a = analyze('flux_lokr_bfl_format');
    const m = moduleByName(a, 'diffusion_model.double_blocks.0.img_attn.qkv');
    // lokr_w1 [32, 96] ⊗ lokr_w2 [32, 288]
    assert.deepEqual(
      [m.kind, m.rank, m.inFeatures, m.outFeatures, m.scale, m.scaleRule],
      ['lokr', null, 96 * 288, 32 * 32, 1, '1 (LoKr with two full factors)'],
    );
  });

  it('PEFT-saved diffusers transformer without adapter_config: scale unknown, said so', () => {
    const a = analyze('flux_lora_diffusers_base_model_format');
    assert.ok(
      a.evidence.includes('no adapter_config.json beside the file (r and lora_alpha unknown)'),
    );
    const m = a.modules[0];
    assert.deepEqual(
      [m?.target, m?.alpha, m?.scale, m?.alphaOrigin],
      ['proj_out', null, null, 'unknown'],
    );
  });

  it('the analysis is plain JSON', () => {
    const a = analyze('flux_dora_onetrainer_format');
    assert.deepEqual(JSON.parse(JSON.stringify(a)), a);
  });
});
