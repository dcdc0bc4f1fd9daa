/**
 * MiSS against PEFT 0.21 (test/fixtures/methods/miss, miss-mini, miss-bat, methods-edge/missodd): the
 * shared block tiled over W's r-wide column blocks, its mini variant, in_features not divisible by r,
 * and the 'bat' mode, which depends on W and is refused by name.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { tensorPart } from '../../../../src/core/lora/index.js';
import { miss } from '../../../../src/core/lora/methods/miss.js';
import type { EffectInputs } from '../../../../src/core/lora/methods/types.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  analysisOf,
  assertMatchesPeft,
  assertPeftFixture,
  copyWithConfig,
  EDGE,
  expectedOf,
  FIX,
  firstEffectError,
  shapeWarning,
} from './effectFixture.js';

describe('MiSS (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-miss-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the miss_block part', () => {
    const p = tensorPart('base_model.model.model.layers.0.mlp.up_proj.miss_block');
    assert.deepEqual(
      [p?.module, p?.part],
      ['base_model.model.model.layers.0.mlp.up_proj', 'miss_block'],
    );
  });

  for (const dir of ['miss', 'miss-mini'])
    it(`${dir}: effect = merge_and_unload() and the unmerged forward`, async () => {
      await assertPeftFixture(dir, 'miss');
    });

  it('in_features not divisible by r (40 inputs, r = 16)', async () => {
    await assertMatchesPeft(`${EDGE}/missodd`, `${EDGE}/base`, 'miss', 1);
  });

  it('reports rank, mode and scale 1', async () => {
    const m = (await analysisOf(`${FIX}/miss-mini`)).modules[0];
    assert.equal(m?.rank, 16);
    assert.deepEqual(m?.method?.settings, { mode: 'mini', r: 16, mini_r: 8 });
    assert.equal(m?.scale, 1);
  });

  it("'bat' is recognised, described without problems, and its effect refused by name", async () => {
    const a = await analysisOf(`${FIX}/miss-bat`);
    assert.equal(a.modules.length, expectedOf('miss-bat').modules);
    assert.ok(a.modules.every((m) => m.method?.id === 'miss' && m.label === 'MiSS bat'));
    assert.equal(await shapeWarning(`${FIX}/miss-bat`), '');
    const e = await firstEffectError(`${FIX}/miss-bat`);
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.code, 'InvalidExport');
    assert.match(e.message, /MiSS 'bat' mode .* depends on the base weight/);
  });

  it('a config r or mode that disagrees with miss_block is a shape problem', async () => {
    const r8 = copyWithConfig('miss', join(tmp, 'r8'), { r: 8 });
    assert.match(
      await shapeWarning(r8),
      /adapter_config r = 8 but miss_block \[16, \d+\] has r = 16/,
    );
    const bat = copyWithConfig('miss', join(tmp, 'bat'), { init_weights: 'bat' });
    assert.match(
      await shapeWarning(bat),
      /init_weights is "bat" but miss_block \[16, \d+\] is not shaped/,
    );
    assert.ok((await firstEffectError(bat)) instanceof CheckpointError);
  });

  it('a block that does not fit the outputs raises InvalidExport', async () => {
    const io = (shape: number[], weightShape: number[]): EffectInputs => ({
      readIndices: () => Promise.reject(new Error('no index tensors')),
      read: () => Promise.resolve(new Float64Array(shape.reduce((a, b) => a * b, 1))),
      tensor: () => ({ name: 'x.miss_block', dtype: 'F32', shape }) as never,
      weightShape,
    });
    const mod = (mode: string) =>
      ({
        name: 'x',
        parts: { miss_block: 'x.miss_block' },
        method: { id: 'miss', label: 'MiSS', settings: { mode } },
      }) as unknown as LoraModule;
    await assert.rejects(
      miss.effect?.(mod('default'), io([4, 10], [12, 8])) ?? Promise.resolve(),
      /does not fit the layer's 12 outputs/,
    );
    await assert.rejects(
      miss.effect?.(mod('mini'), io([4, 5], [12, 8])) ?? Promise.resolve(),
      /mini_r = 5 does not divide the layer's 12 outputs/,
    );
  });
});
