import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  analyzeLora,
  analyzeLoraSync,
  type LoraAnalysis,
  type LoraModule,
} from '../../../src/core/lora/index.js';
import { infoFrom } from './loraTestInfo.js';

function only(a: LoraAnalysis, name: string): LoraModule {
  const m = a.modules.find((x) => x.name === name);
  assert.ok(m, `no module ${name} in ${a.modules.map((x) => x.name).join(', ')}`);
  return m;
}

const pick = (m: LoraModule) => ({
  target: m.target,
  kind: m.kind,
  label: m.label,
  rank: m.rank,
  alpha: m.alpha,
  scale: m.scale,
  orientation: m.orientation,
  inFeatures: m.inFeatures,
  outFeatures: m.outFeatures,
});

describe('LoRA analysis: MLX-LM', () => {
  const shapes = {
    'model.layers.0.self_attn.q_proj.lora_a': [64, 8],
    'model.layers.0.self_attn.q_proj.lora_b': [8, 64],
    'model.layers.0.self_attn.v_proj.lora_a': [64, 8],
    'model.layers.0.self_attn.v_proj.lora_b': [8, 32],
  };

  it('transposed a [in, r] / b [r, out]; current mlx-lm: scale = lora_parameters.scale', () => {
    const a = analyzeLoraSync(
      infoFrom(shapes, {
        configs: {
          'adapter_config.json': {
            fine_tune_type: 'lora',
            num_layers: 2,
            lora_parameters: { rank: 8, scale: 20.0, dropout: 0 },
          },
        },
      }),
    );
    assert.equal(a.family, 'mlx');
    assert.ok(a.evidence.includes('adapter_config.json has lora_parameters (MLX-LM)'));
    assert.deepEqual(pick(only(a, 'model.layers.0.self_attn.v_proj')), {
      target: 'model.layers.0.self_attn.v_proj',
      kind: 'linear',
      label: 'linear',
      rank: 8,
      alpha: null,
      scale: 20,
      orientation: 'transposed',
      inFeatures: 64,
      outFeatures: 32,
    });
    assert.equal(only(a, 'model.layers.0.self_attn.v_proj').scaleRule, 'scale');
    assert.deepEqual(a.warnings, []);
  });

  it('older mlx-examples: scale · alpha / rank', () => {
    const a = analyzeLoraSync(
      infoFrom(shapes, {
        configs: { 'adapter_config.json': { lora_parameters: { rank: 8, alpha: 16, scale: 10 } } },
      }),
    );
    const m = only(a, 'model.layers.0.self_attn.q_proj');
    assert.deepEqual(
      [m.alpha, m.scale, m.scaleRule, m.alphaOrigin],
      [16, 20, 'scale·alpha/rank', 'mlx_config'],
    );
  });

  it('DoRA: the magnitude `m` joins its module; without a config the scale is unknown', () => {
    const a = analyzeLoraSync(infoFrom({ ...shapes, 'model.layers.0.self_attn.q_proj.m': [64] }));
    const m = only(a, 'model.layers.0.self_attn.q_proj');
    assert.deepEqual(
      [m.label, m.dora?.axis, m.scale, m.alphaOrigin],
      ['DoRA linear', 'out', null, 'unknown'],
    );
    assert.deepEqual(a.nonLora, []);
  });
});

