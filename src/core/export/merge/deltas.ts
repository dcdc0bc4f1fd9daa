/**
 * ΔW math, PEFT's merge (src/peft/tuners/lora/layer.py): ΔW = s·(B @ A), conv k×k as
 * ΔW[o,i,:,:] = s·Σ_r B[o,r]·A[r,i,:,:] (A flattened to [r, in·k·k]), embeddings stored (B @ A)ᵀ,
 * DoRA W' = m / ‖W + ΔW‖_row · (W + ΔW). Computed in float64, applied one block of rows at a time so
 * no weight is ever held whole.
 */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import { readFloat64 } from '../../formats/quant/readFloat.js';
import { effectInputs, hasEffect, moduleEffect } from '../../lora/methods/effectInputs.js';
import type { ModuleEffect } from '../../lora/methods/types.js';
import { applyEffect, assertEffectFits } from './effects.js';
import type { MergePatch } from './plan.js';

/** B [out, r] and Aᵀ [inK, r], row-major, so every ΔW element is one dot product of two rows. */
export interface PairFactors {
  readonly kind: 'pair';
  readonly b: Float64Array;
  readonly at: Float64Array;
  readonly rank: number;
  readonly scale: number;
  readonly magnitude: Float64Array | null;
}

/** A method with an effect of its own (methods/*.ts): merged through effects.ts. */
export interface EffectFactors {
  readonly kind: 'effect';
  readonly effect: ModuleEffect;
  readonly magnitude: null;
}

export type Factors = PairFactors | EffectFactors;

/** Reads what the module merges: its effect (methods with one), else its pair. */
export async function loadFactors(adapter: Checkpoint, p: MergePatch): Promise<Factors> {
  if (!hasEffect(p.module)) return loadPair(adapter, p);
  const effect = await moduleEffect(p.module, effectInputs(adapter, p.target.shape));
  assertEffectFits(p.module.name, p, effect);
  return { kind: 'effect', effect, magnitude: null };
}

/** Reads the module's factors in the standard orientation (A [r, inK], B [out, r]). */
export async function loadPair(adapter: Checkpoint, p: MergePatch): Promise<PairFactors> {
  const { rank: r, out, inK } = p;
  const down = await readFloat64(adapter, p.module.parts['down'] as string);
  const up = await readFloat64(adapter, p.module.parts['up'] as string);
  if (down.length !== r * inK || up.length !== out * r)
    throw new CheckpointError(
      'InvalidExport',
      `${p.module.name}: down has ${down.length} values and up ${up.length}, expected ${r * inK} and ${out * r}`,
      p.module.name,
    );
  const at = new Float64Array(inK * r);
  let b: Float64Array;
  if (p.module.orientation === 'transposed') {
    // down [inK, r] is Aᵀ already; up [r, out] is Bᵀ.
    at.set(down);
    b = new Float64Array(out * r);
    for (let k = 0; k < r; k++)
      for (let o = 0; o < out; o++) b[o * r + k] = up[k * out + o] as number;
  } else {
    for (let k = 0; k < r; k++)
      for (let i = 0; i < inK; i++) at[i * r + k] = down[k * inK + i] as number;
    b = up;
  }
  if (p.permuteHeads !== undefined) b = ropeRowOrder(b, out, r, p.permuteHeads);
  let magnitude: Float64Array | null = null;
  if (p.magnitude) {
    magnitude = await readFloat64(adapter, p.magnitude);
    if (magnitude.length !== out)
      throw new CheckpointError(
        'InvalidExport',
        `${p.magnitude} has ${magnitude.length} values; DoRA needs one per output row (${out})`,
        p.magnitude,
      );
  }
  return { kind: 'pair', b, at, rank: r, scale: p.scale, magnitude };
}

/**
 * B's rows in llama.cpp's RoPE order (convert_hf_to_gguf's LlamaModel.permute: each head's rows
 * [first half; second half] interleaved), so ΔW lands on the rows a GGUF Llama q/k weight stores.
 */
export function ropeRowOrder(b: Float64Array, out: number, r: number, heads: number): Float64Array {
  const headDim = out / heads;
  const half = headDim / 2;
  const permuted = new Float64Array(b.length);
  for (let row = 0; row < out; row++) {
    const h = Math.floor(row / headDim);
    const within = row % headDim;
    const from = h * headDim + (within & 1) * half + (within >> 1);
    permuted.set(b.subarray(from * r, from * r + r), row * r);
  }
  return permuted;
}

