/**
 * Non-pair modules: LoHa / LoKr / AdaLoRA become plain LoRA with their ΔW kept (compared with the
 * methods' own effects, which the merge tests check against PEFT), DoRA magnitudes are copied byte
 * for byte, and rotations / scalings are refused by name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openPath } from '../../../src/core/formats/index.js';
import { effectInputs, moduleEffect } from '../../../src/core/lora/methods/effectInputs.js';
import { analyseAdapter } from '../../../src/core/surgery/factors.js';
import { resizeAdapter } from '../../../src/core/surgery/resize.js';
import { deltasOf, relDiff } from './helpers.js';

const METHODS = join(__dirname, '../../fixtures/methods');
const tmp = mkdtempSync(join(tmpdir(), 'lora-lens-convert-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Each module's ΔW by its method's own effect (dense), keyed by target. */
async function effects(path: string): Promise<Map<string, Float64Array>> {
  const c = await openPath(path);
  try {
    const a = await analyseAdapter(c);
    const out = new Map<string, Float64Array>();
    for (const m of a.modules) {
      const e = await moduleEffect(m, effectInputs(c, [m.outFeatures ?? 0, m.inFeatures ?? 0]));
      if (e.kind === 'delta') out.set(m.target, e.delta);
      else if (e.kind === 'low-rank') {
        const o = m.outFeatures ?? 0;
        const n = m.inFeatures ?? 0;
        const w = new Float64Array(o * n);
        for (let i = 0; i < o; i++)
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let k = 0; k < e.rank; k++)
              s += (e.b[i * e.rank + k] as number) * (e.a[k * n + j] as number);
            w[i * n + j] = s * e.scale;
          }
        out.set(m.target, w);
      }
    }
    return out;
  } finally {
    await c.close();
  }
}

describe('resize converts LoHa / LoKr / AdaLoRA to LoRA', () => {
  for (const method of ['loha', 'lokr', 'lokr-both', 'lokr-full', 'adalora']) {
    it(`${method}: at full rank the LoRA output has the method's ΔW`, async () => {
      const src = join(METHODS, method);
      const out = join(tmp, method);
      const r = await resizeAdapter(src, out, { rule: { kind: 'energy', energy: 1 } });
      assert.ok(
        r.modules.every((m) => m.conversion && m.conversion.relativeError < 1e-6),
        method,
      );
      const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(config['peft_type'], 'LORA');
      const ours = await deltasOf(out);
      for (const [target, w] of await effects(src)) {
        const d = ours.get(target);
        assert.ok(d, target);
        assert.ok(relDiff(d.w, w) < 1e-6, `${method} ${target}: ${relDiff(d.w, w)}`);
      }
    });
  }

  it('LoHa truncated: the reported retained energy is what the file keeps', async () => {
    const src = join(METHODS, 'loha');
    const out = join(tmp, 'loha-r3');
    const r = await resizeAdapter(src, out, { rule: { kind: 'rank', rank: 3 } });
    const ours = await deltasOf(out);
    const full = await effects(src);
    for (const m of r.modules) {
      assert.ok(m.rankBefore > 4, 'a rank-4 LoHa has a higher LoRA rank');
      const err = relDiff(
        (ours.get(m.target) as { w: Float64Array }).w,
        full.get(m.target) as Float64Array,
      );
      assert.ok(
        Math.abs(err - m.truncationError) < 1e-6,
        `${m.target}: ${err} vs ${m.truncationError}`,
      );
    }
  });
});

describe('DoRA and methods that are not low rank', () => {
  it('copies DoRA magnitudes unchanged and keeps use_dora', async () => {
    const src = join(METHODS, 'dora');
    const out = join(tmp, 'dora');
    await resizeAdapter(src, out, { rule: { kind: 'rank', rank: 2 }, dtype: 'BF16' });
    const a = await openPath(src);
    const b = await openPath(out);
    try {
      const mags = a.tensors.filter((t) => t.name.endsWith('lora_magnitude_vector'));
      assert.ok(mags.length > 0);
      for (const t of mags) {
        const o = b.tensor(t.name);
        assert.equal(o.dtype, t.dtype);
        assert.deepEqual(await b.readTensorBytes(o), await a.readTensorBytes(t));
      }
      assert.equal(
        b.tensor(mags[0]?.name.replace('lora_magnitude_vector', 'lora_A.weight') ?? '').dtype,
        'BF16',
      );
    } finally {
      await a.close();
      await b.close();
    }
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(config['use_dora'], true);
  });

  for (const method of ['oft', 'ia3', 'boft']) {
    it(`${method} is refused by name`, async () => {
      await assert.rejects(
        resizeAdapter(join(METHODS, method), join(tmp, method), {
          rule: { kind: 'rank', rank: 2 },
        }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'NotLowRank');
          assert.match(e.message, /base_model\.model\./);
          return true;
        },
      );
    });
  }
});
