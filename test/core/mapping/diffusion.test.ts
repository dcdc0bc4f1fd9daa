import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapAdapter } from '../../../src/core/mapping/index.js';
import { keyList, infoFrom } from '../lora/loraTestInfo.js';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import {
  assertAllHigh,
  baseFrom,
  baseKeys,
  kohyaAdapter,
  peftAdapter,
  targets,
} from './mappingTestKit.js';

/** Module paths of a base key list that LoRA / LoCon trainers target, with [in, out, ...kernel]. */
function loraTargets(keys: Record<string, number[]>, pick: RegExp): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, shape] of Object.entries(keys)) {
    if (!k.endsWith('.weight') || !pick.test(k)) continue;
    const [o = 0, i = 0, ...kernel] = shape;
    if (shape.length < 2) continue;
    out.set(k.slice(0, -'.weight'.length), [i, o, ...kernel]);
  }
  return out;
}
const kohya = (prefix: string, paths: Map<string, number[]>): Record<string, number[]> =>
  Object.fromEntries([...paths].map(([p, s]) => [`${prefix}${p.replace(/\./g, '_')}`, s]));

const UNET_PICK =
  /(attn[12]\.to_(q|k|v|out\.0)|proj_in|proj_out|ff\.net\.(0\.proj|2)|conv[12]|time_emb_proj|conv_shortcut)\.weight$/;

