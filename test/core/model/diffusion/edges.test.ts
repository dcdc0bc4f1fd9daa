import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIFFUSION_RECOGNIZERS } from '../../../../src/core/model/diffusion/index.js';
import type { ArchitectureComponent, ModelFacts } from '../../../../src/core/model/types.js';
import { factsOf, fixtures, type Fixture } from './kit.js';

const all = (facts: ModelFacts): ArchitectureComponent[] =>
  DIFFUSION_RECOGNIZERS.flatMap((r) => r.recognize(facts));
const byFile = new Map(fixtures().map((f) => [f.file, f]));
function fixture(file: string): Fixture {
  const fx = byFile.get(file);
  assert.ok(fx, file);
  return fx;
}
const prefixed = (prefix: string, tensors: Fixture['tensors']): Record<string, number[]> =>
  Object.fromEntries(Object.entries(tensors).map(([k, v]) => [prefix + k, v]));

describe('diffusion recognisers: edges', () => {
  it('a full T5 (encoder and decoder) is not claimed: it is the LLM recognisers’', () => {
    const t5 = {
      ...fixture('t5-xxl-encoder.json').tensors,
      'decoder.block.0.layer.0.SelfAttention.q.weight': [4096, 4096],
      'decoder.final_layer_norm.weight': [4096],
    };
    assert.deepEqual(all(factsOf(t5)), []);
  });

  it('SD3 Medium: heads from config.json when it agrees with the width, else null with a reason', () => {
    const { tensors } = fixture('sd3-medium-diffusers.json');
    const [c] = all(factsOf(tensors, { num_attention_heads: 24, attention_head_dim: 64 }));
    assert.deepEqual([c?.dims.numAttentionHeads, c?.dims.headDim], [24, 64]);
    assert.ok(c?.evidence.some((e) => e.source === 'config'));
    const [d] = all(factsOf(tensors, { num_attention_heads: 24, attention_head_dim: 32 }));
    assert.deepEqual([d?.dims.numAttentionHeads, d?.dims.headDim], [null, null]);
    assert.match(d?.undetermined.numAttentionHeads ?? '', /no qk norm/);
  });

  it('Flux dev and schnell are told apart by the guidance embedder, in both namings', () => {
    const claim = (file: string) =>
      all(factsOf(fixture(file).tensors))[0]?.evidence.map((e) => e.claim) ?? [];
    assert.ok(claim('flux-dev-bfl.json').includes('guidance_in present: Flux.1 dev'));
    assert.ok(
      claim('flux-schnell-bfl.json').includes('no guidance_in (guidance embedder): Flux.1 schnell'),
    );
    assert.ok(
      claim('flux-dev-diffusers.json').includes(
        'time_text_embed.guidance_embedder present: Flux.1 dev',
      ),
    );
  });

  it('a ComfyUI-style Flux bundle: each part at its own prefix, foreign root tensors left unclaimed', () => {
    const bundle = {
      ...prefixed('model.diffusion_model.', fixture('flux-dev-bfl.json').tensors),
      ...prefixed('text_encoders.t5xxl.transformer.', fixture('t5-xxl-encoder.json').tensors),
      ...prefixed('text_encoders.clip_l.transformer.', fixture('clip-l-text-encoder.json').tensors),
      ...prefixed('vae.', fixture('vae-16ch-diffusers.json').tensors),
      alphas_cumprod: [1000],
    };
    const got = all(factsOf(bundle)).map((c) => [c.prefix, c.family, c.tensorCount]);
    assert.deepEqual(got, [
      ['model.diffusion_model.', 'flux', 780],
      ['text_encoders.clip_l.transformer.', 'clip-l', 196],
      ['text_encoders.t5xxl.transformer.', 't5-encoder', 220],
      ['vae.', 'vae', 244],
    ]);
    const root = {
      ...fixture('flux-dev-diffusers.json').tensors,
      alphas_cumprod: [1000],
      'extra.weight': [3],
    };
    assert.equal(all(factsOf(root))[0]?.tensorCount, 1160);
  });

  it('odd shapes never throw: the figure is null with a reason', () => {
    for (const fx of byFile.values()) {
      const odd = Object.fromEntries(
        Object.keys(fx.tensors).map((k, i) => [
          k,
          [[], [-1], [Number.NaN, 2], [1.5], [0]][i % 5] ?? [],
        ]),
      );
      for (const c of all(factsOf(odd))) {
        for (const [key, value] of Object.entries(c.dims)) {
          if (value === null)
            assert.ok(c.undetermined[key as keyof typeof c.dims], `${fx.file} ${key}`);
        }
      }
    }
    const unet = { ...fixture('sd15-unet-diffusers.json').tensors, 'conv_in.weight': [] };
    const [c] = all(factsOf(unet));
    assert.equal(c?.dims.hiddenSize, null);
    assert.ok(c?.undetermined.hiddenSize);
  });
});
