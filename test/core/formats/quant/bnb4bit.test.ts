/**
 * bitsandbytes 4-bit (NF4 / FP4, double quant) against the fixtures of scripts/fixtures/quant/bnb_fp8.py:
 * the quantized bases, standalone layouts (odd element count, partial blocks, no config) and hostile
 * cases. References are the generator's vectorised torch dequantization of the saved parts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openCheckpointFile, openPath } from '../../../../src/core/formats/index.js';
import { bnb4bitScheme } from '../../../../src/core/formats/quant/bnb4bit.js';
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

const partsOf = (type: string, nested: boolean): Record<string, string> => ({
  weight: 'weight',
  absmax: 'weight.absmax',
  quant_map: 'weight.quant_map',
  quant_state: `weight.quant_state.bitsandbytes__${type}`,
  ...(nested
    ? { nested_absmax: 'weight.nested_absmax', nested_quant_map: 'weight.nested_quant_map' }
    : {}),
});

/** The quant_state JSON bitsandbytes writes without double quant (json.dumps spacing). */
const stateBytes = (type: string, out: number, n: number) =>
  `{"quant_type": "${type}", "blocksize": 64, "dtype": "float16", "shape": [${out}, ${n}]}`.length;

/** Packed codes + F32 absmax per 64 + the 16-entry code book + the quant_state bytes. */
const fourBits = (type: string) => (out: number, n: number) =>
  (((out * n) / 2 + 4 * ((out * n) / 64) + 64 + stateBytes(type, out, n)) * 8) / (out * n);

