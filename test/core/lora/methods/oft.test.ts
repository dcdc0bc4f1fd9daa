/**
 * OFT against PEFT 0.21 (test/fixtures/methods/oft*, methods-edge/oft*): the Cayley–Neumann and exact
 * Cayley rotations, r or oft_block_size sizing, COFT, block sharing, convs and embeddings, PEFT ≤ 0.13's
 * oft_r/oft_s, and config errors named in describe and in the effect.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { tensorPart } from '../../../../src/core/lora/index.js';
import { oft } from '../../../../src/core/lora/methods/oft.js';
import { oftSettings } from '../../../../src/core/lora/methods/oftConfig.js';
import { cayleyNeumann, matmulSquare } from '../../../../src/core/lora/methods/rotations.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  assertMatchesPeft,
  assertPeftFixture,
  copyWithConfig,
  EDGE,
  firstEffectError,
  shapeWarning,
} from './effectFixture.js';

describe('OFT (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-oft-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names oft_R and oft_embedding_R parts', () => {
    const p = 'base_model.model.model.layers.0.self_attn.q_proj';
    assert.deepEqual(tensorPart(`${p}.oft_R.weight`)?.part, 'oft_R');
    const e = tensorPart('base_model.model.model.embed_tokens.oft_embedding_R.weight');
    assert.deepEqual(
      [e?.module, e?.part],
      ['base_model.model.model.embed_tokens', 'oft_embedding_R'],
    );
  });

  for (const dir of ['oft', 'oft-exact-cayley', 'oft-r', 'oft-coft', 'oft-block-share'])
    it(`${dir}: effect = merge_and_unload() and the unmerged forward`, async () => {
      await assertPeftFixture(dir, 'oft');
    });

  it('conv, embedding (W·R, not W·Rᵀ) and a PEFT-adjusted oft_block_size (12 → 10 over 40 inputs)', async () => {
    await assertMatchesPeft(`${EDGE}/oftemb`, `${EDGE}/base`, 'oft', 4);
    await assertMatchesPeft(`${EDGE}/oftadj`, `${EDGE}/base`, 'oft', 1);
  });

  it("PEFT ≤ 0.13's oft_r + oft_s with COFT (merged by 0.13's formulas)", async () => {
    await assertMatchesPeft(`${EDGE}/oftlegacy`, `${EDGE}/base`, 'oft', 1);
  });

  it('settings come from adapter_config with the series its version used', () => {
    const s = oftSettings({ oft_block_size: 32, r: 0, peft_version: '0.21.0' });
    assert.equal(s['cayley_neumann_series'], 'peft-0.18');
    assert.equal(s['use_cayley_neumann'], true);
    assert.equal(s['num_cayley_neumann_terms'], 5);
    const old = (v: Record<string, string | boolean>) => oftSettings(v)['cayley_neumann_series'];
    assert.equal(old({ peft_version: '0.17.1', use_cayley_neumann: true }), 'peft-0.15');
    assert.equal(old({ use_cayley_neumann: true }), 'peft-0.15');
    assert.equal(oftSettings(null)['oft_block_size'], null);
  });

  it('the 0.15–0.17 series weighs its last power 2, the 0.18 one 1', () => {
    const q = Float64Array.from([0, 0.3, -0.2, -0.3, 0, 0.1, 0.2, -0.1, 0]);
    const q3 = matmulSquare(matmulSquare(q, q, 3), q, 3);
    const newer = cayleyNeumann(q, 3, 4, 'peft-0.18');
    const older = cayleyNeumann(q, 3, 4, 'peft-0.15');
    for (let i = 0; i < 9; i++)
      assert.ok(Math.abs((older[i] as number) - (newer[i] as number) - (q3[i] as number)) < 1e-15);
  });

  it('an oft_block_size that disagrees with oft_R is a shape problem and an effect error', async () => {
    const dir = copyWithConfig('oft', join(tmp, 'bs16'), { oft_block_size: 16 });
    assert.match(
      await shapeWarning(dir),
      /oft_block_size = 16 gives blocks of 16 over 64 inputs.*holds blocks of 32/,
    );
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.code, 'InvalidExport');
    assert.match(e.message, /oft_block_size = 16.*blocks of 32/);
  });

  it('a non-dividing oft_block_size PEFT would adjust elsewhere is named with the adjustment', async () => {
    // 64 inputs: 24 adjusts to 16 (PEFT's nearest divisor), which is not the stored 32.
    const dir = copyWithConfig('oft', join(tmp, 'bs24'), { oft_block_size: 24 });
    assert.match(
      await shapeWarning(dir),
      /oft_block_size = 24 gives blocks of 16 over 64 inputs \(PEFT adjusts/,
    );
    assert.ok((await firstEffectError(dir)) instanceof CheckpointError);
  });

  it('r and oft_block_size both set, or block_share over several stored blocks, are refused', async () => {
    const both = copyWithConfig('oft', join(tmp, 'both'), { r: 2 });
    assert.match(await shapeWarning(both), /r = 2 and oft_block_size = 32; PEFT needs exactly one/);
    assert.ok((await firstEffectError(both)) instanceof CheckpointError);
    const share = copyWithConfig('oft', join(tmp, 'share'), { block_share: true });
    assert.match(
      await shapeWarning(share),
      /block_share is set but oft_R \[\d+, 496\] holds \d+ blocks/,
    );
    const e = await firstEffectError(share);
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /block_share is set but \d+ OFT blocks are stored/);
  });

  it('LyCORIS oft_blocks (a rotation of the outputs) is refused by name', async () => {
    const m = {
      name: 'lora_unet_x',
      parts: { oft_blocks: 'lora_unet_x.oft_blocks' },
    } as unknown as LoraModule;
    const io = {
      read: () => Promise.resolve(new Float64Array(4 * 8 * 8)),
      tensor: () => ({ name: 'lora_unet_x.oft_blocks', dtype: 'F32', shape: [4, 8, 8] }),
      weightShape: [32, 32],
    } as unknown as Parameters<NonNullable<typeof oft.effect>>[1];
    await assert.rejects(
      oft.effect?.(m, io) ?? Promise.resolve(),
      /LyCORIS OFT .*rotates the layer's outputs/,
    );
  });
});
