import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPath } from '../../../src/core/formats/index.js';
import { analyzeLora, analyzeLoraSync } from '../../../src/core/lora/index.js';
import { computeAllStats } from '../../../src/core/lora/stats/index.js';
import {
  adapterCoverage,
  columnOf,
  compareColumns,
  redotKohya,
  splitRow,
} from '../../../src/core/model/adapterCoverage.js';
import { infoFrom, keyList, LORA_FIXTURES, readJson } from '../lora/loraTestInfo.js';

/** PEFT's own ‖get_delta_weight()‖_F per module (test/fixtures/lora/stats/generate.py). */
type Expected = { adapters: Record<string, Record<string, { norm: number }>> };

const column = (path: string): string => {
  const { rest } = splitRow(path);
  return columnOf(rest, path);
};

describe('adapterCoverage', () => {
  it('peft-plain (r 4 on q, v, down of 2 layers): grid, ranks, norms, 3,328 trainable', async () => {
    const ckpt = await openPath(join(LORA_FIXTURES, 'peft-plain'));
    try {
      const analysis = await analyzeLora(ckpt);
      const stats = await computeAllStats(ckpt, analysis);
      const c = adapterCoverage(analysis, {
        stats,
        shapeOf: (t) => ckpt.tensor(t).shape,
        baseParameters: 332_800,
      });
      assert.deepEqual(c.columns, ['q', 'v', 'down']);
      assert.deepEqual(
        c.rows.map((r) => [r.label, r.layer]),
        [
          ['model.layers.0', 0],
          ['model.layers.1', 1],
        ],
      );
      // q: 4·64 + 64·4 = 512; v: 4·64 + 32·4 = 384; down: 4·128 + 64·4 = 768; × 2 layers.
      assert.equal(c.trainableParameters, 2 * (512 + 384 + 768));
      assert.equal(c.trainableParameters, 3328);
      assert.equal(c.trainableExact, true);
      assert.equal(c.percentOfBase, 1);
      const expected = readJson<Expected>(join(LORA_FIXTURES, 'stats/expected.json')).adapters[
        'test/fixtures/lora/peft-plain'
      ];
      assert.ok(expected);
      for (const row of c.rows)
        for (const [col, cell] of Object.entries(row.cells)) {
          assert.equal(cell.rank, 4);
          assert.equal(cell.parameters, col === 'q' ? 512 : col === 'v' ? 384 : 768);
          const peft = expected[cell.module]?.norm;
          assert.ok(peft !== undefined && cell.norm !== null, cell.module);
          assert.ok(
            Math.abs(cell.norm - peft) < 1e-6 * peft,
            `${cell.module} ${cell.norm} ${peft}`,
          );
        }
      const v0 = c.rows[0]?.cells.v;
      assert.equal(v0?.module, 'base_model.model.model.layers.0.self_attn.v_proj');
      // Without shapes and stats: the summary's count, norms null.
      const bare = adapterCoverage(analysis);
      assert.equal(bare.trainableParameters, 3328);
      assert.equal(bare.trainableExact, false);
      assert.equal(bare.percentOfBase, null);
      assert.equal(bare.rows[0]?.cells.q?.norm, null);
    } finally {
      await ckpt.close();
    }
  });

  it('columns: q, k, v, o, qkv, gate, up, down, gate_up, then the rest; qualifiers after', () => {
    const cols = ['proj_in', 'down', 'attn2.q', 'gate_up', 'q', 'conv1', 'o', 'attn1.v', 'attn1.q'];
    assert.deepEqual([...cols].sort(compareColumns), [
      'q',
      'o',
      'down',
      'gate_up',
      'conv1',
      'proj_in',
      'attn1.q',
      'attn1.v',
      'attn2.q',
    ]);
  });

  it('module types normalised across LLM and diffusion naming', () => {
    const cases: [string, string][] = [
      ['model.layers.3.self_attn.q_proj', 'q'],
      ['transformer.h.3.attn.c_attn', 'qkv'],
      ['transformer.h.3.attn.c_proj', 'o'],
      ['transformer.h.3.mlp.c_fc', 'up'],
      ['transformer.h.3.mlp.c_proj', 'down'],
      ['gpt_neox.layers.3.attention.query_key_value', 'qkv'],
      ['gpt_neox.layers.3.attention.dense', 'o'],
      ['gpt_neox.layers.3.mlp.dense_h_to_4h', 'up'],
      ['model.decoder.layers.3.self_attn.out_proj', 'o'],
      ['model.decoder.layers.3.fc2', 'down'],
      ['bert.encoder.layer.3.attention.self.key', 'k'],
      ['bert.encoder.layer.3.attention.output.dense', 'o'],
      ['bert.encoder.layer.3.intermediate.dense', 'up'],
      ['bert.encoder.layer.3.output.dense', 'down'],
      ['encoder.block.3.layer.0.SelfAttention.v', 'v'],
      ['encoder.block.3.layer.1.DenseReluDense.wo', 'down'],
      ['decoder.block.3.layer.1.EncDecAttention.q', 'EncDecAttention.q'],
      ['model.layers.3.mlp.gate_up_proj', 'gate_up'],
      ['model.layers.3.block_sparse_moe.experts.7.w1', 'experts.7.gate'],
      ['blk.3.attn_q', 'q'],
      ['blk.3.ffn_down', 'down'],
      ['down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q', 'attn1.q'],
      ['down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0', 'attn2.o'],
      ['down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj', 'up'],
      ['down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2', 'down'],
      ['down_blocks.1.attentions.0.proj_in', 'proj_in'],
      ['down_blocks.1.resnets.0.conv1', 'conv1'],
      ['double_blocks.7.img_attn.qkv', 'img_attn.qkv'],
      ['double_blocks.7.img_attn.proj', 'img_attn.o'],
      ['double_blocks.7.txt_mlp.0', 'txt_mlp.up'],
      ['double_blocks.7.txt_mlp.2', 'txt_mlp.down'],
      ['single_blocks.7.linear1', 'linear1'],
      ['transformer_blocks.7.ff_context.net.0.proj', 'ff_context.up'],
      ['input_blocks.4.0.in_layers.2', 'in_layers.2'],
    ];
    for (const [path, col] of cases) assert.equal(column(path), col, path);
  });

  it('rows: block path up to the last stack index (diffusion), T5 sub-layers in their block', () => {
    assert.deepEqual(
      splitRow('down_blocks.1.attentions.0.transformer_blocks.2.attn1.to_q').row,
      'down_blocks.1.attentions.0.transformer_blocks.2',
    );
    assert.equal(splitRow('input_blocks.4.1.proj_in').row, 'input_blocks.4.1');
    assert.equal(splitRow('encoder.block.3.layer.1.DenseReluDense.wi').row, 'encoder.block.3');
    assert.equal(splitRow('model.layers.3.mlp.experts.7.w1').row, 'model.layers.3');
    assert.equal(splitRow('lm_head').row, null);
    assert.equal(splitRow('time_embedding.linear_1').row, null);
    assert.equal(
      redotKohya('down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_out_0'),
      'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0',
    );
    assert.equal(
      redotKohya('text_model_encoder_layers_11_self_attn_q_proj'),
      'text_model.encoder.layers.11.self_attn.q_proj',
    );
  });

  it('kohya Flux (real key list): 19 double + 38 single block rows, numeric order, rank per cell', () => {
    const a = analyzeLoraSync(infoFrom(keyList('flux_lora_kohya_format')));
    const c = adapterCoverage(a);
    const labels = c.rows.map((r) => r.label);
    assert.equal(labels.length, 57);
    assert.deepEqual(labels.slice(0, 3), ['double_blocks.0', 'double_blocks.1', 'double_blocks.2']);
    assert.equal(labels[10], 'double_blocks.10');
    assert.equal(labels[19], 'single_blocks.0');
    assert.ok(
      c.columns.includes('img_attn.qkv') && c.columns.includes('linear1'),
      c.columns.join(),
    );
    const cell = c.rows[0]?.cells['img_attn.qkv'];
    assert.equal(cell?.module, 'lora_unet_double_blocks_0_img_attn_qkv');
    assert.equal(typeof cell?.rank, 'number');
    // Without shapes the count is the summary's, less one per alpha scalar.
    const alphas = a.modules.filter((m) => m.parts.alpha !== undefined).length;
    assert.equal(c.trainableParameters, a.summary.parameters - alphas);
  });

  it('modules outside any stack share an "other" row, last', () => {
    const a = analyzeLoraSync(
      infoFrom({
        'base_model.model.lm_head.lora_A.weight': [2, 8],
        'base_model.model.lm_head.lora_B.weight': [10, 2],
        'base_model.model.model.layers.10.self_attn.q_proj.lora_A.weight': [2, 8],
        'base_model.model.model.layers.10.self_attn.q_proj.lora_B.weight': [8, 2],
        'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight': [2, 8],
        'base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight': [8, 2],
      }),
    );
    const c = adapterCoverage(a, { shapeOf: () => [2, 8] });
    assert.deepEqual(
      c.rows.map((r) => [r.label, r.path, r.layer]),
      [
        ['model.layers.2', 'model.layers.2', 2],
        ['model.layers.10', 'model.layers.10', 10],
        ['other', null, null],
      ],
    );
    assert.deepEqual(Object.keys(c.rows[2]?.cells ?? {}), ['lm_head']);
    assert.equal(c.trainableParameters, 6 * 16);
  });
});