function dot(x: Float64Array, xi: number, y: Float64Array, yi: number, r: number): number {
  let s = 0;
  for (let k = 0; k < r; k++) s += (x[xi + k] as number) * (y[yi + k] as number);
  return s;
}

/** The rows of the initializer [first, first + count) that the patch touches. */
export function patchRows(p: MergePatch): [number, number] {
  return p.transposed ? [0, p.rows] : [p.rowStart, p.rowStart + p.out];
}

/**
 * Adds ΔW to `values`, the initializer's rows [first, first + count) (row-major, `p.cols` wide), and
 * marks every element it changes in `changed`. With `norms` (DoRA, from `doraNorms`) it also scales
 * each output row by m / ‖W + ΔW‖.
 */
export function applyDelta(
  p: MergePatch,
  f: Factors,
  values: Float64Array,
  first: number,
  count: number,
  changed: Uint8Array,
  norms: Float64Array | null = null,
): void {
  if (f.kind === 'effect') {
    applyEffect(p, f.effect, values, first, count, changed);
    return;
  }
  const [lo, hi] = patchRows(p);
  const r = f.rank;
  for (let row = Math.max(lo, first); row < Math.min(hi, first + count); row++) {
    const base = (row - first) * p.cols;
    if (p.transposed) {
      // Stored [in, out]: element (i, colStart + o) holds ΔW[o, i].
      const i = row;
      for (let o = 0; o < p.out; o++) {
        const at = base + p.colStart + o;
        let v = (values[at] as number) + f.scale * dot(f.b, o * r, f.at, i * r, r);
        if (norms && f.magnitude) v *= (f.magnitude[o] as number) / (norms[o] as number);
        values[at] = v;
        changed[at] = 1;
      }
    } else {
      const o = row - p.rowStart;
      for (let i = 0; i < p.inK; i++) {
        const at = base + i;
        let v = (values[at] as number) + f.scale * dot(f.b, o * r, f.at, i * r, r);
        if (norms && f.magnitude) v *= (f.magnitude[o] as number) / (norms[o] as number);
        values[at] = v;
        changed[at] = 1;
      }
    }
  }
}

/** Adds the squares of (W + ΔW) over rows [first, first + count) into `sumSq` (one per output row). */
export function accumulateNorms(
  p: MergePatch,
  f: Factors,
  values: Float64Array,
  first: number,
  count: number,
  sumSq: Float64Array,
): void {
  const scratch = values.slice();
  applyDelta(p, f, scratch, first, count, new Uint8Array(values.length));
  const [lo, hi] = patchRows(p);
  for (let row = Math.max(lo, first); row < Math.min(hi, first + count); row++) {
    const base = (row - first) * p.cols;
    if (p.transposed) {
      for (let o = 0; o < p.out; o++) {
        const v = scratch[base + p.colStart + o] as number;
        sumSq[o] = (sumSq[o] as number) + v * v;
      }
    } else {
      const o = row - p.rowStart;
      for (let i = 0; i < p.inK; i++) {
        const v = scratch[base + i] as number;
        sumSq[o] = (sumSq[o] as number) + v * v;
      }
    }
  }
}

/** Row blocks [first, count] covering rows [lo, hi) with about `elements` values each. */
export function* blocks(
  lo: number,
  hi: number,
  cols: number,
  elements: number,
): Generator<[number, number]> {
  const rows = Math.max(1, Math.floor(elements / Math.max(1, cols)));
  for (let first = lo; first < hi; first += rows) yield [first, Math.min(rows, hi - first)];
}

/** Rows [first, first + count) of a patch's target as float64, row-major. */
export type RowReader = (first: number, count: number) => Promise<Float64Array>;

/** DoRA: ‖W + ΔW‖ per output row, over every row the patch touches (a first pass). */
export async function doraNorms(
  read: RowReader,
  p: MergePatch,
  f: Factors,
  signal: AbortSignal | undefined,
  elements: number,
): Promise<Float64Array> {
  const sumSq = new Float64Array(p.out);
  const [lo, hi] = patchRows(p);
  for (const [first, count] of blocks(lo, hi, p.cols, elements)) {
    signal?.throwIfAborted();
    accumulateNorms(p, f, await read(first, count), first, count, sumSq);
  }
  return sumSq.map(Math.sqrt);
}