describe('LoRA analysis: GGUF LoRA (llama.cpp)', () => {
  // Shapes in numpy order (the GGUF reader reverses ne): lora_a [r, in], lora_b [out, r].
  const shapes = {
    'blk.0.attn_q.weight.lora_a': [4, 64],
    'blk.0.attn_q.weight.lora_b': [64, 4],
    'blk.0.attn_v.weight.lora_a': [4, 64],
    'blk.0.attn_v.weight.lora_b': [32, 4],
    'blk.0.attn_norm.weight': [64],
  };
  const meta = {
    'general.type': 'adapter',
    'adapter.type': 'lora',
    'general.architecture': 'llama',
  };

  it('family from metadata, scale = adapter.lora.alpha / rank', () => {
    const a = analyzeLoraSync(
      infoFrom(shapes, { format: 'gguf', metadata: { ...meta, 'adapter.lora.alpha': '8' } }),
    );
    assert.equal(a.family, 'gguf');
    assert.deepEqual(a.evidence.slice(0, 2), [
      'metadata general.type = adapter, adapter.type = lora',
      'metadata adapter.lora.alpha = 8',
    ]);
    const m = only(a, 'blk.0.attn_v.weight');
    assert.deepEqual(
      [m.target, m.rank, m.alpha, m.scale, m.alphaOrigin, m.inFeatures, m.outFeatures, m.layer],
      ['blk.0.attn_v', 4, 8, 2, 'gguf', 64, 32, { stack: 'blk', index: 0 }],
    );
    assert.deepEqual(
      a.nonLora.map((e) => [e.name, e.category]),
      [
        ['blk.0.attn_norm.weight', 'norm'],
        ['adapter.*', 'adapter-config'],
      ],
    );
    assert.deepEqual(a.scaleSources, [{ origin: 'gguf', key: 'adapter.lora.alpha', value: 8 }]);
  });

  it('no adapter.lora.alpha: llama.cpp scale 1 (alpha = rank)', () => {
    const a = analyzeLoraSync(infoFrom(shapes, { format: 'gguf', metadata: meta }));
    const m = only(a, 'blk.0.attn_q.weight');
    assert.deepEqual([m.alpha, m.scale, m.alphaOrigin], [4, 1, 'default-rank']);
    assert.equal(m.alphaSources[0]?.note, 'no adapter.lora.alpha (or 0): llama.cpp uses scale 1');
  });
});

describe('LoRA analysis: index-keyed lora_diffusion', () => {
  it('unet:<i>:up / :down pairs per group, textual-inversion token classified', () => {
    const a = analyzeLoraSync(
      infoFrom({
        'unet:0:up': [320, 4],
        'unet:0:down': [4, 320],
        'unet:1:up': [320, 4],
        'unet:1:down': [4, 768],
        'text_encoder:0:up': [768, 4],
        'text_encoder:0:down': [4, 768],
        '<s1>': [768],
      }),
    );
    assert.equal(a.family, 'lora-diffusion');
    assert.deepEqual(
      a.modules.map((m) => [m.name, m.group, m.rank, m.inFeatures, m.outFeatures, m.scale]),
      [
        ['unet:0', 'unet', 4, 320, 320, 1],
        ['unet:1', 'unet', 4, 768, 320, 1],
        ['text_encoder:0', 'text_encoder', 4, 768, 768, 1],
      ],
    );
    assert.deepEqual(a.groups, [
      { name: 'unet', modules: 2 },
      { name: 'text_encoder', modules: 1 },
    ]);
    assert.deepEqual(a.nonLora, [
      {
        name: '<s1>',
        reason: 'textual-inversion embedding saved with the adapter',
        category: 'textual-inversion',
        source: 'tensor',
      },
    ]);
  });
});

