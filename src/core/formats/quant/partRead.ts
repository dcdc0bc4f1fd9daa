/**
 * Small helpers every scheme shares: named refusals, shape checks, row-range checks, bits per weight,
 * and float parts (scales, absmax, code books) read as float32.
 */
import type { ElementRange, TensorInfo } from '../checkpoint.js';
import { decodeValues } from '../decode.js';
import type { DType } from '../dtypes.js';
import { CheckpointError } from '../errors.js';
import type { PartReader } from './types.js';

export function invalid(message: string, subject: string): CheckpointError {
  return new CheckpointError('InvalidQuantization', message, subject);
}

export function unsupported(message: string, subject: string): CheckpointError {
  return new CheckpointError('UnsupportedQuantization', message, subject);
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Indexed, no callback: the safetensors reader calls this once per header entry. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A scalar-like shape: [], [1] or [1, 1]. */
export function isScalarShape(shape: readonly number[]): boolean {
  return shape.every((d) => d === 1);
}

/** Float dtypes a scale may be stored in, decoded exactly to float32. */
export const SCALE_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F8_E8M0']);

/** `count` elements from `start` (or all) of a float part, as float32. */
export async function readFloats(
  read: PartReader,
  t: TensorInfo,
  range?: ElementRange,
): Promise<Float32Array> {
  if (!SCALE_DTYPES.has(t.dtype)) {
    throw invalid(
      `"${t.name}" is ${t.dtype}; a float part must be F32, F16, BF16 or F8_E8M0`,
      t.name,
    );
  }
  const bytes = await read.elements(t, range);
  if (t.dtype === 'F32') {
    // Little-endian hosts only (as everywhere in the readers); copy for alignment.
    const copy = new Uint8Array(bytes);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(decodeValues(bytes, t.dtype as DType));
}

/** Refuses a row range outside the weight or an output buffer of the wrong size (caller bugs). */
export function checkRows(
  name: string,
  rows: number,
  cols: number,
  start: number,
  count: number,
  out: Float32Array,
): void {
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(count) ||
    start < 0 ||
    count < 0 ||
    start + count > rows
  ) {
    throw new CheckpointError(
      'InvalidRange',
      `rows ${start}..${start + count} are outside ${name} (${rows} rows)`,
      name,
    );
  }
  if (out.length !== count * cols) {
    throw new CheckpointError(
      'InternalError',
      `dequantizeRows: ${out.length} values for ${count} rows of ${cols} (${name})`,
      name,
    );
  }
}

/** Bits per logical weight: every part's bytes × 8 over the logical element count. */
export function bitsPerWeight(
  parts: Readonly<Record<string, TensorInfo>>,
  elements: number,
): number {
  const bytes = Object.values(parts).reduce((s, p) => s + p.byteLength, 0);
  return elements === 0 ? 0 : (bytes * 8) / elements;
}
