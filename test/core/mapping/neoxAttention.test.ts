/**
 * A Llama-named LoRA on a GPT-NeoX base: q/k/v go to slices of the fused `attention.query_key_value`,
 * o_proj to `attention.dense` (NeoX's output projection), up/down to `dense_h_to_4h`/`dense_4h_to_h`.
 * Before `dense` had a role, k_proj (32×32, the same shape as the output projection) landed on
 * `attention.dense` and was exported silently.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeLoraSync } from '../../../src/core/lora/index.js';
import { mapAdapter } from '../../../src/core/mapping/index.js';
import { leafRole } from '../../../src/core/mapping/synonyms.js';
import { infoFrom } from '../lora/loraTestInfo.js';

const H = 32;
const LAYERS = 2;
const R = 4;

function neoxBase() {
  const shapes: Record<string, number[]> = {
    'gpt_neox.embed_in.weight': [100, H],
    'embed_out.weight': [100, H],
    'gpt_neox.final_layer_norm.weight': [H],
  };
  for (let l = 0; l < LAYERS; l++) {
    const p = `gpt_neox.layers.${l}`;
    shapes[`${p}.attention.query_key_value.weight`] = [3 * H, H];
    shapes[`${p}.attention.query_key_value.bias`] = [3 * H];
    shapes[`${p}.attention.dense.weight`] = [H, H];
    shapes[`${p}.attention.dense.bias`] = [H];
    shapes[`${p}.mlp.dense_h_to_4h.weight`] = [4 * H, H];
    shapes[`${p}.mlp.dense_4h_to_h.weight`] = [H, 4 * H];
    shapes[`${p}.input_layernorm.weight`] = [H];
    shapes[`${p}.post_attention_layernorm.weight`] = [H];
  }
  return infoFrom(shapes);
}

function llamaLora() {
  const shapes: Record<string, number[]> = {};
  for (let l = 0; l < LAYERS; l++) {
    const p = `base_model.model.model.layers.${l}`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
      shapes[`${p}.self_attn.${m}.lora_A.weight`] = [R, H];
      shapes[`${p}.self_attn.${m}.lora_B.weight`] = [H, R];
    }
    shapes[`${p}.mlp.up_proj.lora_A.weight`] = [R, H];
    shapes[`${p}.mlp.up_proj.lora_B.weight`] = [4 * H, R];
    shapes[`${p}.mlp.down_proj.lora_A.weight`] = [R, 4 * H];
    shapes[`${p}.mlp.down_proj.lora_B.weight`] = [H, R];
  }
  const info = infoFrom(shapes);
  return { info, analysis: analyzeLoraSync(info) };
}

describe('a Llama-named LoRA on a GPT-NeoX base', () => {
  const result = mapAdapter(llamaLora(), neoxBase());
  const byModule = new Map(result.mappings.map((m) => [m.module.replace(/^.*layers\./, ''), m]));

  it('puts q, k and v on their thirds of query_key_value, never on attention.dense', () => {
    for (let l = 0; l < LAYERS; l++)
      ['q_proj', 'k_proj', 'v_proj'].forEach((m, i) => {
        const e = byModule.get(`${l}.self_attn.${m}`);
        assert.ok(e, `${l}.${m} mapped`);
        assert.equal(e.target, `gpt_neox.layers.${l}.attention.query_key_value.weight`, m);
        assert.ok(e.slice, `${m} gets a slice`);
        assert.equal(e.slice.end - e.slice.start, H, m);
        assert.equal(e.slice.start, i * H, `${m} is the ${i}th third`);
      });
  });

  it('puts o_proj on attention.dense and the MLP on dense_h_to_4h / dense_4h_to_h', () => {
    for (let l = 0; l < LAYERS; l++) {
      assert.equal(
        byModule.get(`${l}.self_attn.o_proj`)?.target,
        `gpt_neox.layers.${l}.attention.dense.weight`,
      );
      assert.equal(
        byModule.get(`${l}.mlp.up_proj`)?.target,
        `gpt_neox.layers.${l}.mlp.dense_h_to_4h.weight`,
      );
      assert.equal(
        byModule.get(`${l}.mlp.down_proj`)?.target,
        `gpt_neox.layers.${l}.mlp.dense_4h_to_h.weight`,
      );
    }
  });

  it('gives `dense` the output role only inside an attention container', () => {
    assert.equal(leafRole(['attention', 'dense'], 1), '@o');
    assert.equal(leafRole(['self_attn', 'dense'], 1), '@o');
    assert.equal(leafRole(['intermediate', 'dense'], 1), null);
    assert.equal(leafRole(['attention', 'output', 'dense'], 2), null);
    assert.equal(leafRole(['mlp', 'dense_4h_to_h'], 1), '@down');
  });
});
