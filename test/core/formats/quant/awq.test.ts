/**
 * AWQ (AutoAWQ GEMM layout) against the fixtures of scripts/fixtures/quant/gptq_awq_ct.py: the
 * quantized base (4-bit g128), standalone layouts and hostile cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { awqScheme } from '../../../../src/core/formats/quant/awq.js';
import { gptqScheme } from '../../../../src/core/formats/quant/gptq.js';
import {
  checkCase,
  checkVariant,
  LAYER0_LINEARS,
  loadCases,
  openVariant,
  quantContext,
} from './context.js';

const FIX = 'test/fixtures/quant';

describe('AWQ: quantized base', () => {
  it('awq-gemm-g128 (4-bit GEMM, zero point)', () =>
    checkVariant(awqScheme, {
      dir: `${FIX}/awq-gemm-g128`,
      dtype: 'AWQ_INT4',
      bits: 4,
      label: /^AWQ int4 g128 \(GEMM\)$/,
      parts: { qweight: 'qweight', qzeros: 'qzeros', scales: 'scales' },
      // 4-bit values, 4-bit zeros and F16 scales per group of 128
      bitsPerWeight: () => 4 + 20 / 128,
    }));

  it('GPTQ leaves AWQ modules alone, with or without a config', async () => {
    const { cp, config } = await openVariant(`${FIX}/awq-gemm-g128`);
    try {
      assert.deepEqual(await gptqScheme.recognise(quantContext(cp, config)), []);
      assert.deepEqual(await gptqScheme.recognise(quantContext(cp)), []);
      assert.equal((await awqScheme.recognise(quantContext(cp))).length, 7);
    } finally {
      await cp.close();
    }
  });

  it('opens through openPath as logical weights (registered in QUANT_SCHEMES)', async () => {
    const cp = await openPath(`${FIX}/awq-gemm-g128`);
    try {
      for (const [m, shape] of LAYER0_LINEARS) {
        const t = cp.tensor(`${m}.weight`);
        assert.equal(t.quant?.scheme, 'awq');
        assert.deepEqual(t.shape, shape);
      }
    } finally {
      await cp.close();
    }
  });
});

describe('AWQ: standalone and hostile cases', async () => {
  const dir = `${FIX}/awq-cases`;
  for (const c of await loadCases(dir)) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(awqScheme, dir, c);
      if (c.case === 'no-config') assert.match(message, /No quantization_config.*4-bit GEMM/);
      if (c.case === 'no-qzeros')
        assert.match(message, /layer\.proj\.qweight has no layer\.proj\.qzeros/);
      if (c.case === 'gemv') assert.match(message, /"gemv"/);
    });
  }
});
