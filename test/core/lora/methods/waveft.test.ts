/**
 * WaveFT on PEFT 0.21's fixtures (db1, and db2 with padding and cropping), and the inverse DWT of other
 * wavelet families against PEFT's get_delta_weight() (scripts/fixtures/methods/waveft_idwt.py).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { torchRandpermPrefix } from '../../../../src/core/lora/methods/torchRandom.js';
import { waveft } from '../../../../src/core/lora/methods/waveft.js';
import type { EffectInputs } from '../../../../src/core/lora/methods/types.js';
import type { LoraModule } from '../../../../src/core/lora/types.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import { compareWithPeft, expectedOf, METHODS_FIX, withFixture } from './fixtureEffects.js';

interface IdwtCase {
  family: string;
  out: number;
  in: number;
  n: number;
  seed: number;
  scaling: number;
  spectrum: number[];
  delta: number[];
}
const IDWT = JSON.parse(readFileSync(`${METHODS_FIX}/waveft-idwt.json`, 'utf8')) as {
  cases: IdwtCase[];
  refused: { family: string; out: number; in: number; n: number; seed: number }[];
};

/** A module and inputs standing in for an analysed adapter: one spectrum tensor in memory. */
function synthetic(
  settings: Record<string, number | string | boolean>,
  spectrum: readonly number[],
  weightShape: readonly number[],
): [LoraModule, EffectInputs] {
  const m = {
    name: 'layer',
    parts: { waveft_spectrum: 'layer.waveft_spectrum' },
    method: {
      id: 'waveft',
      label: 'WaveFT',
      settings: { n_frequency: spectrum.length, ...settings },
    },
  } as unknown as LoraModule;
  const io: EffectInputs = {
    readIndices: () => Promise.reject(new Error('no index tensors')),
    read: () => Promise.resolve(Float64Array.from(spectrum)),
    tensor: () =>
      ({
        name: 'layer.waveft_spectrum',
        shape: [spectrum.length],
        dtype: 'F64',
      }) as unknown as ReturnType<EffectInputs['tensor']>,
    weightShape,
  };
  return [m, io];
}

describe('WaveFT', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-waveft-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the spectrum part', () => {
    const p = tensorPart('base_model.model.model.layers.0.self_attn.k_proj.waveft_spectrum');
    assert.equal(p?.part, 'waveft_spectrum');
    assert.equal(p?.module, 'base_model.model.model.layers.0.self_attn.k_proj');
  });

  for (const [dir, family] of [
    ['waveft', 'db1'],
    ['waveft-db2', 'db2'],
  ] as const) {
    const path = `${METHODS_FIX}/${dir}`;
    it(`${dir}: analyses every module as WaveFT ${family} with no problems`, async () => {
      const expected = expectedOf(path);
      const cfg = JSON.parse(readFileSync(join(path, 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      await withFixture(path, async (analysis) => {
        assert.equal(analysis.modules.length, expected.modules);
        assert.deepEqual(
          analysis.modules.map((m) => m.target).sort(),
          [...expected.targets].sort(),
        );
        for (const m of analysis.modules) {
          assert.equal(m.kind, 'waveft');
          assert.equal(m.method?.id, 'waveft');
          assert.deepEqual(m.method?.settings, {
            n_frequency: cfg['n_frequency'],
            scaling: cfg['scaling'],
            wavelet_family: family,
            use_idwt: true,
            random_loc_seed: cfg['random_loc_seed'],
          });
        }
        assert.ok(!analysis.warnings.some((w) => /shape/.test(w)), analysis.warnings.join('\n'));
      });
    });

    it(`${dir}: equals merge_and_unload() and the unmerged forward within 1e-5`, async () => {
      const { failures, checked } = await compareWithPeft(path);
      assert.equal(checked, expectedOf(path).modules);
      assert.deepEqual(failures, []);
    });
  }

  for (const c of IDWT.cases)
    it(`${c.family} [${c.out}, ${c.in}] equals PEFT's ΔW`, async () => {
      const settings = {
        scaling: c.scaling,
        wavelet_family: c.family,
        use_idwt: true,
        random_loc_seed: c.seed,
      };
      const effect = await waveft.effect?.(...synthetic(settings, c.spectrum, [c.out, c.in]));
      assert.equal(effect?.kind, 'delta');
      const got = effect?.kind === 'delta' ? effect.delta : new Float64Array(0);
      let worst = 0;
      c.delta.forEach((v, i) => (worst = Math.max(worst, Math.abs((got[i] as number) - v))));
      assert.equal(got.length, c.delta.length);
      assert.ok(worst < 1e-12, `${c.family}: ${worst}`);
    });

  it('without the IDWT, places the coefficients themselves', async () => {
    const settings = { scaling: 2, wavelet_family: 'db1', use_idwt: false, random_loc_seed: 9 };
    const effect = await waveft.effect?.(...synthetic(settings, [1, -2, 3], [4, 5]));
    const values = [1, -2, 3];
    const want = new Float64Array(20);
    torchRandpermPrefix(20, 3, 9).forEach((f, j) => (want[f] = 2 * (values[j] as number)));
    assert.deepEqual(effect?.kind === 'delta' ? [...effect.delta] : [], [...want]);
  });

  for (const r of IDWT.refused)
    it(`refuses ${r.family}, whose reconstruction PEFT itself cannot fit`, async () => {
      const settings = {
        scaling: 1,
        wavelet_family: r.family,
        use_idwt: true,
        random_loc_seed: r.seed,
      };
      const spectrum = Array.from({ length: r.n }, () => 1);
      await assert.rejects(
        waveft.effect?.(...synthetic(settings, spectrum, [r.out, r.in])) ?? Promise.resolve(),
        (e: unknown) => e instanceof CheckpointError && /coif5.*smaller/.test(e.message),
      );
    });

  it('refuses a wavelet family PEFT cannot build, naming the module', async () => {
    const copy = join(tmp, 'bad-family');
    cpSync(`${METHODS_FIX}/waveft`, copy, { recursive: true });
    const cfgPath = join(copy, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, wavelet_family: 'db11' }));
    await withFixture(copy, async (analysis, runModule) => {
      assert.ok(
        analysis.warnings.some((w) => /db11/.test(w)),
        analysis.warnings.join(),
      );
      const m = analysis.modules[0];
      assert.ok(m);
      await assert.rejects(
        runModule(m),
        (e: unknown) =>
          e instanceof CheckpointError &&
          e.code === 'InvalidExport' &&
          e.message.includes(m.name) &&
          /wavelet_family "db11"/.test(e.message),
      );
    });
  });
});
