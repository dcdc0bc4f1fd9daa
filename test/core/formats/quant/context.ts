/**
 * Test helpers for quantization schemes: a QuantContext over a stored checkpoint (the small adapter the
 * production wrapper also builds), fixture cases, and comparison with a generator's reference.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CheckpointError,
  openCheckpointFile,
  type Checkpoint,
  type PlainValue,
  type ReaderErrorCode,
} from '../../../../src/core/formats/index.js';
import { toFloat32 } from '../../../../src/core/formats/floatDecode.js';
import type {
  PartReader,
  QuantContext,
  QuantizedWeight,
  QuantScheme,
} from '../../../../src/core/formats/quant/types.js';

export type QuantConfig = Readonly<Record<string, PlainValue>>;

export function partReaderOf(cp: Checkpoint): PartReader {
  return {
    elements: (t, r) => cp.readTensorBytes(t, r),
    bytes: async (t, off, len) => (await cp.readTensorBytes(t)).subarray(off, off + len),
  };
}

export function quantContext(
  cp: Checkpoint,
  quantizationConfig?: QuantConfig | null,
): QuantContext {
  return {
    tensors: cp.tensors,
    byName: new Map(cp.tensors.map((t) => [t.name, t])),
    ...(quantizationConfig ? { quantizationConfig } : {}),
    metadata: cp.metadata,
    format: cp.format,
    read: partReaderOf(cp),
  };
}

/** The stored checkpoint (parts, not the logical view) and its config.json's quantization_config. */
export async function openVariant(
  dir: string,
): Promise<{ cp: Checkpoint; config: QuantConfig | undefined }> {
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
    quantization_config?: QuantConfig;
  };
  return {
    cp: await openCheckpointFile(join(dir, 'model.safetensors')),
    config: config.quantization_config,
  };
}

export interface FixtureCase {
  readonly case: string;
  readonly quantization_config: QuantConfig | null;
  readonly expect: 'valid' | { code: ReaderErrorCode; phase: 'recognise' | 'dequantize' };
  readonly note: string;
}

export async function loadCases(dir: string): Promise<FixtureCase[]> {
  return JSON.parse(await readFile(join(dir, 'cases.json'), 'utf8')) as FixtureCase[];
}

export async function readReference(cp: Checkpoint, name: string): Promise<Float32Array> {
  const t = cp.tensor(name);
  assert.equal(t.dtype, 'F32', `${name} in the reference`);
  return toFloat32((await cp.readTensorBytes(t)).slice(), 'F32');
}

/** Dequantizes rows [start, start + count) and compares them with the reference within `tol`. */
export async function assertRowsMatch(
  w: QuantizedWeight,
  read: PartReader,
  ref: Float32Array,
  start: number,
  count: number,
  tol = 1e-6,
): Promise<void> {
  const cols = w.shape[1] as number;
  const out = new Float32Array(count * cols);
  await w.dequantizeRows(read, start, count, out);
  let worst = 0;
  let at = -1;
  for (let k = 0; k < out.length; k++) {
    const d = Math.abs((out[k] as number) - (ref[start * cols + k] as number));
    if (!(d <= worst)) {
      worst = d;
      at = k;
    }
  }
  assert.ok(
    worst <= tol,
    `${w.name} rows ${start}+${count}: |Δ| ${worst} at row ${start + Math.floor(at / cols)}, col ${at % cols} (got ${out[at]}, reference ${ref[start * cols + at]})`,
  );
}

export async function rejectsWithCode(
  p: Promise<unknown>,
  code: ReaderErrorCode,
): Promise<CheckpointError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/**
 * Runs every case of a `<scheme>-cases` folder: valid ones equal their reference (all rows and an odd
 * range), hostile ones raise their code in their phase. Returns the layout sentence or the error message.
 */
