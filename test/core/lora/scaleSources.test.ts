import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeValues, openPath, type DType } from '../../../src/core/formats/index.js';
import { analyzeLora, analyzeLoraSync, matchPattern } from '../../../src/core/lora/index.js';
import { infoFrom, REPO } from './loraTestInfo.js';

const KOHYA_SAMPLE = join(REPO, 'samples/kohya-style-lora.safetensors');
const Q = 'lora_te_text_model_encoder_layers_0_self_attn_q_proj';

function kohyaInfo(metadata: Record<string, string>, withAlpha = true) {
  return infoFrom(
    {
      [`${Q}.lora_down.weight`]: [4, 768],
      [`${Q}.lora_up.weight`]: [768, 4],
      ...(withAlpha ? { [`${Q}.alpha`]: [] } : {}),
    },
    { dtype: 'F16', metadata },
  );
}

describe('LoRA scale: per-module .alpha tensors', () => {
  it('kohya sample, read through the real safetensors reader: alpha 2 / rank 4 = 0.5', async () => {
    const ckpt = await openPath(KOHYA_SAMPLE);
    try {
      const a = await analyzeLora(ckpt, {
        readScalar: async (name) => {
          const t = ckpt.tensor(name);
          return decodeValues(await ckpt.readTensorBytes(t), t.dtype as DType)[0] ?? NaN;
        },
      });
      assert.equal(a.family, 'kohya');
      assert.deepEqual(
        a.modules.map((m) => [m.target, m.label, m.alpha, m.scale, m.alphaOrigin]),
        [
          [Q, 'linear', 2, 0.5, 'tensor'],
          ['lora_unet_down_blocks_0_attentions_0_proj_in', 'conv 1×1', 2, 0.5, 'tensor'],
          [
            'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q',
            'linear',
            2,
            0.5,
            'tensor',
          ],
          [
            'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k',
            'linear',
            2,
            0.5,
            'tensor',
          ],
        ],
      );
      // The metadata agrees with the tensors: both recorded, the tensor used, no conflict.
      assert.deepEqual(a.modules[0]?.alphaSources, [
        {
          origin: 'tensor',
          key: `${Q}.alpha`,
          alpha: 2,
          used: true,
          note: 'wins: loaders read the per-module .alpha tensor',
        },
        {
          origin: 'ss_network_alpha',
          key: 'ss_network_alpha',
          alpha: 2,
          used: false,
          note: 'kohya training metadata',
        },
      ]);
      assert.deepEqual(a.warnings, []);
      assert.deepEqual(a.groups, [
        { name: 'lora_unet', modules: 3 },
        { name: 'lora_te', modules: 1 },
      ]);
      assert.deepEqual(a.scaleSources, [
        { origin: 'ss_network_alpha', key: 'ss_network_dim', value: 4 },
        { origin: 'ss_network_alpha', key: 'ss_network_alpha', value: 2 },
      ]);
      assert.deepEqual(
        a.nonLora.map((e) => [e.name, e.count]),
        [
          ['ss_*', 57],
          ['sshs_*', 2],
          ['modelspec.*', 10],
        ],
      );
    } finally {
      await ckpt.close();
    }
  });

  it('sync path: alpha tensor present, value not read; ss_network_alpha stands in', async () => {
    const ckpt = await openPath(KOHYA_SAMPLE);
    const a = analyzeLoraSync(ckpt);
    await ckpt.close();
    const m = a.modules[0];
    assert.deepEqual([m?.alpha, m?.scale, m?.alphaOrigin], [2, 0.5, 'ss_network_alpha']);
    assert.deepEqual(m?.alphaSources, [
      {
        origin: 'tensor-unread',
        key: `${Q}.alpha`,
        alpha: null,
        used: false,
        note: 'alpha tensor present, value not read',
      },
      {
        origin: 'ss_network_alpha',
        key: 'ss_network_alpha',
        alpha: 2,
        used: true,
        note: 'kohya training metadata; wins: the metadata stands in for the unread tensor',
      },
    ]);
    assert.deepEqual(a.warnings, [
      'alpha tensor present, value not read: 4 modules use the metadata alpha instead',
    ]);
  });

  it('sync path without metadata: scale unknown', () => {
    const a = analyzeLoraSync(kohyaInfo({}));
    assert.deepEqual(
      [a.modules[0]?.alpha, a.modules[0]?.scale, a.modules[0]?.alphaOrigin],
      [null, null, 'tensor-unread'],
    );
    assert.deepEqual(a.warnings, [
      'alpha tensor present, value not read: 1 module has no known scale',
    ]);
  });

  it('a failing reader is reported per tensor, not thrown', async () => {
    const a = await analyzeLora(kohyaInfo({}), {
      readScalar: async () => {
        throw new Error('disk gone');
      },
    });
    assert.equal(
      a.modules[0]?.alphaSources[0]?.note,
      'alpha tensor present, value not read: disk gone',
    );
  });

  it('a stored alpha of 0 means alpha = rank (sd-scripts)', async () => {
    const a = await analyzeLora(kohyaInfo({}), { readScalar: async () => 0 });
    const m = a.modules[0];
    assert.deepEqual(
      [m?.alpha, m?.scale, m?.alphaSources[0]?.note],
      [4, 1, 'stored 0: kohya treats it as alpha = rank'],
    );
  });
});

