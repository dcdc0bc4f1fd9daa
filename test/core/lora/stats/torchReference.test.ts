import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPath, type Checkpoint } from '../../../../src/core/formats/index.js';
import type { LoraAnalysis } from '../../../../src/core/lora/index.js';
import { computeAllStats, type ModuleStats } from '../../../../src/core/lora/stats/index.js';
import { readJson, REPO } from '../loraTestInfo.js';
import { analyzeCheckpoint, assertClose, denseLowRankNorm } from './statsKit.js';

/** Written by test/fixtures/lora/stats/generate.py from PEFT's get_delta_weight in float64. */
interface Expected {
  adapters: Record<
    string,
    Record<
      string,
      {
        scaling: number;
        norm: number;
        singularValues?: number[];
        dora?: { min: number; max: number; mean: number };
      }
    >
  >;
}

const EXPECTED = readJson<Expected>(join(REPO, 'test/fixtures/lora/stats/expected.json'));

async function statsOf(
  path: string,
): Promise<{ ckpt: Checkpoint; analysis: LoraAnalysis; stats: ModuleStats[] }> {
  const ckpt = await openPath(join(REPO, path));
  const analysis = await analyzeCheckpoint(ckpt);
  return { ckpt, analysis, stats: await computeAllStats(ckpt, analysis) };
}

describe('LoRA stats: norms agree with torch / PEFT', () => {
  for (const [path, modules] of Object.entries(EXPECTED.adapters)) {
    it(`${path}: ‖scale·ΔW‖_F per module (rel 1e-9)`, async () => {
      const { ckpt, analysis, stats } = await statsOf(path);
      try {
        assert.deepEqual(stats.map((s) => s.module).sort(), Object.keys(modules).sort());
        for (const s of stats) {
          const e = modules[s.module];
          assert.ok(e);
          assert.equal(s.error, undefined);
          assertClose(s.normUnscaled, e.norm / Math.abs(e.scaling), 1e-9, `${s.module} unscaled`);
          const m = analysis.modules.find((x) => x.name === s.module);
          assert.equal(m?.scale, e.scaling, s.module);
          assertClose(s.norm, e.norm, 1e-9, `${s.module} norm`);
        }
      } finally {
        await ckpt.close();
      }
    });
  }

  it('singular values from the two r×r Grams equal torch.linalg.svdvals', async () => {
    for (const [path, modules] of Object.entries(EXPECTED.adapters)) {
      const { ckpt, stats } = await statsOf(path);
      for (const s of stats) {
        const e = modules[s.module]?.singularValues;
        if (!e) continue;
        const got = s.spectrum?.singularValues ?? [];
        assert.equal(got.length, e.length, s.module);
        const top = e[0] ?? 0;
        // Through squared Grams a singular value is good to ~1e-8·σ₁ absolute.
        e.forEach((v, i) =>
          assert.ok(Math.abs((got[i] ?? NaN) - v) <= 1e-7 * top, `${s.module} σ${i}`),
        );
        assertClose(s.spectralNorm, top * Math.abs(s.effectiveScale ?? NaN), 1e-7, s.module);
        assert.equal(s.spectrum?.rank, e.filter((v) => v > 1e-6 * top).length);
      }
      await ckpt.close();
    }
  });

  it('the slow way agrees: B·A formed in float64 (rel 1e-9)', async () => {
    for (const path of [
      'test/fixtures/lora/peft-plain',
      'test/fixtures/lora/peft-rslora-patterns',
      'test/fixtures/lora/peft-dora',
      'test/fixtures/lora/peft-embedding',
      'test/fixtures/lora/stats/peft-conv',
      'samples/tiny-llama-lora',
      'samples/kohya-style-lora.safetensors',
    ]) {
      const { ckpt, analysis, stats } = await statsOf(path);
      for (const m of analysis.modules) {
        const s = stats.find((x) => x.module === m.name);
        const slow = await denseLowRankNorm(ckpt, m);
        assertClose(s?.normUnscaled, slow, 1e-9, `${path} ${m.name}`);
        assertClose(s?.norm, slow * Math.abs(m.scale ?? NaN), 1e-9, `${path} ${m.name} scaled`);
      }
      await ckpt.close();
    }
  });

  it('DoRA: magnitude min/max/mean as torch reads them; the norm says it leaves them out', async () => {
    const path = 'test/fixtures/lora/peft-dora';
    const { ckpt, stats } = await statsOf(path);
    await ckpt.close();
    for (const s of stats) {
      const e = EXPECTED.adapters[path]?.[s.module]?.dora;
      assert.ok(e && s.dora);
      assert.equal(s.dora.part, 'magnitude');
      assert.equal(s.dora.axis, 'out');
      assertClose(s.dora.min, e.min, 0, 'min');
      assertClose(s.dora.max, e.max, 0, 'max');
      assertClose(s.dora.mean, e.mean, 1e-12, 'mean');
      assert.match(s.normNote ?? '', /excludes DoRA's magnitude/);
    }
  });

  it('an untrained PEFT adapter (get_peft_model, B = 0): zeroB, norm 0, rank 0', async () => {
    const { ckpt, stats } = await statsOf('test/fixtures/lora/stats/peft-untrained');
    await ckpt.close();
    assert.equal(stats.length, 2);
    for (const s of stats) {
      assert.equal(s.zeroB, true);
      assert.equal(s.norm, 0);
      assert.equal(s.spectrum?.rank, 0);
      assert.ok((s.parts['down']?.norm ?? 0) > 0, 'A is kaiming-initialised, not zero');
    }
    const trained = await statsOf('test/fixtures/lora/peft-plain');
    await trained.ckpt.close();
    assert.ok(trained.stats.every((s) => !s.zeroB));
  });
});