describe('kohya names onto SD UNets and the CLIP text encoder', () => {
  it('SD1.5: every lora_unet_ (diffusers-flattened) module, LoCon convs included, maps exactly', () => {
    const keys = baseKeys('sd15-unet_diffusers-naming.state_dict.json');
    const paths = loraTargets(keys, UNET_PICK);
    const adapter = kohyaAdapter(kohya('lora_unet_', paths));
    assert.equal(adapter.analysis.modules.length, paths.size);
    const expected = new Map(
      [...paths.keys()].map((p) => [`lora_unet_${p.replace(/\./g, '_')}`, `${p}.weight`]),
    );
    const r = mapAdapter(adapter, baseFrom(keys));
    assertAllHigh(r, expected);
    assert.ok(paths.size > 250, `${paths.size}`);
    const proj = r.mappings.find(
      (m) => m.module === 'lora_unet_down_blocks_0_attentions_0_proj_in',
    );
    assert.equal(proj?.target, 'down_blocks.0.attentions.0.proj_in.weight');
    assert.match(proj?.reason ?? '', /kohya name resolved against the base's module tree/);
  });

  it('SDXL: every lora_unet_ (LDM-flattened) module maps exactly', () => {
    const keys = baseKeys('sdxl-unet_sai-ldm-naming.state_dict.json');
    const paths = loraTargets(
      keys,
      /(attn[12]\.to_(q|k|v|out\.0)|proj_in|proj_out|ff\.net\.(0\.proj|2)|in_layers\.2|out_layers\.3|emb_layers\.1)\.weight$/,
    );
    const adapter = kohyaAdapter(kohya('lora_unet_', paths));
    const expected = new Map(
      [...paths.keys()].map((p) => [`lora_unet_${p.replace(/\./g, '_')}`, `${p}.weight`]),
    );
    const r = mapAdapter(adapter, baseFrom(keys));
    assertAllHigh(r, expected);
    assert.ok(paths.size > 700, `${paths.size}`);
  });

  it('SDXL: diffusers-named modules find their LDM-named parameters (block renumbering)', () => {
    const keys = baseKeys('sdxl-unet_sai-ldm-naming.state_dict.json');
    const cases: [string, string][] = [
      [
        'down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q',
        'input_blocks.4.1.transformer_blocks.1.attn1.to_q',
      ],
      [
        'down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k',
        'input_blocks.8.1.transformer_blocks.9.attn2.to_k',
      ],
      ['down_blocks.2.attentions.1.proj_in', 'input_blocks.8.1.proj_in'],
      [
        'mid_block.attentions.0.transformer_blocks.3.ff.net.0.proj',
        'middle_block.1.transformer_blocks.3.ff.net.0.proj',
      ],
      [
        'up_blocks.0.attentions.2.transformer_blocks.0.attn1.to_out.0',
        'output_blocks.2.1.transformer_blocks.0.attn1.to_out.0',
      ],
      ['up_blocks.1.attentions.0.proj_out', 'output_blocks.3.1.proj_out'],
      ['down_blocks.1.resnets.0.conv1', 'input_blocks.4.0.in_layers.2'],
      ['down_blocks.1.resnets.1.time_emb_proj', 'input_blocks.5.0.emb_layers.1'],
      ['up_blocks.2.resnets.2.conv2', 'output_blocks.8.0.out_layers.3'],
      ['mid_block.resnets.1.conv1', 'middle_block.2.in_layers.2'],
      ['up_blocks.0.upsamplers.0.conv', 'output_blocks.2.2.conv'],
      ['down_blocks.0.downsamplers.0.conv', 'input_blocks.3.0.op'],
      ['time_embedding.linear_1', 'time_embed.0'],
      ['add_embedding.linear_2', 'label_emb.0.2'],
    ];
    const shapes: Record<string, number[]> = {};
    for (const [diff, ldm] of cases) {
      const [o = 0, i = 0, ...k] = keys[`${ldm}.weight`] ?? [];
      shapes[`unet.${diff}.lora_A.weight`] = [4, i, ...k];
      shapes[`unet.${diff}.lora_B.weight`] = [o, 4, ...k.map(() => 1)];
    }
    const info = infoFrom(shapes);
    const r = mapAdapter({ analysis: analyzeLoraSync(info), info }, baseFrom(keys));
    const got = targets(r);
    for (const [diff, ldm] of cases) {
      const mod = r.mappings.find((m) => m.module.endsWith(diff));
      assert.equal(got.get(mod?.module ?? diff), `${ldm}.weight`, diff);
      assert.equal(mod?.level, 'high', mod?.reason);
    }
  });

  it('SD1.5 text encoder: lora_te_text_model_* onto CLIPTextModel names without text_model.', () => {
    const keys = baseKeys('sd15-text-encoder_CLIPTextModel.state_dict.json');
    const paths = loraTargets(keys, /(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.weight$/);
    const adapter = kohyaAdapter(
      Object.fromEntries(
        [...paths].map(([p, s]) => [`lora_te_text_model_${p.replace(/\./g, '_')}`, s]),
      ),
    );
    const expected = new Map(
      [...paths.keys()].map((p) => [`lora_te_text_model_${p.replace(/\./g, '_')}`, `${p}.weight`]),
    );
    const r = mapAdapter(adapter, baseFrom(keys));
    assertAllHigh(r, expected);
    assert.equal(r.mappings.length, 72);
  });
});

/** BFL Flux.1 [dev] parameter layout, from the public model code (hidden 3072, MLP ×4, 19 + 38 blocks). */
export function fluxBase(): Record<string, number[]> {
  const H = 3072;
  const keys: Record<string, number[]> = {
    'img_in.weight': [H, 64],
    'txt_in.weight': [H, 4096],
    'time_in.in_layer.weight': [H, 256],
    'time_in.out_layer.weight': [H, H],
    'vector_in.in_layer.weight': [H, 768],
    'vector_in.out_layer.weight': [H, H],
    'guidance_in.in_layer.weight': [H, 256],
    'guidance_in.out_layer.weight': [H, H],
    'final_layer.linear.weight': [64, H],
    'final_layer.adaLN_modulation.1.weight': [2 * H, H],
  };
  for (let i = 0; i < 19; i++) {
    for (const s of ['img', 'txt']) {
      keys[`double_blocks.${i}.${s}_mod.lin.weight`] = [6 * H, H];
      keys[`double_blocks.${i}.${s}_attn.qkv.weight`] = [3 * H, H];
      keys[`double_blocks.${i}.${s}_attn.proj.weight`] = [H, H];
      keys[`double_blocks.${i}.${s}_attn.norm.query_norm.scale`] = [128];
      keys[`double_blocks.${i}.${s}_mlp.0.weight`] = [4 * H, H];
      keys[`double_blocks.${i}.${s}_mlp.2.weight`] = [H, 4 * H];
    }
  }
  for (let i = 0; i < 38; i++) {
    keys[`single_blocks.${i}.linear1.weight`] = [3 * H + 4 * H, H];
    keys[`single_blocks.${i}.linear2.weight`] = [H, H + 4 * H];
    keys[`single_blocks.${i}.modulation.lin.weight`] = [3 * H, H];
  }
  return keys;
}

function realAdapter(name: string) {
  const info = infoFrom(keyList(name));
  return { analysis: analyzeLoraSync(info), info };
}

describe('real Flux LoRA key lists onto BFL Flux names', () => {
  const base = baseFrom(fluxBase());
  for (const name of [
    'flux_lora_kohya_format',
    'flux_lora_aitoolkit_format',
    'flux_lora_xlabs_format',
  ]) {
    it(`${name}: every module maps high onto a BFL parameter`, () => {
      const adapter = realAdapter(name);
      const r = mapAdapter(adapter, base);
      assert.ok(adapter.analysis.modules.length > 0);
      assert.deepEqual(r.unmatchedAdapter, []);
      for (const m of r.mappings) {
        assert.equal(m.level, 'high', `${m.module}: ${m.reason}`);
        const stem = m.target.replace(/\.weight$/, '');
        const flat = stem.replace(/\./g, '_');
        assert.ok(
          m.module.includes(stem) || m.module.includes(flat) || name.includes('xlabs'),
          `${m.module} → ${m.target}`,
        );
      }
    });
  }

  it('xlabs processor names find their BFL modules', () => {
    const r = mapAdapter(realAdapter('flux_lora_xlabs_format'), base);
    const got = targets(r);
    assert.equal(
      got.get('double_blocks.0.processor.qkv_lora1'),
      'double_blocks.0.img_attn.qkv.weight',
    );
    assert.equal(
      got.get('double_blocks.0.processor.proj_lora2'),
      'double_blocks.0.txt_attn.proj.weight',
    );
  });

  it('diffusers Flux: q/k/v and proj_mlp map to row slices of the fused qkv and linear1', () => {
    const adapter = realAdapter('flux_lora_diffusers_format');
    const r = mapAdapter(adapter, base);
    assert.deepEqual(r.unmatchedAdapter, []);
    for (const m of r.mappings) assert.equal(m.level, 'high', `${m.module}: ${m.reason}`);
    const by = new Map(r.mappings.map((m) => [m.module.replace(/^transformer\./, ''), m]));
    const H = 3072;
    const expectSlice = (mod: string, target: string, start: number, end: number): void => {
      const m = by.get(mod);
      assert.equal(m?.target, target, mod);
      assert.equal(m?.shapeCheck, 'slice', mod);
      assert.deepEqual(m?.slice, { axis: 0, start, end }, mod);
    };
    expectSlice('single_transformer_blocks.0.attn.to_q', 'single_blocks.0.linear1.weight', 0, H);
    expectSlice(
      'single_transformer_blocks.0.attn.to_k',
      'single_blocks.0.linear1.weight',
      H,
      2 * H,
    );
    expectSlice(
      'single_transformer_blocks.7.attn.to_v',
      'single_blocks.7.linear1.weight',
      2 * H,
      3 * H,
    );
    expectSlice(
      'single_transformer_blocks.0.proj_mlp',
      'single_blocks.0.linear1.weight',
      3 * H,
      7 * H,
    );
    expectSlice('transformer_blocks.0.attn.to_k', 'double_blocks.0.img_attn.qkv.weight', H, 2 * H);
    expectSlice(
      'transformer_blocks.18.attn.add_v_proj',
      'double_blocks.18.txt_attn.qkv.weight',
      2 * H,
      3 * H,
    );
    assert.equal(
      by.get('transformer_blocks.0.attn.to_out.0')?.target,
      'double_blocks.0.img_attn.proj.weight',
    );
    assert.equal(
      by.get('single_transformer_blocks.3.proj_out')?.target,
      'single_blocks.3.linear2.weight',
    );
    assert.equal(
      by.get('transformer_blocks.2.ff_context.net.2')?.target,
      'double_blocks.2.txt_mlp.2.weight',
    );
  });
});

describe('PEFT names onto other LLM layouts', () => {
  it('Llama-3.1-8B (GQA): every attention and MLP module maps exactly', () => {
    const keys = baseKeys('llama3.1-8b_LlamaForCausalLM.state_dict.json');
    const paths = loraTargets(keys, /(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$/);
    const r = mapAdapter(peftAdapter(Object.fromEntries(paths)), baseFrom(keys));
    const expected = new Map(
      r.mappings.map((m) => [m.module, m.module.replace(/^base_model\.model\./, '') + '.weight']),
    );
    assertAllHigh(r, expected);
    assert.equal(r.mappings.length, 32 * 7);
  });

  it('GPT-2: c_attn / c_proj / c_fc are Conv1D weights stored [in, out]', () => {
    const keys = baseKeys('gpt2-small_GPT2LMHeadModel.state_dict.json');
    const r = mapAdapter(
      peftAdapter({
        'transformer.h.3.attn.c_attn': [768, 2304],
        'transformer.h.3.mlp.c_fc': [768, 3072],
        'transformer.h.3.attn.c_proj': [768, 768],
      }),
      baseFrom(keys),
    );
    const got = targets(r);
    assert.equal(
      got.get('base_model.model.transformer.h.3.attn.c_attn'),
      'transformer.h.3.attn.c_attn.weight',
    );
    for (const m of r.mappings) {
      assert.equal(m.level, 'high', m.reason);
      assert.equal(m.shapeCheck, 'transposed', m.module);
    }
  });
});