describe('LoRA scale: conflicting alpha sources', () => {
  it('tensor 8 vs ss_network_alpha 4: the tensor wins, both recorded, one warning', async () => {
    const a = await analyzeLora(kohyaInfo({ ss_network_dim: '4', ss_network_alpha: '4' }), {
      readScalar: async () => 8,
    });
    const m = a.modules[0];
    assert.deepEqual([m?.alpha, m?.scale, m?.alphaOrigin], [8, 2, 'tensor']);
    assert.deepEqual(
      m?.alphaSources.map((s) => [s.origin, s.alpha, s.used]),
      [
        ['tensor', 8, true],
        ['ss_network_alpha', 4, false],
      ],
    );
    assert.deepEqual(a.warnings, [
      `conflicting alpha sources in 1 module: ${Q}: ${Q}.alpha = 8 vs ss_network_alpha = 4; loaders read the per-module .alpha tensor`,
    ]);
  });

  it('no alpha tensor: loaders use alpha = rank even when ss_network_alpha says otherwise', () => {
    const a = analyzeLoraSync(kohyaInfo({ ss_network_alpha: '1' }, false));
    const m = a.modules[0];
    assert.deepEqual(
      [m?.alpha, m?.scale, m?.alphaOrigin, m?.scaleRule],
      [4, 1, 'default-rank', 'alpha/rank (alpha = rank)'],
    );
    assert.deepEqual(a.warnings, [
      `conflicting alpha sources in 1 module: ${Q}: default-rank 4 vs ss_network_alpha = 1; no alpha stored: loaders use alpha = rank, scale 1`,
    ]);
  });

  it('adapter_config.json vs lora_adapter_metadata in a PEFT file: the config wins', () => {
    const n = 'base_model.model.model.layers.0.self_attn.q_proj';
    const a = analyzeLoraSync(
      infoFrom(
        { [`${n}.lora_A.weight`]: [8, 64], [`${n}.lora_B.weight`]: [64, 8] },
        {
          metadata: { lora_adapter_metadata: JSON.stringify({ r: 8, lora_alpha: 8 }) },
          configs: { 'adapter_config.json': { peft_type: 'LORA', r: 8, lora_alpha: 16 } },
        },
      ),
    );
    const m = a.modules[0];
    assert.deepEqual([m?.alpha, m?.scale, m?.alphaOrigin], [16, 2, 'adapter_config']);
    assert.deepEqual(
      m?.alphaSources.map((s) => [s.key, s.alpha, s.used]),
      [
        ['adapter_config.json: lora_alpha', 16, true],
        ['lora_adapter_metadata[*]: lora_alpha', 8, false],
      ],
    );
    assert.equal(
      a.warnings[0],
      'conflicting alpha sources in 1 module: base_model.model.model.layers.0.self_attn.q_proj: adapter_config.json: lora_alpha = 16 vs lora_adapter_metadata[*]: lora_alpha = 8; PEFT reads adapter_config.json',
    );
  });

  it('config r disagreeing with the tensor rank is a shape inconsistency', () => {
    const n = 'base_model.model.fc';
    const a = analyzeLoraSync(
      infoFrom(
        { [`${n}.lora_A.weight`]: [4, 16], [`${n}.lora_B.weight`]: [16, 4] },
        { configs: { 'adapter_config.json': { peft_type: 'LORA', r: 8, lora_alpha: 16 } } },
      ),
    );
    assert.deepEqual([a.modules[0]?.rank, a.modules[0]?.scale], [4, 2]);
    assert.deepEqual(a.warnings, [
      'shape inconsistencies in 1 place: base_model.model.fc: adapter_config.json: r = 8 but the tensors have rank 4',
    ]);
  });
});

describe("LoRA scale: PEFT's rank_pattern / alpha_pattern matching", () => {
  const patterns: [string, number][] = [
    ['model.layers.1.self_attn.q_proj', 2],
    ['q_proj', 4],
  ];
  it('matches a whole dotted suffix, first key wins', () => {
    assert.deepEqual(matchPattern(patterns, 'model.layers.1.self_attn.q_proj'), {
      pattern: 'model.layers.1.self_attn.q_proj',
      value: 2,
    });
    assert.deepEqual(matchPattern(patterns, 'model.layers.0.self_attn.q_proj'), {
      pattern: 'q_proj',
      value: 4,
    });
  });
  it('no partial segment matches (xq_proj is not q_proj); regexes and ^ anchors work', () => {
    assert.equal(matchPattern(patterns, 'model.layers.0.self_attn.xq_proj'), undefined);
    assert.deepEqual(
      matchPattern([[String.raw`layers\.1\..*k_proj`, 4]], 'model.layers.1.self_attn.k_proj')
        ?.value,
      4,
    );
    assert.equal(matchPattern([['^attn.to_q', 8]], 'blocks.0.attn.to_q'), undefined);
    assert.equal(matchPattern([['^blocks.0.attn.to_q', 8]], 'blocks.0.attn.to_q')?.value, 8);
  });
  it('a pattern JavaScript cannot compile is skipped and reported', () => {
    const bad: string[] = [];
    assert.equal(
      matchPattern([['(unclosed', 1]], 'a.b', (p) => bad.push(p)),
      undefined,
    );
    assert.deepEqual(bad, ['(unclosed']);
  });
});
