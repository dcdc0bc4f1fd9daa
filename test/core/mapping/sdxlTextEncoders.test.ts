import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import { mapAdapter, type MappingEntry } from '../../../src/core/mapping/index.js';
import { infoFrom } from '../lora/loraTestInfo.js';
import { moduleShapes } from './diffusionBases.js';
import { assertAllHigh, baseFrom, baseKeys, kohyaAdapter } from './mappingTestKit.js';

/** sd_xl_base_1.0.safetensors as SGM stores it: UNet under model.diffusion_model., both text encoders. */
function sdxlCheckpoint(): Record<string, number[]> {
  const keys: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(baseKeys('sdxl-unet_sai-ldm-naming.state_dict.json')))
    keys[`model.diffusion_model.${k}`] = v;
  return { ...keys, ...baseKeys('sdxl-conditioner_sgm-naming.state_dict.json') };
}

const TE1 = 'conditioner.embedders.0.transformer.text_model.';
const TE2 = 'conditioner.embedders.1.model.transformer.resblocks.';
const W = 1280; // OpenCLIP ViT-bigG-14 text width
const PROJ = /(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])$/;

/** te1 / te2 modules as kohya's SDXL trainer names them (transformers CLIP names, flattened). */
function kohyaTextEncoderModules(): {
  modules: Record<string, number[]>;
  expected: Map<string, string>;
  slices: Map<string, [number, number]>;
} {
  const modules: Record<string, number[]> = {};
  const expected = new Map<string, string>();
  const slices = new Map<string, [number, number]>();
  const te1 = baseKeys('sd15-text-encoder_CLIPTextModel.state_dict.json');
  for (const [path, shape] of moduleShapes(te1)) {
    if (!PROJ.test(path)) continue;
    const name = `lora_te1_text_model_${path.replace(/\./g, '_')}`;
    modules[name] = shape;
    expected.set(name, `${TE1}${path}.weight`);
  }
  for (let n = 0; n < 32; n++) {
    const flat = `lora_te2_text_model_encoder_layers_${n}_`;
    ['q', 'k', 'v'].forEach((p, i) => {
      const name = `${flat}self_attn_${p}_proj`;
      modules[name] = [W, W];
      expected.set(name, `${TE2}${n}.attn.in_proj_weight`);
      slices.set(name, [i * W, (i + 1) * W]);
    });
    modules[`${flat}self_attn_out_proj`] = [W, W];
    expected.set(`${flat}self_attn_out_proj`, `${TE2}${n}.attn.out_proj.weight`);
    modules[`${flat}mlp_fc1`] = [W, 4 * W];
    expected.set(`${flat}mlp_fc1`, `${TE2}${n}.mlp.c_fc.weight`);
    modules[`${flat}mlp_fc2`] = [4 * W, W];
    expected.set(`${flat}mlp_fc2`, `${TE2}${n}.mlp.c_proj.weight`);
  }
  return { modules, expected, slices };
}

function assertSlices(
  mappings: readonly MappingEntry[],
  slices: ReadonlyMap<string, [number, number]>,
  moduleOf: (kohya: string) => string = (k) => k,
): void {
  const by = new Map(mappings.map((m) => [m.module, m]));
  for (const [name, [start, end]] of slices) {
    const m = by.get(moduleOf(name));
    assert.equal(m?.shapeCheck, 'slice', `${name}: ${m?.reason}`);
    assert.deepEqual(m?.slice, { axis: 0, start, end }, name);
  }
}

describe('SDXL text encoders onto an SGM checkpoint (OpenCLIP-G in_proj fused q/k/v)', () => {
  const base = baseFrom(sdxlCheckpoint());

  it('kohya lora_te1_/lora_te2_: every module high; te2 q/k/v are row slices of in_proj_weight', () => {
    const { modules, expected, slices } = kohyaTextEncoderModules();
    const r = mapAdapter(kohyaAdapter(modules), base);
    assert.equal(r.mappings.length, 72 + 32 * 6);
    assertAllHigh(r, expected);
    assertSlices(r.mappings, slices);
    const q = r.mappings.find(
      (m) => m.module === 'lora_te2_text_model_encoder_layers_5_self_attn_q_proj',
    );
    assert.match(q?.reason ?? '', /rows 0–1280 of fused weight \[3840, 1280\]/);
  });

  it('diffusers/PEFT text_encoder_2.… names find the same targets', () => {
    const { modules, expected, slices } = kohyaTextEncoderModules();
    const rename = (k: string): string =>
      k
        .replace(/^lora_te1_text_model_/, 'text_encoder.text_model.')
        .replace(/^lora_te2_text_model_/, 'text_encoder_2.text_model.')
        .replace(/_layers_(\d+)_/, '.layers.$1.')
        .replace(/encoder_layers/, 'encoder.layers')
        .replace(/\.self_attn_/, '.self_attn.')
        .replace(/\.mlp_/, '.mlp.');
    const shapes: Record<string, number[]> = {};
    for (const [k, [inF = 0, out = 0]] of Object.entries(modules)) {
      shapes[`${rename(k)}.lora_A.weight`] = [8, inF];
      shapes[`${rename(k)}.lora_B.weight`] = [out, 8];
    }
    const info = infoFrom(shapes);
    const r = mapAdapter({ analysis: analyzeLoraSync(info), info }, base);
    assertAllHigh(r, new Map([...expected].map(([k, v]) => [rename(k), v])));
    assertSlices(r.mappings, slices, rename);
  });

  it('the two encoders never trade targets, and the UNet still maps beside them', () => {
    const r = mapAdapter(
      kohyaAdapter({
        lora_te1_text_model_encoder_layers_3_mlp_fc1: [768, 3072],
        lora_te2_text_model_encoder_layers_3_mlp_fc1: [W, 4 * W],
        lora_te2_text_model_encoder_layers_31_self_attn_v_proj: [W, W],
        lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q: [640, 640],
      }),
      base,
    );
    assertAllHigh(
      r,
      new Map([
        ['lora_te1_text_model_encoder_layers_3_mlp_fc1', `${TE1}encoder.layers.3.mlp.fc1.weight`],
        ['lora_te2_text_model_encoder_layers_3_mlp_fc1', `${TE2}3.mlp.c_fc.weight`],
        ['lora_te2_text_model_encoder_layers_31_self_attn_v_proj', `${TE2}31.attn.in_proj_weight`],
        [
          'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q',
          'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight',
        ],
      ]),
    );
    for (const m of r.mappings)
      for (const alt of m.alternatives)
        assert.ok(
          !(m.module.includes('_te1_') && alt.target.startsWith('conditioner.embedders.1')) &&
            !(m.module.includes('_te2_') && alt.target.startsWith('conditioner.embedders.0')),
          `${m.module}: alternative ${alt.target} is in the other encoder`,
        );
  });
});
