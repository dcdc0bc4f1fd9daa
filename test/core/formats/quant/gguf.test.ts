/**
 * GGUF block tensors against the fixtures of scripts/fixtures/quant/gguf.py: the base as llama.cpp lays
 * it out in Q4_0, Q8_0, Q4_K and a file mixing the other seven supported types, raw blocks of random
 * bytes with extreme scales, unsupported types and non-finite scales. Every reference is gguf-py's own
 * gguf.quants.dequantize, and every supported type must equal it bit for bit.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Checkpoint, TensorInfo } from '../../../../src/core/formats/checkpoint.js';
import { openCheckpointFile, openPath } from '../../../../src/core/formats/index.js';
import { ggufScheme } from '../../../../src/core/formats/quant/gguf/scheme.js';
import { readFloatTensor } from '../../../../src/core/formats/quant/readFloat.js';
import type { PartReader, QuantizedWeight } from '../../../../src/core/formats/quant/types.js';
import { quantContext, readReference, rejectsWithCode } from './context.js';

const FIX = 'test/fixtures/quant';
const CASES = `${FIX}/gguf-cases`;

/** ggml type → [bits of a value, type size × 8 / block size]. */
const TYPES: Readonly<Record<string, readonly [number, number]>> = {
  Q4_0: [4, 4.5],
  Q4_1: [4, 5],
  Q5_0: [5, 5.5],
  Q5_1: [5, 6],
  Q8_0: [8, 8.5],
  Q2_K: [2, 2.625],
  Q3_K: [3, 3.4375],
  Q4_K: [4, 4.5],
  Q5_K: [5, 5.5],
  Q6_K: [6, 6.5625],
};

/** The 7 linear weights of blk.0 with their [out, in]. */
const LINEARS: readonly (readonly [string, readonly [number, number]])[] = [
  ['blk.0.attn_q.weight', [256, 256]],
  ['blk.0.attn_k.weight', [128, 256]],
  ['blk.0.attn_v.weight', [128, 256]],
  ['blk.0.attn_output.weight', [256, 256]],
  ['blk.0.ffn_gate.weight', [512, 256]],
  ['blk.0.ffn_up.weight', [512, 256]],
  ['blk.0.ffn_down.weight', [256, 512]],
];

const MIXED: Readonly<Record<string, string>> = {
  'blk.0.attn_q.weight': 'Q4_1',
  'blk.0.attn_k.weight': 'Q5_0',
  'blk.0.attn_v.weight': 'Q5_1',
  'blk.0.attn_output.weight': 'Q2_K',
  'blk.0.ffn_gate.weight': 'Q3_K',
  'blk.0.ffn_up.weight': 'Q5_K',
  'blk.0.ffn_down.weight': 'Q6_K',
};

const uniform = (type: string) => Object.fromEntries(LINEARS.map(([n]) => [n, type]));
const VARIANTS: readonly (readonly [string, Readonly<Record<string, string>>])[] = [
  ['gguf-q4_0', uniform('Q4_0')],
  ['gguf-q8_0', uniform('Q8_0')],
  ['gguf-q4_k', uniform('Q4_K')],
  ['gguf-mixed', MIXED],
];

async function withFiles<T>(
  paths: readonly string[],
  f: (...cps: Checkpoint[]) => Promise<T>,
): Promise<T> {
  const cps: Checkpoint[] = [];
  try {
    for (const p of paths) cps.push(await openCheckpointFile(p));
    return await f(...cps);
  } finally {
    for (const cp of cps) await cp.close();
  }
}

function byName(ws: readonly QuantizedWeight[], name: string): QuantizedWeight {
  const w = ws.find((x) => x.name === name);
  assert.ok(w, `${name} not recognised`);
  return w;
}

/**
 * Rows [start, start + count) of the [shape[0], rest] matrix equal the reference bit for bit (context.ts's
 * assertRowsMatch takes shape[1] as the row length, which vectors and 3-D stacks do not have).
 */
