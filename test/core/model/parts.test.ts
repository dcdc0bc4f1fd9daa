import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  parametersByPart,
  partOfName,
  type ModelPart,
  type PartBreakdown,
} from '../../../src/core/model/parts.js';

type Tensors = { name: string; shape: number[] }[];
const DIFFUSION = join(__dirname, '../../fixtures/model/diffusion');

const tensorsOf = (shapes: Record<string, number[]>): Tensors =>
  Object.entries(shapes).map(([name, shape]) => ({ name, shape }));
const fixture = (name: string): Tensors =>
  tensorsOf(
    (
      JSON.parse(readFileSync(join(DIFFUSION, `${name}.json`), 'utf8')) as {
        tensors: Record<string, number[]>;
      }
    ).tensors,
  );
const byPart = (b: PartBreakdown): Record<string, number> =>
  Object.fromEntries(b.parts.map((p) => [p.part, p.parameters]));
const countsByPart = (b: PartBreakdown): Record<string, number> =>
  Object.fromEntries(b.parts.map((p) => [p.part, p.tensors]));

/** A made-up Llama: hidden 8, 2 layers, 2 heads × 4, 1 KV head, MLP 16, vocab 10, untied. */
function tinyLlama(): Tensors {
  const t: Record<string, number[]> = { 'model.embed_tokens.weight': [10, 8] };
  for (const l of [0, 1]) {
    const p = `model.layers.${l}`;
    Object.assign(t, {
      [`${p}.self_attn.q_proj.weight`]: [8, 8],
      [`${p}.self_attn.k_proj.weight`]: [4, 8],
      [`${p}.self_attn.v_proj.weight`]: [4, 8],
      [`${p}.self_attn.o_proj.weight`]: [8, 8],
      [`${p}.mlp.gate_proj.weight`]: [16, 8],
      [`${p}.mlp.up_proj.weight`]: [16, 8],
      [`${p}.mlp.down_proj.weight`]: [8, 16],
      [`${p}.input_layernorm.weight`]: [8],
      [`${p}.post_attention_layernorm.weight`]: [8],
    });
  }
  t['model.layers.0.self_attn.rotary_emb.inv_freq'] = [2];
  t['model.norm.weight'] = [8];
  t['lm_head.weight'] = [10, 8];
  return tensorsOf(t);
}

