/**
 * FourierFT on PEFT 0.21's fixture: positions regenerated from the seed (torchRandom.ts) match the
 * ones PEFT used, and W′ / the forward equal PEFT's within 1e-5.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { InverseDft } from '../../../../src/core/lora/methods/fft.js';
import { sparseInverseDft2Real } from '../../../../src/core/lora/methods/fourierft.js';
import { torchRandpermPrefix } from '../../../../src/core/lora/methods/torchRandom.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import { compareWithPeft, expectedOf, METHODS_FIX, withFixture } from './fixtureEffects.js';

const DIR = `${METHODS_FIX}/fourierft`;

/** The dense definition, Σ over every coefficient and every cell: the reference for the fast path. */
function naiveIdft2(
  out: number,
  inF: number,
  rows: Int32Array,
  cols: Int32Array,
  c: Float64Array,
  s: number,
): Float64Array {
  const d = new Float64Array(out * inF);
  for (let a = 0; a < out; a++)
    for (let b = 0; b < inF; b++) {
      let v = 0;
      for (let j = 0; j < c.length; j++)
        v +=
          (c[j] as number) *
          Math.cos(
            2 * Math.PI * ((a * (rows[j] as number)) / out + (b * (cols[j] as number)) / inF),
          );
      d[a * inF + b] = (s * v) / (out * inF);
    }
  return d;
}

describe('FourierFT (PEFT fixture)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-fourierft-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the spectrum part', () => {
    const p = tensorPart('base_model.model.model.layers.0.self_attn.q_proj.fourierft_spectrum');
    assert.equal(p?.part, 'fourierft_spectrum');
    assert.equal(p?.module, 'base_model.model.model.layers.0.self_attn.q_proj');
    assert.equal(tensorPart('x.q_proj.fourierft_spectrum.default')?.adapter, 'default');
  });

  it('analyses every module as FourierFT with its settings and no problems', async () => {
    const expected = expectedOf(DIR);
    const cfg = JSON.parse(readFileSync(join(DIR, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await withFixture(DIR, async (analysis) => {
      assert.equal(analysis.modules.length, expected.modules);
      assert.deepEqual(analysis.modules.map((m) => m.target).sort(), [...expected.targets].sort());
      for (const m of analysis.modules) {
        assert.equal(m.kind, 'fourierft');
        assert.equal(m.method?.id, 'fourierft');
        assert.deepEqual(m.method?.settings, {
          n_frequency: cfg['n_frequency'],
          scaling: cfg['scaling'],
          random_loc_seed: cfg['random_loc_seed'],
        });
        assert.equal(m.scale, cfg['scaling']);
      }
      assert.ok(!analysis.warnings.some((w) => /shape/.test(w)), analysis.warnings.join('\n'));
    });
  });

  it('regenerates the positions PEFT drew (indices.safetensors)', async () => {
    const cfg = JSON.parse(readFileSync(join(DIR, 'adapter_config.json'), 'utf8')) as {
      random_loc_seed: number;
    };
    const seed = cfg.random_loc_seed;
    const idx = await openPath(join(DIR, 'indices.safetensors'));
    const base = await openPath(`${METHODS_FIX}/base`);
    try {
      for (const t of idx.tensors) {
        const target = t.name.replace(/\.indices$/, '').replace(/^base_model\.model\./, '');
        const [out, inF] = base.tensor(`${target}.weight`).shape as [number, number];
        const n = t.shape[1] as number;
        const flat = torchRandpermPrefix(out * inF, n, seed);
        const bytes = await idx.readTensorBytes(t);
        const want = Array.from(new BigInt64Array(bytes.slice().buffer), Number);
        const got = [...flat].map((f) => Math.floor(f / inF)).concat([...flat].map((f) => f % inF));
        assert.deepEqual(got, want, t.name);
      }
    } finally {
      await idx.close();
      await base.close();
    }
  });

  it('equals merge_and_unload() and the unmerged forward within 1e-5', async () => {
    const { failures, checked } = await compareWithPeft(DIR);
    assert.equal(checked, expectedOf(DIR).modules);
    assert.deepEqual(failures, []);
  });

  it('computes the same ΔW with the FFT path as the dense definition', () => {
    for (const [out, inF, n] of [
      [64, 48, 200],
      [37, 5, 60],
      [128, 3, 4],
      [100, 96, 2000],
    ] as const) {
      const flat = torchRandpermPrefix(out * inF, n, 5);
      const rows = Int32Array.from(flat, (f) => Math.floor(f / inF));
      const cols = Int32Array.from(flat, (f) => f % inF);
      const c = Float64Array.from({ length: n }, (_, j) => Math.sin(j + 1));
      const fast = sparseInverseDft2Real(out, inF, rows, cols, c, 3);
      const slow = naiveIdft2(out, inF, rows, cols, c, 3);
      let worst = 0;
      for (let i = 0; i < fast.length; i++)
        worst = Math.max(worst, Math.abs((fast[i] as number) - (slow[i] as number)));
      assert.ok(worst < 1e-12, `[${out}, ${inF}] n=${n}: ${worst}`);
    }
  });

  it('inverse DFT of any length equals the definition', () => {
    for (const n of [1, 2, 3, 7, 12, 64, 100]) {
      const re = Float64Array.from({ length: n }, (_, k) => Math.cos(3 * k + 1));
      const im = Float64Array.from({ length: n }, (_, k) => Math.sin(5 * k));
      const want = Array.from({ length: n }, (_, a) => {
        let vr = 0;
        let vi = 0;
        for (let k = 0; k < n; k++) {
          const t = (2 * Math.PI * a * k) / n;
          vr += (re[k] as number) * Math.cos(t) - (im[k] as number) * Math.sin(t);
          vi += (re[k] as number) * Math.sin(t) + (im[k] as number) * Math.cos(t);
        }
        return [vr, vi];
      });
      new InverseDft(n).run(re, im);
      for (let a = 0; a < n; a++) {
        const [vr, vi] = want[a] as [number, number];
        assert.ok(
          Math.abs((re[a] as number) - vr) + Math.abs((im[a] as number) - vi) < 1e-10,
          `n=${n}`,
        );
      }
    }
  });

  it('says when the settings are only PEFT defaults (no adapter_config.json)', async () => {
    const lone = join(tmp, 'no-config');
    mkdirSync(lone);
    cpSync(join(DIR, 'adapter_model.safetensors'), join(lone, 'adapter_model.safetensors'));
    await withFixture(lone, async (analysis) => {
      assert.ok(analysis.modules.length > 0);
      assert.ok(
        analysis.warnings.some((w) => /no adapter_config\.json/.test(w)),
        analysis.warnings.join('\n'),
      );
    });
  });

  it('refuses a seed it cannot reproduce, naming the module', async () => {
    const copy = join(tmp, 'bad-seed');
    cpSync(DIR, copy, { recursive: true });
    const cfgPath = join(copy, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, random_loc_seed: null }));
    await withFixture(copy, async (analysis, runModule) => {
      assert.ok(
        analysis.warnings.some((w) => /random_loc_seed/.test(w)),
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
          /random_loc_seed/.test(e.message),
      );
    });
  });
});