describe('bitsandbytes 4-bit: quantized bases', () => {
  for (const type of ['nf4', 'fp4']) {
    it(`bnb-${type}: 7 weights, ${type.toUpperCase()}, blocks of 64, every part claimed, equal to the reference`, () =>
      checkVariant(bnb4bitScheme, {
        dir: `${FIX}/bnb-${type}`,
        dtype: type.toUpperCase(),
        bits: 4,
        label: new RegExp(`^${type.toUpperCase()} blocks of 64$`),
        parts: partsOf(type, false),
        bitsPerWeight: fourBits(type),
      }));
  }

  it('q_proj of bnb-nf4 is 4.5 bits per weight plus its code book and quant_state', () => {
    assert.equal(fourBits('nf4')(256, 256), 4.5 + ((64 + 79) * 8) / 65536);
  });

  it('bnb-nf4-double: U8 absmax, nested absmax per 256 blocks; bits per weight per module', async () => {
    const dir = `${FIX}/bnb-nf4-double`;
    const { cp, config } = await openVariant(dir);
    const refCp = await openCheckpointFile(`${dir}/reference.safetensors`);
    try {
      const ctx = quantContext(cp, config);
      const weights = await bnb4bitScheme.recognise(ctx);
      assert.deepEqual(
        weights.map((w) => w.name).sort(),
        LAYER0_LINEARS.map(([m]) => `${m}.weight`).sort(),
      );
      const claimed = new Set<string>();
      for (const w of weights) {
        const m = w.name.slice(0, -'.weight'.length);
        const [out, n] = LAYER0_LINEARS.find(([x]) => x === m)?.[1] as readonly [number, number];
        assert.deepEqual(w.shape, [out, n]);
        assert.equal(w.quant.dtype, 'NF4');
        assert.equal(w.quant.bits, 4);
        assert.equal(w.quant.label, 'NF4 blocks of 64, double quant');
        assert.equal(w.quant.scaleDtype, 'F16');
        const expectedParts = Object.fromEntries(
          Object.entries(partsOf('nf4', true)).map(([r, s]) => [r, `${m}.${s}`]),
        );
        assert.deepEqual(
          Object.fromEntries(Object.entries(w.quant.parts).map(([r, t]) => [r, t.name])),
          expectedParts,
        );
        for (const t of Object.values(w.quant.parts)) claimed.add(t.name);
        const blocks = (out * n) / 64;
        const state = cp.tensor(`${m}.weight.quant_state.bitsandbytes__nf4`).byteLength;
        const bytes = (out * n) / 2 + blocks + 4 * Math.ceil(blocks / 256) + 4 * 256 + 64 + state;
        assert.equal(w.quant.bitsPerWeight, (bytes * 8) / (out * n), w.name);
        const ref = await readReference(refCp, w.name);
        await assertRowsMatch(w, ctx.read, ref, 0, out, 0);
        await assertRowsMatch(w, ctx.read, ref, 5, 7);
        await assertRowsMatch(w, ctx.read, ref, out - 3, 3);
        await assertRowsMatch(w, ctx.read, ref, 17, 1);
      }
      const left = cp.tensors.filter((t) => !claimed.has(t.name)).map((t) => t.name);
      assert.ok(
        left.every((x) => /(embed_tokens|lm_head|norm)/.test(x)),
        left.join(', '),
      );
    } finally {
      await refCp.close();
      await cp.close();
    }
  });

  it('is bit-exact for every variant, and recognised the same without a quantization_config', async () => {
    for (const v of ['bnb-nf4', 'bnb-nf4-double', 'bnb-fp4']) {
      const { cp, config } = await openVariant(`${FIX}/${v}`);
      const refCp = await openCheckpointFile(`${FIX}/${v}/reference.safetensors`);
      try {
        const withConfig = await bnb4bitScheme.recognise(quantContext(cp, config));
        const without = await bnb4bitScheme.recognise(quantContext(cp));
        const facts = (ws: typeof without) =>
          ws.map((w) => [w.name, w.quant.label, w.quant.bitsPerWeight]);
        assert.deepEqual(facts(without), facts(withConfig));
        const read = quantContext(cp).read;
        for (const w of withConfig) {
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

  it('reads only the blocks of the rows asked for', async () => {
    const { cp, config } = await openVariant(`${FIX}/bnb-nf4-double`);
    try {
      const ctx = quantContext(cp, config);
      const w = (await bnb4bitScheme.recognise(ctx)).find((x) =>
        x.name.endsWith('gate_proj.weight'),
      );
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
      await w.dequantizeRows(read, 300, 2, new Float32Array(2 * 256));
      // 256 packed bytes, 8 absmax codes, 1 nested absmax, the two code books.
      assert.equal(total, 256 + 8 + 4 + 16 * 4 + 256 * 4);
    } finally {
      await cp.close();
    }
  });

  it('opens through openPath as logical NF4 weights (registered in QUANT_SCHEMES)', async () => {
    const cp = await openPath(`${FIX}/bnb-nf4-double`);
    try {
      assert.ok(isQuantizedCheckpoint(cp));
      for (const [m, shape] of LAYER0_LINEARS) {
        const t = cp.tensor(`${m}.weight`);
        assert.equal(t.quant?.scheme, 'bnb-4bit');
        assert.equal(t.dtype, 'NF4');
        assert.deepEqual(t.shape, shape);
      }
      assert.ok(!cp.tensors.some((t) => /\.(absmax|quant_map|bitsandbytes__nf4)$/.test(t.name)));
    } finally {
      await cp.close();
    }
  });
});

describe('bitsandbytes 4-bit: standalone and hostile cases', async () => {
  const dir = `${FIX}/bnb-cases`;
  const cases = (await loadCases(dir)).filter(
    (c) => (c as unknown as { scheme: string }).scheme === 'bnb-4bit',
  );
  it('has its cases', () => assert.equal(cases.length, 8));
  const messages: Record<string, RegExp> = {
    'hostile-quant-state-not-json': /"m\.weight\.quant_state\.bitsandbytes__nf4" is not JSON/,
    'hostile-shape-mismatch': /"m\.weight" packs 256 codes .* shape \[4, 96\] has 384 elements/,
    'hostile-blocksize-mismatch':
      /"m\.weight\.absmax" is \[4\]; 256 elements in blocks of 48 need \[6\]/,
    'hostile-missing-absmax': /"m\.weight" .*"m\.weight\.absmax" \(the block scales\) is missing/,
    'hostile-missing-nested-absmax':
      /"m\.weight\.nested_absmax" \(the double-quant scales\) is missing/,
    'hostile-unknown-quant-type': /quant type "int2"/,
  };
  for (const c of cases) {
    const what = c.expect === 'valid' ? 'valid' : `${c.expect.code} in ${c.expect.phase}`;
    it(`${c.case}: ${c.note} → ${what}`, async () => {
      const message = await checkCase(bnb4bitScheme, dir, c);
      const want = messages[c.case];
      if (want) assert.match(message, want);
    });
  }
});
