/**
 * RandLoRA against PEFT 0.21 (test/fixtures/methods/randlora): the shared random bases, scaled per
 * module by λ and γ and flattened in PEFT's two orders, times randlora_alpha / r, equal
 * merge_and_unload() and the unmerged forward, for layers with in ≤ out and in > out.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randlora } from '../../../../src/core/lora/methods/randlora.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import {
  analysisOf,
  assertPeftFixture,
  copyWithConfig,
  FIX,
  shapeWarning,
} from './effectFixture.js';

describe('RandLoRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-randlora-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("names λ, γ and the module's copy of the bases; the global bases are no module's part", () => {
    const q = 'base_model.model.model.layers.0.self_attn.q_proj';
    for (const s of ['lambda', 'gamma', 'A', 'B']) {
      const p = tensorPart(`${q}.randlora_${s}`);
      assert.deepEqual([p?.module, p?.part], [q, `randlora_${s}`]);
    }
    assert.equal(tensorPart('base_model.randlora_A'), undefined);
    assert.equal(tensorPart('base_model.randlora_B'), undefined);
  });

  it('randlora: effect = merge_and_unload() and the unmerged forward', async () => {
    await assertPeftFixture('randlora', 'randlora');
  });

  it('reports bases, rank, settings, the scale alpha / r and the shared globals', async () => {
    const a = await analysisOf(`${FIX}/randlora`);
    const k = a.modules.find((m) => m.target.endsWith('self_attn.k_proj'));
    assert.equal(k?.rank, 16);
    assert.equal(k?.label, 'RandLoRA (2 bases of rank 16)');
    assert.equal(k?.scale, 20);
    assert.deepEqual(k?.method?.settings, {
      r: 16,
      randlora_alpha: 320,
      num_bases: 2,
      sparse: false,
      very_sparse: false,
      save_projection: true,
      projection_prng_key: 0,
    });
    assert.deepEqual(k?.method?.shared, {
      randlora_A: 'base_model.randlora_A',
      randlora_B: 'base_model.randlora_B',
    });
    const listed = a.modules
      .flatMap((m) => m.tensors)
      .filter((t) => t.startsWith('base_model.randlora'));
    assert.deepEqual(listed.sort(), ['base_model.randlora_A', 'base_model.randlora_B']);
  });

  it('a config r that disagrees with λ is a shape problem', async () => {
    const dir = copyWithConfig('randlora', join(tmp, 'r8'), { r: 8 });
    assert.match(
      await shapeWarning(dir),
      /adapter_config r = 8 but randlora_lambda \[16, 4\] has rank 16/,
    );
  });

  it('a base layer that γ does not fit raises InvalidExport', async () => {
    const m = {
      name: 'x',
      inFeatures: null,
      outFeatures: null,
      scale: 1,
      parts: { randlora_lambda: 'l', randlora_gamma: 'g', randlora_A: 'A', randlora_B: 'B' },
      method: { id: 'randlora', label: 'RandLoRA' },
    } as unknown as LoraModule;
    const shapes: Record<string, number[]> = { l: [2, 2], g: [2, 4], A: [2, 1, 4], B: [8, 2, 2] };
    const io = {
      readIndices: () => Promise.reject(new Error('no index tensors')),
      read: (n: string) =>
        Promise.resolve(new Float64Array((shapes[n] ?? []).reduce((p, q) => p * q, 1))),
      tensor: (n: string) => ({ name: n, dtype: 'F32', shape: shapes[n] }) as never,
      weightShape: [8, 6],
    };
    await assert.rejects(
      randlora.effect?.(m, io) ?? Promise.resolve(),
      /randlora_gamma \[2, 4\] is not \[2, 6\]/,
    );
    await assert.rejects(
      randlora.effect?.(m, { ...io, weightShape: [] }) ?? Promise.resolve(),
      /needs the base layer's shape/,
    );
  });
});
