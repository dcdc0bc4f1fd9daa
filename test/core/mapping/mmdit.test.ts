import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import { mapAdapter, type MappingResult } from '../../../src/core/mapping/index.js';
import { infoFrom, keyList } from '../lora/loraTestInfo.js';
import {
  moduleShapes,
  qwenImageBase,
  sd3DiffusersBase,
  sd3DiffusersToSai,
  sd3SaiBase,
  type Sd3Config,
} from './diffusionBases.js';
import { assertAllHigh, baseFrom, kohyaAdapter, targets } from './mappingTestKit.js';

/** SD3 medium (depth 24, 1536 wide) cut to 3 blocks; SD3.5 medium adds attn2 to the first blocks. */
const SD3: Sd3Config = { depth: 3, hidden: 1536, dualAttention: [] };
const SD35: Sd3Config = { depth: 3, hidden: 1536, dualAttention: [0, 1] };

/** A diffusers-format transformer LoRA (`transformer.<module>.lora_A.weight`). */
function diffusersLora(shapes: ReadonlyMap<string, readonly number[]>, prefix = 'transformer.') {
  const keys: Record<string, number[]> = {};
  for (const [path, [inF = 0, out = 0, ...k]] of shapes) {
    keys[`${prefix}${path}.lora_A.weight`] = [16, inF, ...k];
    keys[`${prefix}${path}.lora_B.weight`] = [out, 16, ...k.map(() => 1)];
  }
  const info = infoFrom(keys);
  return { analysis: analyzeLoraSync(info), info };
}
const flat = (p: string): string => `lora_unet_${p.replace(/\./g, '_')}`;

function assertSd3OnSai(r: MappingResult, c: Sd3Config, moduleOf: (d: string) => string): void {
  const by = new Map(r.mappings.map((m) => [m.module, m]));
  const H = c.hidden;
  for (const p of sd3DiffusersToSai(c)) {
    const m = by.get(moduleOf(p.diffusers));
    assert.equal(m?.target, `model.diffusion_model.${p.sai}.weight`, p.diffusers);
    if (p.swapped) {
      // Same rows, other order: never `high`, and the reason says why.
      assert.notEqual(m?.level, 'high', `${p.diffusers}: ${m?.reason}`);
      assert.match(m?.reason ?? '', /halves/);
      continue;
    }
    assert.equal(m?.level, 'high', `${p.diffusers}: ${m?.reason}`);
    if (p.part === null) assert.notEqual(m?.shapeCheck, 'slice', p.diffusers);
    else assert.deepEqual(m?.slice, { axis: 0, start: p.part * H, end: (p.part + 1) * H });
  }
  assert.deepEqual(r.unmatchedAdapter, []);
}

describe('SD3 / SD3.5 MMDiT', () => {
  for (const [label, c] of [
    ['SD3 medium', SD3],
    ['SD3.5 medium (attn2)', SD35],
  ] as const) {
    const diffusers = sd3DiffusersBase(c);
    const shapes = moduleShapes(diffusers);

    it(`${label}: diffusers-named LoRA onto the diffusers base`, () => {
      const r = mapAdapter(diffusersLora(shapes), baseFrom(diffusers));
      assertAllHigh(r, new Map([...shapes.keys()].map((p) => [`transformer.${p}`, `${p}.weight`])));
    });

    it(`${label}: kohya lora_unet_transformer_blocks_… onto the diffusers base`, () => {
      const r = mapAdapter(
        kohyaAdapter(Object.fromEntries([...shapes].map(([p, s]) => [flat(p), s]))),
        baseFrom(diffusers),
      );
      assertAllHigh(r, new Map([...shapes.keys()].map((p) => [flat(p), `${p}.weight`])));
    });

    it(`${label}: diffusers names onto the SAI checkpoint (joint_blocks, fused qkv slices)`, () => {
      const r = mapAdapter(diffusersLora(shapes), baseFrom(sd3SaiBase(c)));
      assertSd3OnSai(r, c, (d) => `transformer.${d}`);
    });

    it(`${label}: kohya (diffusers-flattened) names onto the SAI checkpoint`, () => {
      const r = mapAdapter(
        kohyaAdapter(Object.fromEntries([...shapes].map(([p, s]) => [flat(p), s]))),
        baseFrom(sd3SaiBase(c)),
      );
      assertSd3OnSai(r, c, flat);
    });
  }

  it('sd-scripts SD3 names (lora_unet_joint_blocks_…, SAI-flattened) onto the SAI checkpoint', () => {
    const sai = sd3SaiBase(SD35);
    const shapes = moduleShapes(sai);
    const strip = (p: string): string => p.replace(/^model\.diffusion_model\./, '');
    const r = mapAdapter(
      kohyaAdapter(Object.fromEntries([...shapes].map(([p, s]) => [flat(strip(p)), s]))),
      baseFrom(sai),
    );
    assertAllHigh(r, new Map([...shapes.keys()].map((p) => [flat(strip(p)), `${p}.weight`])));
  });
});