describe('LoRA analysis: LyCORIS algorithms', () => {
  it('LoHa linear and Tucker conv 3×3', () => {
    const p = 'lora_unet_down_blocks_0_attentions_0_proj_in';
    const c = 'lora_unet_down_blocks_0_resnets_0_conv1';
    const a = analyzeLoraSync(
      infoFrom({
        [`${p}.hada_w1_a`]: [320, 8],
        [`${p}.hada_w1_b`]: [8, 320],
        [`${p}.hada_w2_a`]: [320, 8],
        [`${p}.hada_w2_b`]: [8, 320],
        [`${p}.alpha`]: [],
        [`${c}.hada_t1`]: [8, 8, 3, 3],
        [`${c}.hada_w1_a`]: [8, 320],
        [`${c}.hada_w1_b`]: [8, 320],
        [`${c}.hada_t2`]: [8, 8, 3, 3],
        [`${c}.hada_w2_a`]: [8, 320],
        [`${c}.hada_w2_b`]: [8, 320],
      }),
    );
    assert.equal(a.family, 'lycoris');
    assert.deepEqual(pick(only(a, p)), {
      target: p,
      kind: 'loha',
      label: 'LoHa',
      rank: 8,
      alpha: null,
      scale: null,
      orientation: null,
      inFeatures: 320,
      outFeatures: 320,
    });
    const conv = only(a, c);
    assert.deepEqual(
      [conv.label, conv.kernel, conv.rank, conv.alpha, conv.scale, conv.alphaOrigin],
      ['LoHa conv 3×3', [3, 3], 8, 8, 1, 'default-rank'],
    );
  });

  it('LoKr with factorised factors (LyCORIS smart_falcon shapes): rank from w2_b, kron in/out', async () => {
    const n = 'lora_te_text_model_encoder_layers_0_mlp_fc1';
    const a = await analyzeLora(
      infoFrom({
        [`${n}.lokr_w1_a`]: [64, 4],
        [`${n}.lokr_w1_b`]: [4, 32],
        [`${n}.lokr_w2_a`]: [48, 4],
        [`${n}.lokr_w2_b`]: [4, 24],
        [`${n}.alpha`]: [],
      }),
      { readScalar: async () => 2 },
    );
    assert.deepEqual(pick(only(a, n)), {
      target: n,
      kind: 'lokr',
      label: 'LoKr',
      rank: 4,
      alpha: 2,
      scale: 0.5,
      orientation: null,
      inFeatures: 768,
      outFeatures: 3072,
    });
  });

  it('(IA)³ (LyCORIS weight + on_input, PEFT ia3_l), OFT, BOFT, full diff, norms: no alpha/rank scale', () => {
    const a = analyzeLoraSync(
      infoFrom({
        'lora_unet_a.weight': [320],
        'lora_unet_a.on_input': [],
        'lora_unet_b.oft_blocks': [4, 80, 80],
        'lora_unet_b.alpha': [],
        'lora_unet_c.oft_blocks': [2, 4, 80, 80],
        'lora_unet_c.rescale': [320, 1],
        'lora_unet_d.diff': [320, 320, 3, 3],
        'lora_unet_d.diff_b': [320],
        'lora_unet_e.w_norm': [320],
        'lora_unet_e.b_norm': [320],
      }),
    );
    assert.equal(a.family, 'lycoris');
    assert.deepEqual(
      a.modules.map((m) => [
        m.name,
        m.kind,
        m.label,
        m.rank,
        m.scale,
        m.scaleRule,
        m.inFeatures,
        m.outFeatures,
      ]),
      [
        ['lora_unet_a', 'ia3', '(IA)³ (320 features)', null, null, 'n/a', null, null],
        ['lora_unet_b', 'oft', 'OFT (4 blocks of 80)', null, null, 'n/a', 320, 320],
        ['lora_unet_c', 'boft', 'BOFT (4 blocks of 80)', null, null, 'n/a', 320, 320],
        [
          'lora_unet_d',
          'full',
          'full diff conv 3×3',
          null,
          1,
          '1 (the delta is added as is)',
          320,
          320,
        ],
        ['lora_unet_e', 'norm', 'norm diff', null, 1, '1 (the delta is added as is)', 320, 320],
      ],
    );
    assert.equal(only(a, 'lora_unet_b').alphaSources[0]?.note, 'OFT constraint');
    assert.deepEqual(only(a, 'lora_unet_a').parts, {
      on_input: 'lora_unet_a.on_input',
      weight: 'lora_unet_a.weight',
    });

    const peft = analyzeLoraSync(
      infoFrom({ 'base_model.model.model.layers.0.mlp.down_proj.ia3_l': [1, 128] }),
    );
    assert.deepEqual(
      [peft.family, peft.modules[0]?.label, peft.modules[0]?.inFeatures, peft.modules[0]?.target],
      ['peft', '(IA)³ on input', 128, 'model.layers.0.mlp.down_proj'],
    );
  });

  it('kohya LoCon Tucker: lora_mid gives the kernel, down is 1×1', () => {
    const n = 'lora_unet_down_blocks_0_resnets_0_conv1';
    const a = analyzeLoraSync(
      infoFrom({
        [`${n}.lora_down.weight`]: [8, 320, 1, 1],
        [`${n}.lora_mid.weight`]: [8, 8, 3, 3],
        [`${n}.lora_up.weight`]: [320, 8, 1, 1],
      }),
    );
    const m = only(a, n);
    assert.deepEqual(
      [m.kind, m.label, m.kernel, m.rank, m.tensors.length],
      ['conv', 'conv 3×3 (Tucker)', [3, 3], 8, 3],
    );
    assert.deepEqual([m.alpha, m.scale, m.alphaOrigin], [8, 1, 'default-rank']);
  });
});

