/**
 * AdaLoRA against PEFT 0.21 (test/fixtures/methods/adalora, adalora-pruned): ΔW = B·(A ⊙ E)·lora_alpha /
 * (ranknum + 1e-5) with ranknum = init_r (never saved), also when rank_pattern made save_pretrained
 * keep only some ranks, equals merge_and_unload() and the unmerged forward.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adalora } from '../../../../src/core/lora/methods/adalora.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  analysisOf,
  assertPeftFixture,
  copyWithConfig,
  FIX,
  shapeWarning,
} from './effectFixture.js';

describe('AdaLoRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-adalora-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  for (const dir of ['adalora', 'adalora-pruned'])
    it(`${dir}: effect = merge_and_unload() and the unmerged forward`, async () => {
      await assertPeftFixture(dir, 'adalora');
    });

  it('scale is lora_alpha / (init_r + 1e-5), not alpha / r', async () => {
    const a = await analysisOf(`${FIX}/adalora`);
    const m = a.modules[0];
    assert.equal(m?.kind, 'adalora');
    assert.equal(m?.rank, 12);
    assert.ok(Math.abs((m?.scale ?? 0) - 16 / (12 + 1e-5)) < 1e-12, String(m?.scale));
    assert.match(m?.scaleRule ?? '', /ranknum = init_r = 12/);
    assert.deepEqual(m?.method?.settings, {
      lora_alpha: 16,
      init_r: 12,
      target_r: 8,
      ranknum: 12,
      kept_ranks: 12,
    });
  });

  it('a rank_pattern resize is reported as the ranks kept of init_r', async () => {
    const a = await analysisOf(`${FIX}/adalora-pruned`);
    for (const m of a.modules) {
      assert.equal(m.rank, 8);
      assert.equal(m.label, 'AdaLoRA linear (8 of 12 ranks kept)');
      assert.equal(m.method?.settings?.['kept_ranks'], 8);
      assert.ok(Math.abs((m.scale ?? 0) - 16 / (12 + 1e-5)) < 1e-12);
    }
  });

  it('a rank_pattern that disagrees with the tensors is a shape problem', async () => {
    const dir = copyWithConfig('adalora-pruned', join(tmp, 'rp'), {
      rank_pattern: {
        'model.layers.0.mlp.down_proj.lora_E': Array.from({ length: 12 }, (_, i) => i < 5),
      },
    });
    assert.match(await shapeWarning(dir), /rank_pattern keeps 5 ranks but lora_A \/ lora_E hold 8/);
    const noPattern = copyWithConfig('adalora-pruned', join(tmp, 'none'), { rank_pattern: null });
    assert.match(await shapeWarning(noPattern), /lora_E holds 8 ranks, init_r is 12/);
  });

  it('a lora_A that does not match lora_E raises InvalidExport', async () => {
    const m = {
      name: 'x',
      scale: 1,
      parts: { down: 'A', up: 'B', lora_E: 'E' },
      method: { id: 'adalora', label: 'AdaLoRA' },
    } as unknown as LoraModule;
    const shapes: Record<string, number[]> = { A: [3, 4], B: [2, 2], E: [2, 1] };
    const io = {
      readIndices: () => Promise.reject(new Error('no index tensors')),
      read: (n: string) =>
        Promise.resolve(new Float64Array((shapes[n] ?? []).reduce((p, q) => p * q, 1))),
      tensor: (n: string) => ({ name: n, dtype: 'F32', shape: shapes[n] }) as never,
      weightShape: [2, 4],
    };
    await assert.rejects(
      adalora.effect?.(m, io) ?? Promise.resolve(),
      /do not match lora_E's 2 ranks/,
    );
  });
});
