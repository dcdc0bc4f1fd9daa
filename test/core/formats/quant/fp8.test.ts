/**
 * FP8 weights with scales against the fixtures of scripts/fixtures/quant/bnb_fp8.py: per-tensor and
 * per-channel (compressed-tensors float-quantized) and 128×128 blocks (transformers "fp8", DeepSeek-V3)
 * bases, standalone layouts (partial blocks, E5M2 with BF16 scales, UE8M0 scale_inv, groups) and hostile
 * cases. The block reference is transformers' own Fp8Dequantize; the others the generator's torch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openCheckpointFile, openPath } from '../../../../src/core/formats/index.js';
import { fp8Scheme } from '../../../../src/core/formats/quant/fp8.js';
import { isQuantizedCheckpoint } from '../../../../src/core/formats/quant/logicalView.js';
import type { PartReader } from '../../../../src/core/formats/quant/types.js';
import {
  assertRowsMatch,
  checkCase,
  checkVariant,
  LAYER0_LINEARS,
  loadCases,
  openVariant,
  quantContext,
  readReference,
} from './context.js';

const FIX = 'test/fixtures/quant';
const VARIANTS = ['fp8-tensor', 'fp8-channel', 'fp8-block128'];

/** FP8 bytes + F32 scales (and the F32 input_scale of the static per-tensor variant). */
const bits = (scales: (out: number, n: number) => number) => (out: number, n: number) =>
  ((out * n + 4 * scales(out, n)) * 8) / (out * n);

describe('FP8: quantized bases', () => {
  it('fp8-tensor: per-tensor weight_scale [1] and input_scale [1]', () =>
    checkVariant(fp8Scheme, {
      dir: `${FIX}/fp8-tensor`,
      dtype: 'F8_E4M3',
      bits: 8,
      label: /^F8_E4M3 per-tensor scale$/,
      parts: { weight: 'weight', weight_scale: 'weight_scale', input_scale: 'input_scale' },
      bitsPerWeight: bits(() => 2),
    }));

  it('fp8-channel: per-channel weight_scale [out, 1]', () =>
    checkVariant(fp8Scheme, {
      dir: `${FIX}/fp8-channel`,
      dtype: 'F8_E4M3',
      bits: 8,
      label: /^F8_E4M3 per-channel scale$/,
      parts: { weight: 'weight', weight_scale: 'weight_scale' },
      bitsPerWeight: bits((out) => out),
    }));

  it('fp8-block128: weight_scale_inv [out/128, in/128]', () =>
    checkVariant(fp8Scheme, {
      dir: `${FIX}/fp8-block128`,
      dtype: 'F8_E4M3',
      bits: 8,
      label: /^F8_E4M3 blocks of 128×128$/,
      parts: { weight: 'weight', weight_scale_inv: 'weight_scale_inv' },
      bitsPerWeight: bits((out, n) => Math.ceil(out / 128) * Math.ceil(n / 128)),
    }));

  it('q_proj of fp8-block128 is 8.001953125 bits per weight', () => {
    assert.equal(
      bits((out, n) => Math.ceil(out / 128) * Math.ceil(n / 128))(256, 256),
      8 + 1 / 512,
    );
  });

  it('is bit-exact for every variant, and recognised the same without a quantization_config', async () => {
    for (const v of VARIANTS) {
      const { cp, config } = await openVariant(`${FIX}/${v}`);
      const refCp = await openCheckpointFile(`${FIX}/${v}/reference.safetensors`);
      try {
        const withConfig = await fp8Scheme.recognise(quantContext(cp, config));
        const without = await fp8Scheme.recognise(quantContext(cp));
        const facts = (ws: typeof without) =>
          ws.map((w) => [w.name, w.quant.label, w.quant.bitsPerWeight, w.quant.scaleDtype]);
        assert.deepEqual(facts(without), facts(withConfig));
        const read = quantContext(cp).read;
        for (const w of withConfig) {
          assert.equal(w.quant.scaleDtype, 'F32');
          await assertRowsMatch(
            w,
            read,
            await readReference(refCp, w.name),
            0,
            w.shape[0] as number,
            0,
          );
        }
      } finally {
        await refCp.close();
        await cp.close();
      }
    }
  });

  it('reads only the rows and the scale row of the blocks asked for', async () => {
    const { cp, config } = await openVariant(`${FIX}/fp8-block128`);
    try {
      const ctx = quantContext(cp, config);
      const w = (await fp8Scheme.recognise(ctx)).find((x) => x.name.endsWith('down_proj.weight'));
      assert.ok(w);
      let total = 0;
      const read: PartReader = {
        elements: async (t, r) => {
          const b = await ctx.read.elements(t, r);
          total += b.byteLength;
          return b;
        },
        bytes: ctx.read.bytes,
      };
      await w.dequantizeRows(read, 126, 4, new Float32Array(4 * 512));
      // 4 rows of 512 FP8 bytes; they straddle block rows 0 and 1: 2 × 4 F32 scales.
      assert.equal(total, 4 * 512 + 2 * 4 * 4);
    } finally {
      await cp.close();
    }
  });

  it('leaves a bare FP8 weight without a scale alone (a plain float dtype)', async () => {
    const cp = await openCheckpointFile(`${FIX}/adapter-fp8/adapter_model.safetensors`);
    try {
      assert.ok(cp.tensors.some((t) => t.dtype === 'F8_E4M3'));
      assert.deepEqual(await fp8Scheme.recognise(quantContext(cp)), []);
    } finally {
      await cp.close();
    }
  });

  it('opens through openPath as logical FP8 weights (registered in QUANT_SCHEMES)', async () => {
    for (const v of VARIANTS) {
      const cp = await openPath(`${FIX}/${v}`);
      try {
        assert.ok(isQuantizedCheckpoint(cp), v);
        for (const [m, shape] of LAYER0_LINEARS) {
          const t = cp.tensor(`${m}.weight`);
          assert.equal(t.quant?.scheme, 'fp8', `${v} ${m}`);
          assert.deepEqual(t.shape, shape);
        }
        assert.ok(
          !cp.tensors.some((t) => /\.(weight_scale|weight_scale_inv|input_scale)$/.test(t.name)),
        );
      } finally {
        await cp.close();
      }
    }
  });
});

describe('FP8: standalone and hostile cases', async () => {
  const dir = `${FIX}/fp8-cases`;
  const cases = await loadCases(dir);
  it('has its cases', () => assert.equal(cases.length, 10));
  const messages: Record<string, RegExp> = {
    'block-odd': /weight_scale_inv F32 \[2, 3\], one per 128×128 tile/,
    'channel-e5m2-bf16': /^F8_E5M2 \[64, 96\].*weight_scale BF16 \[64, 1\], one per 1×96 tile/,
    'tensor-scale-inv-scalar': /weight_scale_inv F32 \[\], one per 32×64 tile/,
    'block-e8m0': /weight_scale_inv F8_E8M0 \[2, 1\]/,
    'ct-block64': /one per 64×64 tile/,
    'ct-group16': /one per 1×16 tile/,
    'hostile-scale-inv-grid':
      /"blk\.weight_scale_inv" is \[2, 2\].*\[2, 3\] grid of 128×128 blocks of blk\.weight/,
    'hostile-scale-shape': /"s\.weight_scale" is \[16, 3\]/,
    'hostile-zero-point': /"z\.weight_zero_point": asymmetric FP8/,
  };
  for (const c of cases) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(fp8Scheme, dir, c);
      const want = messages[c.case];
      if (want) assert.match(message, want);
    });
  }
});