describe('Qwen-Image (real key lists)', () => {
  const diffusers = qwenImageBase(2);
  const comfy = qwenImageBase(2, 'model.diffusion_model.');
  const real = (name: string) => {
    const info = infoFrom(keyList(name));
    return { analysis: analyzeLoraSync(info), info };
  };

  for (const [label, base, prefix] of [
    ['diffusers', diffusers, ''],
    ['ComfyUI', comfy, 'model.diffusion_model.'],
  ] as const) {
    it(`qwen_image_lora_diffusers_format onto the ${label} base`, () => {
      const r = mapAdapter(real('qwen_image_lora_diffusers_format'), baseFrom(base));
      assertAllHigh(r, new Map(r.mappings.map((m) => [m.module, `${prefix}${m.module}.weight`])));
      assert.equal(r.mappings.length, 3);
    });

    it(`qwen_image_lora_kohya_format onto the ${label} base: right targets, LoKr shapes checked`, () => {
      const adapter = real('qwen_image_lora_kohya_format');
      const r = mapAdapter(adapter, baseFrom(base));
      const byFlat = new Map([...moduleShapes(diffusers).keys()].map((p) => [flat(p), p]));
      const want = (m: string): string => `${prefix}${byFlat.get(m) ?? '?'}.weight`;
      assert.equal(r.mappings.length, adapter.analysis.modules.length);
      for (const m of r.mappings) assert.equal(m.target, want(m.module), m.module);
      // The key list's LoKr factors multiply out to 49152 × 49152: they cannot patch a 3072 weight.
      for (const m of r.mappings) assert.notEqual(m.level, 'high', m.reason);
    });

    it(`Qwen-Image kohya and diffusers names with real shapes onto the ${label} base`, () => {
      const shapes = moduleShapes(diffusers);
      const kohya = mapAdapter(
        kohyaAdapter(Object.fromEntries([...shapes].map(([p, s]) => [flat(p), s]))),
        baseFrom(base),
      );
      assertAllHigh(
        kohya,
        new Map([...shapes.keys()].map((p) => [flat(p), `${prefix}${p}.weight`])),
      );
      const peft = mapAdapter(diffusersLora(shapes), baseFrom(base));
      assertAllHigh(
        peft,
        new Map([...shapes.keys()].map((p) => [`transformer.${p}`, `${prefix}${p}.weight`])),
      );
      const got = targets(peft);
      assert.equal(
        got.get('transformer.transformer_blocks.1.img_mod.1'),
        `${prefix}transformer_blocks.1.img_mod.1.weight`,
      );
      assert.equal(
        got.get('transformer.transformer_blocks.0.txt_mlp.net.0.proj'),
        `${prefix}transformer_blocks.0.txt_mlp.net.0.proj.weight`,
      );
    });
  }
});
