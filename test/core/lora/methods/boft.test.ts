/**
 * BOFT against PEFT 0.21 (test/fixtures/methods/boft*, methods-edge/boft3): butterfly factors with
 * the regenerated boft_P permutations, boft_s, the CPU fallback's single factor, convs, and a config
 * that disagrees with the stored blocks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { boft, butterflyPerm } from '../../../../src/core/lora/methods/boft.js';
import type { EffectInputs } from '../../../../src/core/lora/methods/types.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  assertMatchesPeft,
  assertPeftFixture,
  copyWithConfig,
  EDGE,
  shapeWarning,
} from './effectFixture.js';

function fakeIo(shapes: Record<string, number[]>, weightShape: number[]): EffectInputs {
  return {
    readIndices: () => Promise.reject(new Error('no index tensors')),
    read: (n) => Promise.resolve(new Float64Array((shapes[n] ?? []).reduce((a, b) => a * b, 1))),
    tensor: (n) => ({ name: n, dtype: 'F32', shape: shapes[n] ?? [] }) as never,
    weightShape,
  };
}

describe('BOFT (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-boft-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  for (const dir of ['boft', 'boft-cpu-fallback'])
    it(`${dir}: effect = merge_and_unload() and the unmerged forward`, async () => {
      await assertPeftFixture(dir, 'boft');
    });

  it('three butterfly factors (a permutation that is not its own inverse), on a linear and a conv', async () => {
    await assertMatchesPeft(`${EDGE}/boft3`, `${EDGE}/base`, 'boft', 2);
  });

  it('regenerates block_butterfly_perm exactly (values printed by PEFT 0.21)', () => {
    assert.deepEqual(
      [...butterflyPerm(16, 2, 2)],
      [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15],
    );
    assert.deepEqual(
      [...butterflyPerm(32, 2, 2)],
      [
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 16, 17, 20, 21, 24, 25, 28, 29, 18,
        19, 22, 23, 26, 27, 30, 31,
      ],
    );
  });

  it('a boft_block_size that disagrees with boft_R is a shape problem', async () => {
    const dir = copyWithConfig('boft', join(tmp, 'bs16'), { boft_block_size: 16 });
    assert.match(await shapeWarning(dir), /boft_block_size 16 disagrees with boft_R's blocks of 8/);
  });

  it('blocks that do not cover the layer, or a missing boft_s, raise InvalidExport', async () => {
    const m = {
      name: 'x',
      parts: { boft_R: 'x.boft_R', boft_s: 'x.boft_s' },
    } as unknown as LoraModule;
    const shapes = { 'x.boft_R': [2, 8, 8, 8], 'x.boft_s': [64, 1] };
    const run = (mod: LoraModule, w: number[]) => boft.effect?.(mod, fakeIo(shapes, w));
    await assert.rejects(run(m, [64, 48]) ?? Promise.resolve(), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.code, 'InvalidExport');
      assert.match(e.message, /8 blocks of 8 cover 64 inputs; the layer has 48/);
      return true;
    });
    const noScale = { ...m, parts: { boft_R: 'x.boft_R' } } as unknown as LoraModule;
    await assert.rejects(run(noScale, [64, 64]) ?? Promise.resolve(), /boft_s .* is missing/);
    const odd = { ...shapes, 'x.boft_R': [3, 6, 8, 8] };
    await assert.rejects(
      boft.effect?.(m, fakeIo(odd, [64, 48])) ?? Promise.resolve(),
      /3 butterfly factors need .* divisible by 4/,
    );
  });

  it('LyCORIS 4-D oft_blocks is refused by name', async () => {
    const m = { name: 'y', parts: { oft_blocks: 'y.oft_blocks' } } as unknown as LoraModule;
    const io = fakeIo({ 'y.oft_blocks': [2, 4, 8, 8] }, [32, 32]);
    await assert.rejects(boft.effect?.(m, io) ?? Promise.resolve(), /LyCORIS BOFT .*outputs/);
  });
});
