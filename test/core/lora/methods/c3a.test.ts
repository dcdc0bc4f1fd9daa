/** C3A on PEFT 0.21's fixture: block-circulant ΔW / in_features equals PEFT's merge and forward. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { c3a } from '../../../../src/core/lora/methods/c3a.js';
import { effectInputs } from '../../../../src/core/lora/methods/effectInputs.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import { compareWithPeft, expectedOf, METHODS_FIX, withFixture } from './fixtureEffects.js';

const DIR = `${METHODS_FIX}/c3a`;

describe('C3A (PEFT fixture)', () => {
  it('names the kernel part', () => {
    const p = tensorPart('base_model.model.model.layers.0.mlp.up_proj.c3a_kernel');
    assert.equal(p?.part, 'c3a_kernel');
    assert.equal(p?.module, 'base_model.model.model.layers.0.mlp.up_proj');
  });

  it('analyses every module as C3A with its shapes and no problems', async () => {
    const expected = expectedOf(DIR);
    const cfg = JSON.parse(readFileSync(join(DIR, 'adapter_config.json'), 'utf8')) as {
      block_size: number;
    };
    await withFixture(DIR, async (analysis) => {
      assert.equal(analysis.modules.length, expected.modules);
      assert.deepEqual(analysis.modules.map((m) => m.target).sort(), [...expected.targets].sort());
      for (const m of analysis.modules) {
        assert.equal(m.kind, 'c3a');
        assert.equal(m.method?.id, 'c3a');
        assert.deepEqual(m.method?.settings, { block_size: cfg.block_size });
        assert.equal(m.scale, 1 / (m.inFeatures ?? 0));
      }
      const down = analysis.modules.find((m) => m.target.endsWith('down_proj'));
      assert.deepEqual([down?.outFeatures, down?.inFeatures], [64, 128]);
      assert.ok(!analysis.warnings.some((w) => /shape/.test(w)), analysis.warnings.join('\n'));
    });
  });

  it('equals merge_and_unload() and the unmerged forward within 1e-5', async () => {
    const { failures, checked } = await compareWithPeft(DIR);
    assert.equal(checked, expectedOf(DIR).modules);
    assert.deepEqual(failures, []);
  });

  it('refuses a kernel that does not fit the base weight, naming the module', async () => {
    await withFixture(DIR, async (analysis, _run, adapter) => {
      const m = analysis.modules.find((x) => x.target.endsWith('q_proj'));
      assert.ok(m);
      // q_proj's kernel [4, 4, 16] makes a [64, 64] ΔW; claim the base is k_proj's [32, 64].
      await assert.rejects(
        c3a.effect?.(m, effectInputs(adapter, [32, 64])) ?? Promise.resolve(),
        (e: unknown) =>
          e instanceof CheckpointError && e.code === 'InvalidExport' && e.message.includes(m.name),
      );
    });
  });
});