describe('LoRA analysis: diffusers layouts', () => {
  it('old attention processors and lora_linear_layer: targets as diffusers names, grouped by component', () => {
    const u = 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor';
    const t = 'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer';
    const a = analyzeLoraSync(
      infoFrom({
        [`${u}.to_q_lora.down.weight`]: [4, 320],
        [`${u}.to_q_lora.up.weight`]: [320, 4],
        [`${u}.to_out_lora.down.weight`]: [4, 320],
        [`${u}.to_out_lora.up.weight`]: [320, 4],
        [`${t}.down.weight`]: [4, 768],
        [`${t}.up.weight`]: [768, 4],
      }),
    );
    assert.equal(a.family, 'diffusers');
    assert.deepEqual(
      a.modules.map((m) => [m.group, m.target, m.scale]),
      [
        ['unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', 1],
        ['unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0', 1],
        ['text_encoder', 'text_model.encoder.layers.0.self_attn.q_proj', 1],
      ],
    );
  });

  it('PEFT inside diffusers: lora_adapter_metadata gives r and lora_alpha per component', () => {
    const k = 'transformer.transformer_blocks.0.attn.to_k';
    const q = 'transformer.transformer_blocks.0.attn.to_q';
    const a = analyzeLoraSync(
      infoFrom(
        {
          [`${k}.lora_A.weight`]: [4, 64],
          [`${k}.lora_B.weight`]: [64, 4],
          [`${q}.lora_A.weight`]: [8, 64],
          [`${q}.lora_B.weight`]: [64, 8],
        },
        {
          metadata: {
            format: 'pt',
            lora_adapter_metadata: JSON.stringify({
              'transformer.r': 4,
              'transformer.lora_alpha': 8,
              'transformer.rank_pattern': { '^transformer_blocks.0.attn.to_q': 8 },
              'transformer.alpha_pattern': {},
              'transformer.use_rslora': false,
            }),
          },
        },
      ),
    );
    assert.equal(a.family, 'diffusers');
    assert.deepEqual(
      a.modules.map((m) => [m.target, m.rank, m.alpha, m.scale, m.alphaOrigin]),
      [
        ['transformer_blocks.0.attn.to_k', 4, 8, 2, 'lora_adapter_metadata'],
        ['transformer_blocks.0.attn.to_q', 8, 8, 1, 'lora_adapter_metadata'],
      ],
    );
    assert.deepEqual(a.nonLora, [
      {
        name: 'lora_adapter_metadata',
        reason: 'diffusers-saved PEFT config (read for rank and alpha)',
        category: 'adapter-config',
        source: 'metadata',
        count: 1,
      },
    ]);
    assert.deepEqual(a.warnings, ['rank varies: 4 ×1, 8 ×1 (rank_pattern)']);
  });
});

