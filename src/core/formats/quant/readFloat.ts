/**
 * Float values of any weight the readers open: plain floats decoded, FP8 (an FP8 LoRA) widened, and
 * quantized logical weights dequantized row by row. The smoke test and the merge read base weights only
 * through here, so every base is one float path.
 */
import type { Checkpoint, TensorInfo } from '../checkpoint.js';
import { decodeValues } from '../decode.js';
import { isDType } from '../dtypes.js';
import { CheckpointError } from '../errors.js';
import { decodeInto, FLOAT_DTYPES, floatBytes } from '../floatDecode.js';
import { isQuantizedCheckpoint } from './logicalView.js';

/** Plain 8-bit floats: no scale, so their values are the weights (FP8 LoRA files). */
export const FLOAT8_DTYPES: ReadonlySet<string> = new Set(['F8_E4M3', 'F8_E5M2']);

/** Can `readFloatElements` read this tensor of this checkpoint? A reason when it cannot. */
export function floatReadable(cp: Checkpoint, t: TensorInfo): true | string {
  // A quantized weight first: FP8 with scales keeps the F8 dtype name but is not a bare FP8 tensor.
  if (t.quant) {
    if (isQuantizedCheckpoint(cp) && cp.quantized.has(t.name)) return true;
  } else if (FLOAT_DTYPES.has(t.dtype) || FLOAT8_DTYPES.has(t.dtype)) return true;
  return `${t.name} is ${t.dtype}, which is neither a float dtype nor a quantized weight LoRA Lens dequantizes`;
}

/** Elements per row of a weight read as [shape[0], rest]. */
export function rowLength(t: TensorInfo): number {
  const rows = t.shape[0] ?? 1;
  return rows === 0 ? 0 : t.parameterCount / rows;
}

/**
 * `count` float values from element `start` (row-major) into `out`. Quantized weights are dequantized
 * a whole number of rows at a time; a range that does not start and end on rows costs one extra row
 * at each end. `scratchBytes` may provide a reusable read buffer for plain floats.
 */
export async function readFloatElements(
  cp: Checkpoint,
  t: TensorInfo,
  start: number,
  count: number,
  out: Float32Array,
  scratchBytes?: (n: number) => Uint8Array,
): Promise<void> {
  if (out.length !== count) {
    throw new CheckpointError(
      'InternalError',
      `readFloatElements: ${out.length} values for ${count}`,
      t.name,
    );
  }
  if (count === 0) return;
  if (!t.quant && FLOAT_DTYPES.has(t.dtype)) {
    const into = scratchBytes?.(count * floatBytes(t.dtype));
    decodeInto(await cp.readTensorBytes(t, { start, count }, into), t.dtype, out);
    return;
  }
  if (!t.quant && FLOAT8_DTYPES.has(t.dtype)) {
    out.set(decodeValues(await cp.readTensorBytes(t, { start, count }), t.dtype as 'F8_E4M3'));
    return;
  }
  if (!(t.quant && isQuantizedCheckpoint(cp) && cp.quantized.has(t.name))) {
    throw new CheckpointError(
      t.quant ? 'UnsupportedQuantization' : 'UnsupportedDtype',
      floatReadable(cp, t) as string,
      t.name,
    );
  }
  const cols = rowLength(t);
  const firstRow = Math.floor(start / cols);
  const endRow = Math.ceil((start + count) / cols);
  if (firstRow * cols === start && endRow * cols === start + count) {
    await cp.dequantizeRows(t, firstRow, endRow - firstRow, out);
    return;
  }
  const rows = new Float32Array((endRow - firstRow) * cols);
  await cp.dequantizeRows(t, firstRow, endRow - firstRow, rows);
  out.set(rows.subarray(start - firstRow * cols, start - firstRow * cols + count));
}

/** A whole tensor as float32. */
export async function readFloatTensor(cp: Checkpoint, t: TensorInfo): Promise<Float32Array> {
  const out = new Float32Array(t.parameterCount);
  await readFloatElements(cp, t, 0, t.parameterCount, out);
  return out;
}

/** FP8 factors (FP8 LoRA files) are plain values: no scale tensor goes with them. */
const DECODABLE: ReadonlySet<string> = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);

/**
 * A whole adapter tensor as float64, for the merge and the methods' effects: float dtypes decoded
 * exactly, quantized ones (FP8 with a scale) dequantized. Anything else is refused by name.
 */
export async function readFloat64(adapter: Checkpoint, name: string): Promise<Float64Array> {
  const t = adapter.tensor(name);
  // A quantized factor (FP8 with a scale tensor) is read dequantized, never as raw codes.
  if (t.quant) return Float64Array.from(await readFloatTensor(adapter, t));
  if (!isDType(t.dtype) || !DECODABLE.has(t.dtype))
    throw new CheckpointError(
      'InvalidExport',
      `${name} is ${t.dtype}; only float adapter tensors can be merged`,
      name,
    );
  return decodeValues(await adapter.readTensorBytes(t), t.dtype);
}
