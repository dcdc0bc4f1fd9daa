/** LNTuning on PEFT 0.21's fixture: the trained norm copies replace the base norms (RMSNorm forward). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { readFloatTensor } from '../../../../src/core/formats/quant/readFloat.js';
import { effectInputs } from '../../../../src/core/lora/methods/effectInputs.js';
import { lntuning } from '../../../../src/core/lora/methods/lntuning.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import {
  BASE,
  compareWithPeft,
  expectedOf,
  METHODS_FIX,
  withFixture,
  type ModuleRun,
} from './fixtureEffects.js';

const DIR = `${METHODS_FIX}/lntuning`;
const EPS = (JSON.parse(readFileSync(`${BASE}/config.json`, 'utf8')) as { rms_norm_eps: number })
  .rms_norm_eps;

/** LlamaRMSNorm: y = w ⊙ x / √(mean(x²) + ε), per row of x. */
function rmsNorm(x: Float64Array, run: ModuleRun): Float64Array {
  const n = run.out;
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (x[r * n + i] as number) ** 2;
    const inv = 1 / Math.sqrt(ss / n + EPS);
    for (let i = 0; i < n; i++)
      y[r * n + i] = (run.merged[i] as number) * (x[r * n + i] as number) * inv;
  }
  return y;
}

describe('LNTuning (PEFT fixture)', () => {
  it('names the weight and bias copies', () => {
    const p = tensorPart('base_model.model.model.layers.0.input_layernorm.ln_tuning_layers.weight');
    assert.equal(p?.part, 'ln_tuning_weight');
    assert.equal(p?.module, 'base_model.model.model.layers.0.input_layernorm');
    assert.equal(tensorPart('x.norm.ln_tuning_layers.bias')?.part, 'ln_tuning_bias');
    const named = tensorPart('x.norm.ln_tuning_layers.default.weight');
    assert.deepEqual([named?.part, named?.adapter], ['ln_tuning_weight', 'default']);
  });

  it('analyses every norm as LNTuning, targeting the norm module, with no problems', async () => {
    const expected = expectedOf(DIR);
    await withFixture(DIR, async (analysis) => {
      assert.equal(analysis.modules.length, expected.modules);
      assert.deepEqual(analysis.modules.map((m) => m.target).sort(), [...expected.targets].sort());
      for (const m of analysis.modules) {
        assert.equal(m.kind, 'lntuning');
        assert.equal(m.method?.id, 'lntuning');
        assert.deepEqual([m.outFeatures, m.inFeatures], [64, 64]);
        assert.deepEqual(m.method?.settings, { replaces_weight: true, replaces_bias: false });
      }
      assert.ok(!analysis.warnings.some((w) => /shape/.test(w)), analysis.warnings.join('\n'));
    });
  });

  it('equals merge_and_unload() and the unmerged forward within 1e-5', async () => {
    const { failures, checked } = await compareWithPeft(DIR, rmsNorm);
    assert.equal(checked, expectedOf(DIR).modules);
    assert.deepEqual(failures, []);
  });

  it('refuses a copy of another size, naming the module', async () => {
    await withFixture(DIR, async (analysis, _run, adapter) => {
      const m = analysis.modules[0];
      assert.ok(m);
      await assert.rejects(
        lntuning.effect?.(m, effectInputs(adapter, [128])) ?? Promise.resolve(),
        (e: unknown) =>
          e instanceof CheckpointError && e.code === 'InvalidExport' && e.message.includes(m.name),
      );
    });
  });

  it('a LayerNorm copy with a bias: merge replaces weight and bias as merge_and_unload() does', async () => {
    const edge = join(__dirname, '../../../fixtures/methods-edge');
    const tmp = await mkdtemp(join(tmpdir(), 'lora-lens-lnbias-'));
    try {
      const out = join(tmp, 'merged.safetensors');
      const r = await mergeAdapter({
        adapterPath: join(edge, 'lnbias'),
        basePath: join(edge, 'base'),
        outPath: out,
      });
      assert.deepEqual(r.patched.map((p) => p.initializer).sort(), ['ln.bias', 'ln.weight']);
      const [merged, truth] = await Promise.all([
        openPath(out),
        openPath(join(edge, 'lnbias/merged.safetensors')),
      ]);
      try {
        for (const t of truth.tensors) {
          const got = await readFloatTensor(merged, merged.tensor(t.name));
          const want = await readFloatTensor(truth, t);
          assert.deepEqual([...got], [...want], t.name);
        }
      } finally {
        await Promise.all([merged.close(), truth.close()]);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
