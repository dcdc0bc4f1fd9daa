/**
 * compressed-tensors integer weights (llm-compressor) against the fixtures of
 * scripts/fixtures/quant/gptq_awq_ct.py: pack-quantized int4 g128, int-quantized int8 per channel,
 * standalone layouts (asymmetric, act-order, padding, tensor strategy, no config) and hostile cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { compressedTensorsScheme } from '../../../../src/core/formats/quant/compressedTensors.js';
import { checkCase, checkVariant, LAYER0_LINEARS, loadCases } from './context.js';

const FIX = 'test/fixtures/quant';

describe('compressed-tensors: quantized bases', () => {
  it('ct-int4-group128 (pack-quantized, symmetric)', () =>
    checkVariant(compressedTensorsScheme, {
      dir: `${FIX}/ct-int4-group128`,
      dtype: 'INT4',
      bits: 4,
      label: /^compressed-tensors int4 g128 \(pack-quantized, symmetric\)$/,
      parts: {
        weight_scale: 'weight_scale',
        weight_packed: 'weight_packed',
        weight_shape: 'weight_shape',
      },
      // 4-bit values, an F16 scale per 128, and the 16-byte weight_shape
      bitsPerWeight: (out, n) => 4 + 16 / 128 + 128 / (out * n),
    }));

  it('ct-int8-channel (int-quantized I8 weight, F16 scale and I8 zero point per row)', () =>
    checkVariant(compressedTensorsScheme, {
      dir: `${FIX}/ct-int8-channel`,
      dtype: 'INT8',
      bits: 8,
      label: /^compressed-tensors int8 per channel \(int-quantized, symmetric\)$/,
      parts: {
        weight_scale: 'weight_scale',
        weight: 'weight',
        weight_zero_point: 'weight_zero_point',
      },
      bitsPerWeight: (_out, n) => 8 + 24 / n,
    }));

  it('opens through openPath as logical weights (registered in QUANT_SCHEMES)', async () => {
    for (const dir of ['ct-int4-group128', 'ct-int8-channel']) {
      const cp = await openPath(`${FIX}/${dir}`);
      try {
        for (const [m, shape] of LAYER0_LINEARS) {
          const t = cp.tensor(`${m}.weight`);
          assert.equal(t.quant?.scheme, 'compressed-tensors', `${dir} ${m}`);
          assert.deepEqual(t.shape, shape);
        }
      } finally {
        await cp.close();
      }
    }
  });
});

describe('compressed-tensors: standalone and hostile cases', async () => {
  const dir = `${FIX}/ct-cases`;
  for (const c of await loadCases(dir)) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(compressedTensorsScheme, dir, c);
      if (c.case === 'weight-shape-mismatch')
        assert.match(message, /weight_shape \[16, 80\] of layer\.proj disagrees/);
      if (c.case === 'gidx-out-of-range')
        assert.match(message, /weight_g_idx\[7\] of layer\.proj is 4/);
      if (c.case === 'marlin-24') assert.match(message, /"marlin-24"/);
    });
  }
});