async function assertRowsExact(
  w: QuantizedWeight,
  read: PartReader,
  ref: Float32Array,
  start: number,
  count: number,
): Promise<void> {
  const cols = w.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * cols);
  await w.dequantizeRows(read, start, count, out);
  for (let k = 0; k < out.length; k++) {
    if (!Object.is(out[k], ref[start * cols + k])) {
      assert.fail(
        `${w.name} rows ${start}+${count}: element ${start * cols + k} is ${out[k]}, gguf-py says ${ref[start * cols + k]}`,
      );
    }
  }
}

/** All rows, a few ranges (start > 0, odd counts, the last rows) and an empty one, bit-exact. */
async function assertAllRanges(w: QuantizedWeight, read: PartReader, ref: Float32Array) {
  const rows = w.shape[0] as number;
  await assertRowsExact(w, read, ref, 0, rows);
  const from = Math.min(5, rows - 1);
  await assertRowsExact(w, read, ref, from, Math.min(7, rows - from));
  await assertRowsExact(w, read, ref, rows - Math.min(3, rows), Math.min(3, rows));
  await assertRowsExact(w, read, ref, Math.floor(rows / 2), 1);
  await assertRowsExact(w, read, ref, 0, 0);
}

function countingReader(read: PartReader): { read: PartReader; bytes: () => number } {
  let total = 0;
  const count = (b: Uint8Array) => {
    total += b.byteLength;
    return b;
  };
  return {
    read: {
      elements: async (t, r) => count(await read.elements(t, r)),
      bytes: async (t, o, l) => count(await read.bytes(t, o, l)),
    },
    bytes: () => total,
  };
}

describe('GGUF: llama.cpp-shaped quantized bases', () => {
  for (const [dir, types] of VARIANTS) {
    it(`${dir}: the 7 linear weights, their facts, bit-exact with gguf-py`, () =>
      withFiles(
        [`${FIX}/${dir}/model.gguf`, `${FIX}/${dir}/reference.safetensors`],
        async (cp, refCp) => {
          const ctx = quantContext(cp);
          const ws = await ggufScheme.recognise(ctx);
          assert.deepEqual(ws.map((w) => w.name).sort(), LINEARS.map(([n]) => n).sort());
          for (const [name, shape] of LINEARS) {
            const w = byName(ws, name);
            const type = types[name] as string;
            const [bits, bpw] = TYPES[type] as [number, number];
            assert.deepEqual(w.shape, shape, name);
            assert.equal(w.quant.scheme, 'gguf');
            assert.equal(w.quant.dtype, type, name);
            assert.equal(w.quant.label, type, name);
            assert.equal(w.quant.bits, bits, name);
            assert.equal(w.quant.bitsPerWeight, bpw, name);
            assert.equal(w.quant.scaleDtype, 'F16', name);
            assert.deepEqual(Object.keys(w.quant.parts), ['data']);
            assert.equal(w.quant.parts.data, cp.tensor(name));
            assert.match(
              w.quant.layout,
              new RegExp(`^${type} blocks of \\d+ weights in \\d+ bytes`),
            );
            await assertAllRanges(w, ctx.read, await readReference(refCp, name));
          }
          // Nothing float is claimed: norms F32, token_embd and output F16.
          const left = cp.tensors.filter((t) => !ws.some((w) => w.name === t.name));
          assert.deepEqual(left.map((t) => `${t.name}:${t.dtype}`).sort(), [
            'blk.0.attn_norm.weight:F32',
            'blk.0.ffn_norm.weight:F32',
            'output.weight:F16',
            'output_norm.weight:F32',
            'token_embd.weight:F16',
          ]);
        },
      ));
  }

  it('is the logical view openPath gives: the registered scheme reads the same floats', async () => {
    const cp = await openPath(`${FIX}/gguf-mixed/model.gguf`);
    try {
      await withFiles([`${FIX}/gguf-mixed/reference.safetensors`], async (refCp) => {
        for (const [name] of LINEARS) {
          const t = cp.tensor(name);
          assert.equal(t.quant?.scheme, 'gguf', name);
          assert.deepEqual(await readFloatTensor(cp, t), await readReference(refCp, name));
        }
      });
      assert.equal(cp.tensor('token_embd.weight').quant, undefined);
    } finally {
      await cp.close();
    }
  });

  it('reads only the blocks of the rows asked for', () =>
    withFiles([`${FIX}/gguf-q4_k/model.gguf`], async (cp) => {
      const ctx = quantContext(cp);
      const w = byName(await ggufScheme.recognise(ctx), 'blk.0.ffn_down.weight');
      const counter = countingReader(ctx.read);
      await w.dequantizeRows(counter.read, 100, 3, new Float32Array(3 * 512));
      assert.equal(counter.bytes(), 3 * (512 / 256) * 144);
    }));

  it('refuses rows outside the weight and a wrongly sized output, by name', () =>
    withFiles([`${FIX}/gguf-q8_0/model.gguf`], async (cp) => {
      const ctx = quantContext(cp);
      const w = byName(await ggufScheme.recognise(ctx), 'blk.0.attn_k.weight');
      const e = await rejectsWithCode(
        w.dequantizeRows(ctx.read, 127, 2, new Float32Array(512)),
        'InvalidRange',
      );
      assert.match(e.message, /blk\.0\.attn_k\.weight/);
      await rejectsWithCode(
        w.dequantizeRows(ctx.read, 0, 1, new Float32Array(255)),
        'InternalError',
      );
    }));
});