describe('LoRA analysis: ONNX adapters', () => {
  it('ORT-GenAI MatMul initializers: transposed, scale baked into B', () => {
    const n = 'model.layers.0.attn.q_proj';
    const a = analyzeLoraSync(
      infoFrom(
        { [`${n}.lora_A.MatMul.weight`]: [64, 4], [`${n}.lora_B.MatMul.weight`]: [4, 32] },
        { format: 'onnx' },
      ),
    );
    assert.equal(a.family, 'onnx');
    assert.deepEqual(pick(only(a, n)), {
      target: n,
      kind: 'linear',
      label: 'linear',
      rank: 4,
      alpha: null,
      scale: 1,
      orientation: 'transposed',
      inFeatures: 64,
      outFeatures: 32,
    });
    assert.equal(only(a, n).alphaSources[0]?.note, 'the exporter multiplies the scale into B');
  });
});

describe('LoRA analysis: unknown and empty layouts', () => {
  it('lora_A / lora_B without any known prefix or config: unknown, modules still listed', () => {
    const a = analyzeLoraSync(
      infoFrom({
        'encoder.block.0.attn.lora_A.weight': [4, 64],
        'encoder.block.0.attn.lora_B.weight': [64, 4],
      }),
    );
    assert.equal(a.family, 'unknown');
    assert.equal(a.familyLabel, 'unknown layout');
    assert.deepEqual(a.evidence, [
      'no family explains these names: 1 adapter-like module, e.g. encoder.block.0.attn',
      '1 module with PEFT suffixes (.lora_A / .lora_B …)',
    ]);
    assert.deepEqual(a.warnings, [
      'unknown family: no family explains these names: 1 adapter-like module, e.g. encoder.block.0.attn',
    ]);
    assert.deepEqual(
      [a.modules[0]?.rank, a.modules[0]?.scale, a.modules[0]?.alphaOrigin],
      [4, null, 'unknown'],
    );
  });

  it('only loose halves: unknown, never forced into a family', () => {
    const a = analyzeLoraSync(
      infoFrom({ 'x.lora_down.weight': [4, 64], 'y.lora_A.weight': [4, 64] }),
    );
    assert.equal(a.family, 'unknown');
    assert.deepEqual(a.modules, []);
    assert.deepEqual(a.evidence, [
      '2 adapter tensor groups without a complete module, e.g. x.lora_down.weight',
    ]);
    assert.deepEqual(
      a.nonLora.map((e) => [e.name, e.category, e.reason]),
      [
        ['x.lora_down.weight', 'orphan', 'orphan: lora_down without lora_up'],
        ['y.lora_A.weight', 'orphan', 'orphan: lora_A without lora_B'],
      ],
    );
  });

  it('a model with a parameter named alpha is not an adapter', () => {
    const a = analyzeLoraSync(infoFrom({ 'act.alpha': [], 'fc.weight': [4, 4] }));
    assert.deepEqual([a.family, a.warnings], ['none', []]);
    assert.deepEqual(a.nonLora, [
      {
        name: '*',
        reason: 'model weights: this file holds no adapter',
        category: 'full-weight',
        source: 'tensor',
        count: 2,
      },
    ]);
  });

  it('textual-inversion bundles beside a kohya LoRA', () => {
    const n = 'lora_te1_text_model_encoder_layers_0_self_attn_q_proj';
    const a = analyzeLoraSync(
      infoFrom({
        [`${n}.lora_down.weight`]: [4, 768],
        [`${n}.lora_up.weight`]: [768, 4],
        'bundle_emb.mytoken.clip_l': [2, 768],
        'bundle_emb.mytoken.clip_g': [2, 1280],
        emb_params: [2, 768],
      }),
    );
    assert.equal(a.family, 'kohya');
    assert.deepEqual(
      a.nonLora.map((e) => e.category),
      ['textual-inversion', 'textual-inversion', 'textual-inversion'],
    );
  });
});
