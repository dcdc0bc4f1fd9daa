/**
 * Acceptance against kohya-ss/sd-scripts networks/resize_lora.py (fixtures made by
 * scripts/fixtures/surgery/make_kohya_resize.py): the same ranks for sv_fro and sv_ratio with
 * --kohya, singular values within 1e-5, ΔW of our output equal to kohya's output within 1e-5, and
 * alpha written as kohya writes it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resizeAdapter } from '../../../src/core/surgery/resize.js';
import type { RankRule } from '../../../src/core/surgery/rankChoice.js';
import { deltasOf, relDiff } from './helpers.js';

const DIR = join(__dirname, '../../fixtures/surgery');
const SOURCE = join(DIR, 'kohya-lora.safetensors');
interface Expected {
  runs: Record<string, { modules: Record<string, { rank: number; alpha: number }> }>;
  sigma: Record<string, number[]>;
}
const expected = JSON.parse(readFileSync(join(DIR, 'kohya-expected.json'), 'utf8')) as Expected;
const tmp = mkdtempSync(join(tmpdir(), 'lora-lens-resize-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const RUNS: Record<string, RankRule> = {
  sv_fro: { kind: 'energy', energy: 0.9, maxRank: 16 },
  sv_ratio: { kind: 'ratio', ratio: 8, maxRank: 16 },
  rank4: { kind: 'rank', rank: 4 },
};

describe('resize against kohya resize_lora.py', () => {
  for (const [run, rule] of Object.entries(RUNS)) {
    it(`${run}: same ranks, singular values, alpha and ΔW as kohya`, async () => {
      const out = join(tmp, `${run}.safetensors`);
      const report = await resizeAdapter(SOURCE, out, { rule, kohya: true });
      const kohya = expected.runs[run]?.modules ?? {};
      assert.equal(report.modules.length, Object.keys(kohya).length);
      const ours = await deltasOf(out);
      const theirs = await deltasOf(join(DIR, `kohya-${run}.safetensors`));
      for (const m of report.modules) {
        const k = kohya[m.name];
        assert.ok(k, m.name);
        assert.equal(m.rankAfter, k.rank, `${m.name} rank`);
        assert.ok(
          Math.abs((m.alpha ?? NaN) - k.alpha) <= 1e-6 * Math.abs(k.alpha),
          `${m.name} alpha ${m.alpha} vs ${k.alpha}`,
        );
        // kohya's σ are of up@down (no scale); ours are of ΔW = scale·up@down.
        const scale = k.alpha / k.rank;
        const sigma = expected.sigma[m.name] ?? [];
        const smax = sigma[0] ?? 1;
        sigma.forEach((s, i) =>
          assert.ok(
            Math.abs((m.sigma[i] ?? 0) / scale - s) <= 1e-5 * smax,
            `${m.name} σ${i}: ${(m.sigma[i] ?? 0) / scale} vs ${s}`,
          ),
        );
        const a = ours.get(m.target);
        const b = theirs.get(m.target);
        assert.ok(a && b, m.target);
        assert.ok(relDiff(a.w, b.w) < 1e-5, `${m.name} ΔW differs by ${relDiff(a.w, b.w)}`);
      }
    });
  }

  it('without --kohya, energy keeps one rank less than kohya where kohya is not capped', async () => {
    const report = await resizeAdapter(SOURCE, join(tmp, 'minimal.safetensors'), {
      rule: RUNS.sv_fro as RankRule,
    });
    for (const m of report.modules) {
      const k = expected.runs.sv_fro?.modules[m.name]?.rank ?? 0;
      assert.equal(m.rankAfter, k - 1, m.name);
      assert.ok(m.retained >= 0.9, `${m.name} retained ${m.retained}`);
    }
  });

  it('leaves the source untouched and keeps kohya metadata', async () => {
    const before = readFileSync(SOURCE);
    const out = join(tmp, 'meta.safetensors');
    await resizeAdapter(SOURCE, out, { rule: { kind: 'rank', rank: 2 } });
    assert.deepEqual(readFileSync(SOURCE), before);
    const text = readFileSync(out)
      .subarray(8, 8 + Number(readFileSync(out).readBigUInt64LE(0)))
      .toString();
    const meta = (JSON.parse(text) as { __metadata__: Record<string, string> }).__metadata__;
    assert.equal(meta['ss_network_dim'], '2');
    assert.equal(meta['ss_base_model_version'], 'sd_v1');
    assert.equal(meta['lora_lens.operation'], 'resize');
  });
});