describe('GGUF: block cases', () => {
  it('every supported type: random blocks, zero and all-ones blocks, ±max and subnormal scales', () =>
    withFiles(
      [`${CASES}/blocks.gguf`, `${CASES}/blocks.reference.safetensors`],
      async (cp, refCp) => {
        const ctx = quantContext(cp);
        const ws = await ggufScheme.recognise(ctx);
        assert.deepEqual(ws.map((w) => w.name).sort(), refCp.tensors.map((t) => t.name).sort());
        for (const type of Object.keys(TYPES)) {
          const w = byName(ws, `${type.toLowerCase()}.random`);
          assert.deepEqual(w.shape, [8, 512]);
          assert.equal(w.quant.dtype, type);
          const ref = await readReference(refCp, w.name);
          await assertAllRanges(w, ctx.read, ref);
          // Row 0 is all-zero blocks.
          assert.ok(
            ref.subarray(0, 512).every((v) => v === 0),
            type,
          );
        }
      },
    ));

  it('a vector (rows of one element, partial blocks) and a 3-D expert stack', () =>
    withFiles(
      [`${CASES}/blocks.gguf`, `${CASES}/blocks.reference.safetensors`],
      async (cp, refCp) => {
        const ctx = quantContext(cp);
        const ws = await ggufScheme.recognise(ctx);
        for (const name of ['q8_0.vector', 'q2_k.vector']) {
          const w = byName(ws, name);
          assert.deepEqual(w.shape, [512]);
          const ref = await readReference(refCp, name);
          for (const [start, count] of [
            [0, 512],
            [5, 7],
            [30, 40],
            [255, 2],
            [511, 1],
            [0, 0],
          ] as const) {
            await assertRowsExact(w, ctx.read, ref, start, count);
          }
        }
        const experts = byName(ws, 'q4_k.experts');
        assert.deepEqual(experts.shape, [2, 3, 256]);
        await assertAllRanges(experts, ctx.read, await readReference(refCp, 'q4_k.experts'));
      },
    ));

  it('does not claim F32, F16 or BF16 tensors, nor anything outside a GGUF', () =>
    withFiles([`${CASES}/blocks.gguf`], async (cp) => {
      const ctx = quantContext(cp);
      const claimed = new Set((await ggufScheme.recognise(ctx)).map((w) => w.name));
      for (const name of ['plain.f32', 'plain.f16', 'plain.bf16']) {
        assert.ok(cp.tensor(name), name);
        assert.ok(!claimed.has(name), name);
      }
      assert.deepEqual(await ggufScheme.recognise({ ...ctx, format: 'safetensors' }), []);
    }));

  it('refuses a block tensor whose size disagrees with its shape', async () => {
    const t: TensorInfo = {
      name: 'blk.0.attn_q.weight',
      dtype: 'Q4_K',
      shape: [2, 256],
      offset: 0,
      byteLength: 144,
      parameterCount: 512,
    };
    const ctx = { tensors: [t], byName: new Map([[t.name, t]]), metadata: {}, format: 'gguf' };
    const read: PartReader = {
      elements: () => Promise.reject(new Error('no')),
      bytes: () => Promise.reject(new Error('no')),
    };
    const e = await rejectsWithCode(ggufScheme.recognise({ ...ctx, read }), 'InvalidQuantization');
    assert.match(e.message, /blk\.0\.attn_q\.weight.*288 bytes/);
    const ragged = { ...t, shape: [2, 200], parameterCount: 400 };
    await rejectsWithCode(
      ggufScheme.recognise({ ...ctx, tensors: [ragged], read }),
      'InvalidQuantization',
    );
  });
});