export async function checkCase(scheme: QuantScheme, dir: string, c: FixtureCase): Promise<string> {
  const cp = await openCheckpointFile(join(dir, `${c.case}.safetensors`));
  try {
    const ctx = quantContext(cp, c.quantization_config);
    if (c.expect === 'valid') {
      const ws = await scheme.recognise(ctx);
      assert.equal(ws.length, 1, c.case);
      const w = ws[0] as QuantizedWeight;
      const refCp = await openCheckpointFile(join(dir, `${c.case}.reference.safetensors`));
      try {
        const ref = await readReference(refCp, w.name);
        assert.deepEqual(w.shape, refCp.tensor(w.name).shape);
        const rows = w.shape[0] as number;
        await assertRowsMatch(w, ctx.read, ref, 0, rows);
        await assertRowsMatch(w, ctx.read, ref, 1, Math.min(3, rows - 1));
        await assertRowsMatch(w, ctx.read, ref, rows - 1, 1);
        await assertRowsMatch(w, ctx.read, ref, 0, 0);
      } finally {
        await refCp.close();
      }
      return w.quant.layout;
    }
    const { code, phase } = c.expect;
    if (phase === 'recognise') return (await rejectsWithCode(scheme.recognise(ctx), code)).message;
    const ws = await scheme.recognise(ctx);
    assert.equal(ws.length, 1, c.case);
    const w = ws[0] as QuantizedWeight;
    const rows = w.shape[0] as number;
    const out = new Float32Array(rows * (w.shape[1] as number));
    return (await rejectsWithCode(w.dequantizeRows(ctx.read, 0, rows, out), code)).message;
  } finally {
    await cp.close();
  }
}

/** The 7 Linear weights of the quantized fixtures' layer 0, with their logical [out, in]. */
export const LAYER0_LINEARS: readonly [string, readonly [number, number]][] = [
  ['model.layers.0.self_attn.q_proj', [256, 256]],
  ['model.layers.0.self_attn.k_proj', [128, 256]],
  ['model.layers.0.self_attn.v_proj', [128, 256]],
  ['model.layers.0.self_attn.o_proj', [256, 256]],
  ['model.layers.0.mlp.gate_proj', [512, 256]],
  ['model.layers.0.mlp.up_proj', [512, 256]],
  ['model.layers.0.mlp.down_proj', [256, 512]],
];

export interface VariantSpec {
  readonly dir: string;
  readonly dtype: string;
  readonly bits: number;
  readonly label: RegExp;
  /** Part roles and their stored name suffix (role → `<m>.<suffix>`). */
  readonly parts: Readonly<Record<string, string>>;
  /** Expected storage bits per weight from the layout's own arithmetic. */
  readonly bitsPerWeight: (out: number, inFeatures: number) => number;
}

/**
 * A quantized base variant: recognise finds the 7 weights with their facts and claims every part
 * (nothing quantized is left over), and every weight equals reference.safetensors, whole and in ranges.
 */
export async function checkVariant(scheme: QuantScheme, spec: VariantSpec): Promise<void> {
  const { cp, config } = await openVariant(spec.dir);
  const refCp = await openCheckpointFile(join(spec.dir, 'reference.safetensors'));
  try {
    const ctx = quantContext(cp, config);
    const weights = await scheme.recognise(ctx);
    assert.deepEqual(
      weights.map((w) => w.name).sort(),
      LAYER0_LINEARS.map(([m]) => `${m}.weight`).sort(),
    );
    const claimed = new Set<string>();
    for (const w of weights) {
      const module = w.name.slice(0, -'.weight'.length);
      const shape = LAYER0_LINEARS.find(([m]) => m === module)?.[1] as readonly [number, number];
      assert.deepEqual(w.shape, shape, w.name);
      assert.equal(w.quant.scheme, scheme.id);
      assert.equal(w.quant.dtype, spec.dtype, w.name);
      assert.equal(w.quant.bits, spec.bits, w.name);
      assert.match(w.quant.label, spec.label, w.name);
      assert.ok(
        Math.abs(w.quant.bitsPerWeight - spec.bitsPerWeight(shape[0], shape[1])) < 1e-12,
        `${w.name}: bitsPerWeight ${w.quant.bitsPerWeight}, expected ${spec.bitsPerWeight(shape[0], shape[1])}`,
      );
      assert.deepEqual(
        Object.fromEntries(Object.entries(w.quant.parts).map(([role, t]) => [role, t.name])),
        Object.fromEntries(Object.entries(spec.parts).map(([role, s]) => [role, `${module}.${s}`])),
      );
      for (const t of Object.values(w.quant.parts)) claimed.add(t.name);
      const ref = await readReference(refCp, w.name);
      const [rows] = shape;
      await assertRowsMatch(w, ctx.read, ref, 0, rows);
      await assertRowsMatch(w, ctx.read, ref, 5, 7);
      await assertRowsMatch(w, ctx.read, ref, rows - 3, 3);
      await assertRowsMatch(w, ctx.read, ref, 17, 1);
    }
    const left = cp.tensors.filter((t) => !claimed.has(t.name)).map((t) => t.name);
    assert.ok(
      left.every((n) => /(embed_tokens|lm_head|norm)/.test(n)),
      `unclaimed tensors: ${left.join(', ')}`,
    );
  } finally {
    await refCp.close();
    await cp.close();
  }
}
