/**
 * HRA against PEFT 0.21 (test/fixtures/methods/hra, hra-gs, methods-edge/hraconv): the chain of
 * Householder reflections W′ = W·H₀···H_{r−1}, the Gram–Schmidt variant, a conv, and refusals.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { tensorPart } from '../../../../src/core/lora/index.js';
import { hra } from '../../../../src/core/lora/methods/hra.js';
import type { EffectInputs } from '../../../../src/core/lora/methods/types.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  analysisOf,
  assertMatchesPeft,
  assertPeftFixture,
  copyWithConfig,
  EDGE,
  FIX,
  firstEffectError,
  shapeWarning,
} from './effectFixture.js';

describe('HRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-hra-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the hra_u part', () => {
    const p = tensorPart('base_model.model.model.layers.0.self_attn.q_proj.hra_u');
    assert.deepEqual(
      [p?.module, p?.part],
      ['base_model.model.model.layers.0.self_attn.q_proj', 'hra_u'],
    );
  });

  for (const dir of ['hra', 'hra-gs'])
    it(`${dir}: effect = merge_and_unload() and the unmerged forward`, async () => {
      await assertPeftFixture(dir, 'hra');
    });

  it('a conv (hra_u over in·k·k) and a linear', async () => {
    await assertMatchesPeft(`${EDGE}/hraconv`, `${EDGE}/base`, 'hra', 2);
  });

  it('reports rank, settings and no scale', async () => {
    const m = (await analysisOf(`${FIX}/hra-gs`)).modules[0];
    assert.equal(m?.rank, 8);
    assert.deepEqual(m?.method?.settings, { r: 8, apply_GS: true });
    assert.equal(m?.scale, null);
  });

  it('a config r that disagrees with hra_u is a shape problem and an effect error', async () => {
    const dir = copyWithConfig('hra', join(tmp, 'r4'), { r: 4 });
    assert.match(
      await shapeWarning(dir),
      /adapter_config r = 4 but hra_u \[64, 8\] holds 8 vectors/,
    );
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.code, 'InvalidExport');
  });

  it('a zero reflection vector (NaN in PEFT) or a wrong width raises InvalidExport', async () => {
    const m = { name: 'x', parts: { hra_u: 'x.hra_u' } } as unknown as LoraModule;
    const io = (values: Float64Array, weightShape: number[]): EffectInputs => ({
      readIndices: () => Promise.reject(new Error('no index tensors')),
      read: () => Promise.resolve(values),
      tensor: () => ({ name: 'x.hra_u', dtype: 'F32', shape: [4, 2] }) as never,
      weightShape,
    });
    const zeroSecond = Float64Array.from([1, 0, 2, 0, 3, 0, 4, 0]);
    await assert.rejects(
      hra.effect?.(m, io(zeroSecond, [3, 4])) ?? Promise.resolve(),
      /column 1 has norm 0/,
    );
    await assert.rejects(
      hra.effect?.(m, io(zeroSecond, [3, 5])) ?? Promise.resolve(),
      /does not fit the layer's 5 inputs/,
    );
  });
});