describe('parametersByPart', () => {
  it('a tiny Llama, by hand', () => {
    const b = parametersByPart(tinyLlama());
    // attention 2 × (64 + 32 + 32 + 64); MLP 2 × 3 × 128; norms 2 × 16 + 8.
    assert.deepEqual(byPart(b), {
      embeddings: 80,
      attention: 384,
      mlp: 768,
      norms: 40,
      modulation: 0,
      head: 80,
      conv: 0,
      other: 2,
    });
    assert.equal(b.parameters, 1354);
    assert.equal(b.tensors, 22);
    assert.deepEqual(countsByPart(b), {
      embeddings: 1,
      attention: 8,
      mlp: 6,
      norms: 5,
      modulation: 0,
      head: 1,
      conv: 0,
      other: 1,
    });
  });

  it('GPT-2: attn.c_proj is attention, mlp.c_proj is MLP', () => {
    const b = parametersByPart(
      tensorsOf({
        'wte.weight': [50, 4],
        'wpe.weight': [6, 4],
        'h.0.ln_1.weight': [4],
        'h.0.attn.c_attn.weight': [4, 12],
        'h.0.attn.c_proj.weight': [4, 4],
        'h.0.ln_2.weight': [4],
        'h.0.mlp.c_fc.weight': [4, 16],
        'h.0.mlp.c_proj.weight': [16, 4],
        'ln_f.weight': [4],
      }),
    );
    assert.deepEqual(
      [
        b.parts[0]?.parameters,
        b.parts[1]?.parameters,
        b.parts[2]?.parameters,
        b.parts[3]?.parameters,
      ],
      [224, 64, 128, 12],
    );
  });

  it('GGUF: token_embd, blk.N.attn_* / ffn_* (experts and router), output', () => {
    const b = parametersByPart(
      tensorsOf({
        'token_embd.weight': [8, 10],
        'blk.0.attn_norm.weight': [8],
        'blk.0.attn_q.weight': [8, 8],
        'blk.0.attn_k_norm.weight': [4],
        'blk.0.ffn_gate_inp.weight': [8, 4],
        'blk.0.ffn_up_exps.weight': [4, 8, 16],
        'output_norm.weight': [8],
        'output.weight': [8, 10],
        'rope_freqs.weight': [2],
      }),
    );
    assert.deepEqual(byPart(b), {
      embeddings: 80,
      attention: 64,
      mlp: 32 + 512,
      norms: 20,
      modulation: 0,
      head: 80,
      conv: 0,
      other: 2,
    });
  });

  it('names across LLM families', () => {
    const cases: [string, ModelPart][] = [
      ['bert.encoder.layer.0.attention.self.query.weight', 'attention'],
      ['bert.encoder.layer.0.attention.output.dense.weight', 'attention'],
      ['bert.encoder.layer.0.attention.output.LayerNorm.weight', 'norms'],
      ['bert.encoder.layer.0.intermediate.dense.weight', 'mlp'],
      ['bert.encoder.layer.0.output.dense.weight', 'mlp'],
      ['bert.embeddings.token_type_embeddings.weight', 'embeddings'],
      ['bert.pooler.dense.weight', 'head'],
      ['classifier.weight', 'head'],
      ['gpt_neox.layers.0.attention.query_key_value.weight', 'attention'],
      ['gpt_neox.layers.0.mlp.dense_4h_to_h.weight', 'mlp'],
      ['embed_out.weight', 'head'],
      ['transformer.h.0.self_attention.dense.weight', 'attention'],
      ['transformer.h.0.ln_mlp.weight', 'norms'],
      ['model.decoder.layers.0.fc1.weight', 'mlp'],
      ['model.decoder.layers.0.fc2.weight', 'mlp'],
      ['model.decoder.layers.0.self_attn_layer_norm.weight', 'norms'],
      ['model.decoder.embed_positions.weight', 'embeddings'],
      ['encoder.block.0.layer.0.SelfAttention.q.weight', 'attention'],
      ['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'attention'],
      ['decoder.block.0.layer.1.EncDecAttention.o.weight', 'attention'],
      ['encoder.block.0.layer.1.DenseReluDense.wo.weight', 'mlp'],
      ['shared.weight', 'embeddings'],
      ['model.layers.0.block_sparse_moe.gate.weight', 'mlp'],
      ['model.layers.0.block_sparse_moe.experts.3.w2.weight', 'mlp'],
      ['model.layers.0.self_attn.q_norm.weight', 'norms'],
      ['model.layers.0.pre_feedforward_layernorm.weight', 'norms'],
      ['model.layers.0.self_attn.qkv_proj.weight', 'attention'],
      ['model.layers.0.mlp.gate_up_proj.weight', 'mlp'],
    ];
    for (const [name, part] of cases) assert.equal(partOfName(name), part, name);
  });

  it('diffusion names: attn1/attn2, ff.net, proj_in/out, resnets, norms, modulation', () => {
    const cases: [string, ModelPart | null][] = [
      ['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', 'attention'],
      ['down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight', 'mlp'],
      ['down_blocks.0.attentions.0.proj_in.weight', 'attention'],
      ['down_blocks.0.attentions.0.norm.weight', 'norms'],
      ['down_blocks.0.resnets.0.norm1.weight', 'norms'],
      ['down_blocks.0.resnets.0.time_emb_proj.weight', 'conv'],
      ['down_blocks.0.downsamplers.0.conv.weight', 'conv'],
      ['time_embedding.linear_1.weight', 'embeddings'],
      ['encoder.mid.attn_1.proj_out.weight', 'attention'],
      ['proj_out.weight', 'head'],
      ['double_blocks.0.img_mod.lin.weight', 'modulation'],
      ['transformer_blocks.0.norm1.linear.weight', 'modulation'],
      ['double_blocks.0.img_attn.norm.query_norm.scale', 'norms'],
      ['single_blocks.0.linear1.weight', 'other'],
      ['single_transformer_blocks.0.proj_out.weight', 'other'],
      ['model.diffusion_model.t_embedder.mlp.0.weight', 'embeddings'],
      ['model.diffusion_model.input_blocks.1.0.in_layers.0.weight', 'norms'],
      ['model.diffusion_model.input_blocks.1.0.in_layers.2.weight', 'conv'],
      // Placed by shape, not by name.
      ['model.diffusion_model.input_blocks.0.0.weight', null],
    ];
    for (const [name, part] of cases) assert.equal(partOfName(name), part, name);
  });

  it('a conv weight takes its bias along; an unplaced 2-D tensor is other', () => {
    const b = parametersByPart(
      tensorsOf({
        'input_blocks.0.0.weight': [4, 2, 3, 3],
        'input_blocks.0.0.bias': [4],
        'x.y': [3, 3],
      }),
    );
    assert.equal(byPart(b).conv, 76);
    assert.equal(byPart(b).other, 9);
  });

  it('every diffusion fixture: the parts add up to Σ of all shape products', () => {
    for (const f of readdirSync(DIFFUSION).filter((n) => n.endsWith('.json'))) {
      const t = fixture(f.replace(/\.json$/, ''));
      const b = parametersByPart(t);
      const total = t.reduce((a, x) => a + x.shape.reduce((p, d) => p * d, 1), 0);
      assert.equal(b.parameters, total, f);
      assert.equal(
        b.parts.reduce((a, p) => a + p.parameters, 0),
        total,
        f,
      );
      assert.equal(
        b.parts.reduce((a, p) => a + p.tensors, 0),
        t.length,
        f,
      );
    }
  });

  it('SD3 / SD3.5 SAI names give the same parts as diffusers names', () => {
    for (const [sai, diffusers] of [
      ['sd3-medium-sai', 'sd3-medium-diffusers'],
      ['sd35-large-sai', 'sd35-large-diffusers'],
    ] as const)
      assert.deepEqual(
        byPart(parametersByPart(fixture(sai))),
        byPart(parametersByPart(fixture(diffusers))),
      );
  });

  it('SD1.5 single file = diffusers UNet + VAE + CLIP-L, part by part', () => {
    const single = byPart(parametersByPart(fixture('sd15-single-file-ldm')));
    const parts = ['sd15-unet-diffusers', 'vae-sd-diffusers', 'clip-l-text-encoder'].map((n) =>
      byPart(parametersByPart(fixture(n))),
    );
    const sum = Object.fromEntries(
      Object.keys(single).map((k) => [k, parts.reduce((a, p) => a + (p[k] ?? 0), 0)]),
    );
    assert.deepEqual(single, sum);
  });

  it('Flux BFL and diffusers agree outside the fused single-stream blocks', () => {
    const bfl = byPart(parametersByPart(fixture('flux-dev-bfl')));
    const dif = byPart(parametersByPart(fixture('flux-dev-diffusers')));
    for (const k of ['embeddings', 'norms', 'modulation', 'head'] as const)
      assert.equal(bfl[k], dif[k], k);
    assert.equal(
      (bfl.attention ?? 0) + (bfl.mlp ?? 0) + (bfl.other ?? 0),
      (dif.attention ?? 0) + (dif.mlp ?? 0) + (dif.other ?? 0),
    );
  });
});
