/**
 * bitsandbytes LLM.int8 against the fixtures of scripts/fixtures/quant/bnb_fp8.py: the quantized base
 * (weight I8 + SCB + weight_format), a standalone odd shape without weight_format or config, and hostile
 * cases. The references are the generator's torch dequantization (q · SCB · float32(1/127)).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openCheckpointFile, openPath } from '../../../../src/core/formats/index.js';
import { bnbInt8Scheme } from '../../../../src/core/formats/quant/bnbInt8.js';
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
const VARIANT = `${FIX}/bnb-int8`;

/** I8 weight + F32 SCB per row + one U8 weight_format byte. */
const int8Bits = (out: number, n: number) => ((out * n + 4 * out + 1) * 8) / (out * n);

function countingReader(read: PartReader): { read: PartReader; bytes: () => number } {
  let total = 0;
  return {
    read: {
      elements: async (t, r) => {
        const b = await read.elements(t, r);
        total += b.byteLength;
        return b;
      },
      bytes: async (t, o, l) => {
        const b = await read.bytes(t, o, l);
        total += b.byteLength;
        return b;
      },
    },
    bytes: () => total,
  };
}

describe('bitsandbytes LLM.int8: quantized base', () => {
  it('bnb-int8: 7 weights, INT8, 8 bits, every part claimed, equal to the reference', () =>
    checkVariant(bnbInt8Scheme, {
      dir: VARIANT,
      dtype: 'INT8',
      bits: 8,
      label: /^LLM\.int8 row-wise absmax$/,
      parts: { weight: 'weight', SCB: 'SCB', weight_format: 'weight_format' },
      bitsPerWeight: int8Bits,
    }));

  it('q_proj is 8.1251… bits per weight', () => {
    assert.equal(int8Bits(256, 256), 8 + 1 / 8 + 1 / 8192);
  });

  it('is bit-exact, and recognised the same without a quantization_config', async () => {
    const { cp, config } = await openVariant(VARIANT);
    const refCp = await openCheckpointFile(`${VARIANT}/reference.safetensors`);
    try {
      const withConfig = await bnbInt8Scheme.recognise(quantContext(cp, config));
      const without = await bnbInt8Scheme.recognise(quantContext(cp));
      assert.deepEqual(
        without.map((w) => [w.name, w.quant.label, w.quant.bitsPerWeight]),
        withConfig.map((w) => [w.name, w.quant.label, w.quant.bitsPerWeight]),
      );
      const read = quantContext(cp).read;
      for (const w of withConfig) {
        const ref = await readReference(refCp, w.name);
        await assertRowsMatch(w, read, ref, 0, w.shape[0] as number, 0);
      }
    } finally {
      await refCp.close();
      await cp.close();
    }
  });

  it('reads only the rows asked for', async () => {
    const { cp, config } = await openVariant(VARIANT);
    try {
      const ctx = quantContext(cp, config);
      const w = (await bnbInt8Scheme.recognise(ctx)).find((x) =>
        x.name.endsWith('down_proj.weight'),
      );
      assert.ok(w);
      const counter = countingReader(ctx.read);
      await w.dequantizeRows(counter.read, 100, 2, new Float32Array(2 * 512));
      assert.equal(counter.bytes(), 2 * 512 + 2 * 4);
    } finally {
      await cp.close();
    }
  });

  it('refuses rows outside the weight by name', async () => {
    const { cp, config } = await openVariant(VARIANT);
    try {
      const ctx = quantContext(cp, config);
      const [w] = await bnbInt8Scheme.recognise(ctx);
      assert.ok(w);
      const rows = w.shape[0] as number;
      await assert.rejects(
        w.dequantizeRows(ctx.read, rows - 1, 2, new Float32Array(2 * (w.shape[1] as number))),
        { code: 'InvalidRange' },
      );
    } finally {
      await cp.close();
    }
  });

  it('opens through openPath as logical INT8 weights (registered in QUANT_SCHEMES)', async () => {
    const cp = await openPath(VARIANT);
    try {
      assert.ok(isQuantizedCheckpoint(cp));
      for (const [m, shape] of LAYER0_LINEARS) {
        const t = cp.tensor(`${m}.weight`);
        assert.equal(t.quant?.scheme, 'bnb-int8');
        assert.equal(t.dtype, 'INT8');
        assert.deepEqual(t.shape, shape);
      }
      assert.ok(!cp.tensors.some((t) => /\.(SCB|weight_format)$/.test(t.name)));
    } finally {
      await cp.close();
    }
  });
});

describe('bitsandbytes LLM.int8: standalone and hostile cases', async () => {
  const dir = `${FIX}/bnb-cases`;
  const cases = (await loadCases(dir)).filter(
    (c) => (c as unknown as { scheme: string }).scheme === 'bnb-int8',
  );
  it('has its cases', () => assert.equal(cases.length, 3));
  for (const c of cases) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(bnbInt8Scheme, dir, c);
      if (c.case === 'hostile-weight-format-1') assert.match(message, /i\.weight_format.*col32/);
      if (c.case === 'hostile-scb-shape') assert.match(message, /"i\.SCB" is F32 \[3\].*\[4\]/);
    });
  }
});
