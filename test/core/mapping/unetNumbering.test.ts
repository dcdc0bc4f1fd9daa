import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import { mapAdapter } from '../../../src/core/mapping/index.js';
import { infoFrom } from '../lora/loraTestInfo.js';
import { ldmToDiffusers, moduleShapes, unetBlockPairs, type UnetConfig } from './diffusionBases.js';
import { assertAllHigh, baseFrom, baseKeys, kohyaAdapter } from './mappingTestKit.js';

/** The UNets of the fixtures, as their LDM configs say (levels, num_res_blocks, attention levels). */
const UNETS: Readonly<Record<string, UnetConfig>> = {
  // v1-inference.yaml: channel_mult [1,2,4,4], attention_resolutions [4,2,1]
  'sd15-unet_sgm-ldm-naming': { levels: 4, resBlocks: 2, attention: [true, true, true, false] },
  // sd_xl_base.yaml: channel_mult [1,2,4], attention_resolutions [4,2], transformer_depth [0,2,10]
  'sdxl-unet_sai-ldm-naming': { levels: 3, resBlocks: 2, attention: [false, true, true] },
  // sd_xl_refiner.yaml: channel_mult [1,2,4,4], attention_resolutions [4,2], transformer_depth 4
  'sdxl-refiner-unet_sgm-ldm-naming': {
    levels: 4,
    resBlocks: 2,
    attention: [false, true, true, false],
  },
  // num_res_blocks 1 (BK-SDM-style): 1 resnet per down level, 2 per up level
  'sd15-lpb1-unet_sgm-ldm-naming': {
    levels: 4,
    resBlocks: 1,
    attention: [true, true, true, false],
  },
};

/** Every LoRA-able module of an LDM UNet fixture with its diffusers name, by the block pairs. */
function diffusersTwin(fixture: string): {
  ldm: Record<string, number[]>;
  pairs: Map<string, string>;
  shapes: Map<string, number[]>;
} {
  const config = UNETS[fixture];
  assert.ok(config, fixture);
  const ldm = baseKeys(`${fixture}.state_dict.json`);
  const blocks = unetBlockPairs(config);
  const pairs = new Map<string, string>();
  const shapes = new Map<string, number[]>();
  for (const [path, shape] of moduleShapes(ldm)) {
    const d = ldmToDiffusers(blocks, path);
    if (d === null || /norm/.test(path)) continue;
    pairs.set(d, path);
    shapes.set(d, shape);
  }
  return { ldm, pairs, shapes };
}

/** A PEFT/diffusers-format UNet LoRA (`unet.<module>.lora_A.weight`). */
function diffusersLora(shapes: ReadonlyMap<string, readonly number[]>) {
  const keys: Record<string, number[]> = {};
  for (const [path, [inF = 0, out = 0, ...k]] of shapes) {
    keys[`unet.${path}.lora_A.weight`] = [4, inF, ...k];
    keys[`unet.${path}.lora_B.weight`] = [out, 4, ...k.map(() => 1)];
  }
  const info = infoFrom(keys);
  return { analysis: analyzeLoraSync(info), info };
}

describe('the block-pair oracle agrees with real diffusers names', () => {
  it('SD1.5: LDM fixture renamed by the pairs = the diffusers-naming fixture, shapes and all', () => {
    const { pairs, shapes } = diffusersTwin('sd15-unet_sgm-ldm-naming');
    const real = moduleShapes(baseKeys('sd15-unet_diffusers-naming.state_dict.json'));
    const realNames = [...real.keys()].filter((k) => !/norm/.test(k)).sort();
    assert.deepEqual([...pairs.keys()].sort(), realNames);
    for (const [d, s] of shapes) assert.deepEqual(real.get(d), s, d);
  });
});

describe('diffusers UNet names onto LDM bases, numbering taken from the base', () => {
  for (const fixture of Object.keys(UNETS)) {
    it(`${fixture}: every diffusers-named module maps high onto its LDM twin`, () => {
      const { ldm, pairs, shapes } = diffusersTwin(fixture);
      const r = mapAdapter(diffusersLora(shapes), baseFrom(ldm));
      assert.equal(r.mappings.length, pairs.size);
      assertAllHigh(r, new Map([...pairs].map(([d, l]) => [`unet.${d}`, `${l}.weight`])));
    });

    it(`${fixture}: kohya lora_unet_ (diffusers-flattened) names map the same way`, () => {
      const { ldm, pairs, shapes } = diffusersTwin(fixture);
      const flat = (d: string): string => `lora_unet_${d.replace(/\./g, '_')}`;
      const r = mapAdapter(
        kohyaAdapter(Object.fromEntries([...shapes].map(([d, s]) => [flat(d), s]))),
        baseFrom(ldm),
      );
      assertAllHigh(r, new Map([...pairs].map(([d, l]) => [flat(d), `${l}.weight`])));
    });
  }

  it('LDM-flattened kohya names onto a diffusers-named base with one res block per level', () => {
    const { pairs, shapes } = diffusersTwin('sd15-lpb1-unet_sgm-ldm-naming');
    const base: Record<string, number[]> = {};
    for (const [d, [inF = 0, out = 0, ...k]] of shapes) base[`${d}.weight`] = [out, inF, ...k];
    const flat = (l: string): string => `lora_unet_${l.replace(/\./g, '_')}`;
    const modules = Object.fromEntries([...pairs].map(([d, l]) => [flat(l), shapes.get(d) ?? []]));
    const r = mapAdapter(kohyaAdapter(modules), baseFrom(base));
    assertAllHigh(r, new Map([...pairs].map(([d, l]) => [flat(l), `${d}.weight`])));
  });

  it('a module the base has no block for stays unmatched rather than landing elsewhere', () => {
    const { ldm } = diffusersTwin('sd15-lpb1-unet_sgm-ldm-naming');
    // down_blocks.1.resnets.1 exists in SD1.5 but not with num_res_blocks = 1.
    const r = mapAdapter(
      diffusersLora(new Map([['down_blocks.1.resnets.1.conv1', [640, 640, 3, 3]]])),
      baseFrom(ldm),
    );
    for (const m of r.mappings) assert.notEqual(m.level, 'high', `${m.module} → ${m.target}`);
  });
});
