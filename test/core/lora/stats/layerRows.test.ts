import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { computeAllStats, layerRows, layerTotals } from '../../../../src/core/lora/stats/index.js';
import { REPO } from '../loraTestInfo.js';
import { analyzeCheckpoint, assertClose } from './statsKit.js';

async function rowsOf(path: string) {
  const ckpt = await openPath(join(REPO, path));
  const analysis = await analyzeCheckpoint(ckpt);
  const stats = await computeAllStats(ckpt, analysis);
  await ckpt.close();
  return { stats, rows: layerRows(stats, analysis) };
}

describe('LoRA stats: per-layer rows for the chart', () => {
  it('PEFT: one row per module, by layer then type; totals are √Σ norm²', async () => {
    const { stats, rows } = await rowsOf('test/fixtures/lora/peft-plain');
    assert.deepEqual(
      rows.map((r) => [r.layer, r.type]),
      [
        [0, 'down_proj'],
        [0, 'q_proj'],
        [0, 'v_proj'],
        [1, 'down_proj'],
        [1, 'q_proj'],
        [1, 'v_proj'],
      ],
    );
    const r0 = rows[0];
    assert.equal(r0?.stack, 'model.layers');
    assert.equal(r0?.scale, 2);
    assert.equal(r0?.norm, stats.find((s) => s.module === r0?.module)?.norm);

    const totals = layerTotals(rows);
    assert.deepEqual(
      totals.map((t) => [t.layer, t.modules, t.unknown, Object.keys(t.byType)]),
      [
        [0, 3, 0, ['down_proj', 'q_proj', 'v_proj']],
        [1, 3, 0, ['down_proj', 'q_proj', 'v_proj']],
      ],
    );
    const layer0 = rows.filter((r) => r.layer === 0).map((r) => r.norm ?? 0);
    assertClose(totals[0]?.norm, Math.hypot(...layer0), 1e-12, 'layer 0 norm');
    assertClose(
      totals[0]?.sum,
      layer0.reduce((a, b) => a + b),
      1e-12,
      'layer 0 sum',
    );
  });

  it('modules outside a stack come last with layer null; kohya groups and types (as targetType names them)', async () => {
    const emb = await rowsOf('test/fixtures/lora/peft-embedding');
    assert.deepEqual(
      emb.rows.map((r) => [r.layer, r.type]),
      [
        [0, 'q_proj'],
        [1, 'q_proj'],
        [null, 'embed_tokens'],
      ],
    );
    const kohya = await rowsOf('samples/kohya-style-lora.safetensors');
    assert.deepEqual(
      kohya.rows.map((r) => [r.group, r.layer, r.type]),
      [
        ['lora_te', 0, 'self_attn_q_proj'],
        ['lora_unet', 0, 'attn1_to_q'],
        ['lora_unet', 0, 'attn2_to_k'],
        ['lora_unet', 0, 'proj_in'],
      ],
    );
  });

  it('a null norm (scale unknown) is counted apart, not as 0', async () => {
    const { rows } = await rowsOf('test/fixtures/lora/training-checkpoint.ckpt');
    const totals = layerTotals(rows);
    assert.ok(totals.every((t) => t.unknown === t.modules && t.norm === 0));
  });
});
