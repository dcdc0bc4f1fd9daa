/**
 * GPTQ (AutoGPTQ / GPTQModel layout) against the fixtures of scripts/fixtures/quant/gptq_awq_ct.py:
 * quantized bases (v1 g128, v1 act-order g64, v2 8-bit), standalone layouts and hostile cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { gptqScheme } from '../../../../src/core/formats/quant/gptq.js';
import { isQuantizedCheckpoint } from '../../../../src/core/formats/quant/logicalView.js';
import { checkCase, checkVariant, LAYER0_LINEARS, loadCases } from './context.js';

const FIX = 'test/fixtures/quant';
const PARTS = { qweight: 'qweight', qzeros: 'qzeros', scales: 'scales', g_idx: 'g_idx' };

/** qweight + qzeros + F16 scales + I32 g_idx, in bits per weight. */
const gptqBits = (bits: number, gs: number) => (out: number, n: number) =>
  bits + ((bits + 16) * Math.ceil(n / gs)) / n + 32 / out;

describe('GPTQ: quantized bases', () => {
  it('gptq-v1-g128 (4-bit, desc_act false, sym)', () =>
    checkVariant(gptqScheme, {
      dir: `${FIX}/gptq-v1-g128`,
      dtype: 'GPTQ_INT4',
      bits: 4,
      label: /^GPTQ int4 g128 \(v1\)$/,
      parts: PARTS,
      bitsPerWeight: gptqBits(4, 128),
    }));

  it('gptq-v1-descact-g64 (4-bit, act-order permutation, asym)', () =>
    checkVariant(gptqScheme, {
      dir: `${FIX}/gptq-v1-descact-g64`,
      dtype: 'GPTQ_INT4',
      bits: 4,
      label: /^GPTQ int4 g64 \(v1, desc_act\)$/,
      parts: PARTS,
      bitsPerWeight: gptqBits(4, 64),
    }));

  it('gptq-v2-8bit (8-bit g128, asym, zeros as stored)', () =>
    checkVariant(gptqScheme, {
      dir: `${FIX}/gptq-v2-8bit`,
      dtype: 'GPTQ_INT8',
      bits: 8,
      label: /^GPTQ int8 g128 \(v2\)$/,
      parts: PARTS,
      bitsPerWeight: gptqBits(8, 128),
    }));

  it('q_proj of gptq-v1-g128 is 4.28125 bits per weight', () => {
    assert.equal(gptqBits(4, 128)(256, 256), 4.28125);
  });

  it('opens through openPath as logical weights (registered in QUANT_SCHEMES)', async () => {
    const cp = await openPath(`${FIX}/gptq-v1-g128`);
    try {
      assert.ok(isQuantizedCheckpoint(cp));
      for (const [m, shape] of LAYER0_LINEARS) {
        const t = cp.tensor(`${m}.weight`);
        assert.equal(t.quant?.scheme, 'gptq');
        assert.deepEqual(t.shape, shape);
      }
      assert.ok(!cp.tensors.some((t) => /\.(qweight|qzeros|scales|g_idx)$/.test(t.name)));
    } finally {
      await cp.close();
    }
  });
});

describe('GPTQ: standalone and hostile cases', async () => {
  const dir = `${FIX}/gptq-cases`;
  for (const c of await loadCases(dir)) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(gptqScheme, dir, c);
      if (c.case === 'no-config') assert.match(message, /No quantization_config.*v1/);
      if (c.case.startsWith('no-qzeros'))
        assert.match(message, /layer\.proj\.qweight has no layer\.proj\.qzeros/);
      if (c.case === 'gidx-out-of-range') assert.match(message, /g_idx\[5\] of layer\.proj is 2/);
      if (c.case === 'bits-3') assert.match(message, /3-bit/);
    });
  }
});