describe('GGUF: types it does not dequantize, and non-finite scales', () => {
  it('IQ2_XXS and Q8_K are quantized weights that refuse to be read, naming the supported types', () =>
    withFiles([`${CASES}/unsupported.gguf`], async (cp) => {
      const ctx = quantContext(cp);
      const ws = await ggufScheme.recognise(ctx);
      assert.deepEqual(ws.map((w) => w.name).sort(), ['iq2_xxs.weight', 'q8_k.weight']);
      const facts = {
        'iq2_xxs.weight': ['IQ2_XXS', 2, (66 * 8) / 256],
        'q8_k.weight': ['Q8_K', 8, (292 * 8) / 256],
      };
      for (const w of ws) {
        const [type, bits, bpw] = facts[w.name as keyof typeof facts];
        assert.equal(w.quant.dtype, type);
        assert.equal(w.quant.label, `${type} (not dequantized)`);
        assert.equal(w.quant.bits, bits);
        assert.equal(w.quant.bitsPerWeight, bpw);
        assert.deepEqual(w.shape, [2, 256]);
        const e = await rejectsWithCode(
          w.dequantizeRows(ctx.read, 0, 1, new Float32Array(256)),
          'UnsupportedQuantization',
        );
        assert.match(e.message, new RegExp(`"${w.name}" is ${type}`));
        assert.match(e.message, /Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K/);
        assert.equal(e.subject, w.name);
      }
    }));

  it('a NaN or infinite F16 scale is InvalidQuantization for the rows that hold it, naming the tensor', async () => {
    const cases = JSON.parse(await readFile(`${CASES}/hostile.json`, 'utf8')) as {
      tensor: string;
      type: string;
      bad_row: number;
      rows: number;
      expect: 'InvalidQuantization';
    }[];
    assert.ok(cases.length >= 5);
    await withFiles([`${CASES}/hostile.gguf`], async (cp) => {
      const ctx = quantContext(cp);
      const ws = await ggufScheme.recognise(ctx);
      for (const c of cases) {
        const w = byName(ws, c.tensor);
        assert.equal(w.quant.dtype, c.type);
        const cols = w.shape[1] as number;
        for (const [start, count] of [
          [c.bad_row, 1],
          [0, c.rows],
        ] as const) {
          const e = await rejectsWithCode(
            w.dequantizeRows(ctx.read, start, count, new Float32Array(count * cols)),
            c.expect,
          );
          assert.match(
            e.message,
            new RegExp(`"${c.tensor.replace('.', '\\.')}".*row ${c.bad_row}.*NaN or infinite`),
          );
        }
        // The other rows are fine.
        for (let r = 0; r < c.rows; r++) {
          if (r === c.bad_row) continue;
          const out = new Float32Array(cols);
          await w.dequantizeRows(ctx.read, r, 1, out);
          assert.ok(out.every(Number.isFinite), `${c.tensor} row ${r}`);
        }
      }
    });
  });
});
