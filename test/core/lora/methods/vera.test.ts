/**
 * VeRA against PEFT 0.21 (test/fixtures/methods/vera, vera-noproj): the shared vera_A / vera_B sliced
 * per module and scaled by the λ vectors equal merge_and_unload() and the unmerged forward; without
 * saved projections the analysis and the effect say that PEFT regenerates them from projection_prng_key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import {
  analysisOf,
  assertPeftFixture,
  copyWithConfig,
  expectedOf,
  FIX,
  firstEffectError,
  shapeWarning,
} from './effectFixture.js';

describe('VeRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-vera-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the λ parts and leaves the global projections to describe', () => {
    const p = tensorPart('base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_b');
    assert.deepEqual(
      [p?.module, p?.part],
      ['base_model.model.model.layers.0.self_attn.q_proj', 'vera_lambda_b'],
    );
    assert.equal(tensorPart('x.q_proj.vera_lambda_d.default')?.adapter, 'default');
    assert.equal(tensorPart('base_model.vera_A'), undefined);
    assert.equal(tensorPart('base_model.vera_B'), undefined);
  });

  it('vera: effect = merge_and_unload() and the unmerged forward', async () => {
    await assertPeftFixture('vera', 'vera');
  });

  it('shares vera_A / vera_B, lists them once and reports settings and scale 1', async () => {
    const a = await analysisOf(`${FIX}/vera`);
    assert.equal(a.modules.length, expectedOf('vera').modules);
    for (const m of a.modules) {
      assert.deepEqual(m.method?.shared, {
        vera_A: 'base_model.vera_A',
        vera_B: 'base_model.vera_B',
      });
      assert.deepEqual(m.method?.settings, {
        r: 16,
        save_projection: true,
        projection_prng_key: 0,
        d_initial: 0.1,
      });
      assert.equal(m.rank, 16);
      assert.equal(m.scale, 1);
    }
    const listed = a.modules
      .flatMap((m) => m.tensors)
      .filter((t) => t.startsWith('base_model.vera_'));
    assert.deepEqual(listed.sort(), ['base_model.vera_A', 'base_model.vera_B']);
  });

  it('vera-noproj: a problem and an effect error that name projection_prng_key', async () => {
    const dir = `${FIX}/vera-noproj`;
    assert.match(await shapeWarning(dir), /save_projection = false.*projection_prng_key = 0/);
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.code, 'InvalidExport');
    assert.match(e.message, /vera_A \/ vera_B.*projection_prng_key = 0.*does not reproduce/);
  });

  it('a config r that disagrees with λd is a shape problem', async () => {
    const dir = copyWithConfig('vera', join(tmp, 'r8'), { r: 8 });
    assert.match(await shapeWarning(dir), /adapter_config r = 8 but vera_lambda_d \[16\] holds 16/);
  });

  it('a base layer wider than vera_A raises InvalidExport', async () => {
    const { vera } = await import('../../../../src/core/lora/methods/vera.js');
    const m = {
      name: 'x',
      inFeatures: null,
      outFeatures: 2,
      parts: { vera_lambda_b: 'x.b', vera_lambda_d: 'x.d' },
      method: { id: 'vera', label: 'VeRA', shared: { vera_A: 'A', vera_B: 'B' } },
    } as never;
    const shapes: Record<string, number[]> = { 'x.b': [2], 'x.d': [1], A: [1, 3], B: [2, 1] };
    const io = {
      readIndices: () => Promise.reject(new Error('no index tensors')),
      read: (n: string) =>
        Promise.resolve(new Float64Array((shapes[n] ?? []).reduce((p, q) => p * q, 1))),
      tensor: (n: string) => ({ name: n, dtype: 'F32', shape: shapes[n] }) as never,
      weightShape: [2, 4],
    };
    await assert.rejects(
      vera.effect?.(m, io) ?? Promise.resolve(),
      /smaller than the layer \[2, 4\]/,
    );
  });
});
