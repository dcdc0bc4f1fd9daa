/**
 * FP8 weights with scales: `<m>.weight` F8_E4M3 / F8_E5M2 [out, in] and
 *   `<m>.weight_scale`      [] or [1]: per tensor (compressed-tensors float-quantized, ModelOpt, …)
 *                           [out, 1] or [out]: per output channel (compressed-tensors, fbgemm_fp8)
 *                           [out, in/g]: per group of g inputs (compressed-tensors "group")
 *   `<m>.weight_scale_inv`  [ceil(out/128), ceil(in/128)]: per 128×128 block (DeepSeek-V3, transformers
 *                           "fp8" with weight_block_size; F32 or UE8M0), or [] (transformers per-tensor)
 * and an optional `<m>.input_scale` (activations; claimed, unused). W = float(q) · scale, in float32,
 * whatever the name: `weight_scale_inv` is what the weight was divided by, so it multiplies here too.
 * A bare FP8 weight without a scale is a plain float dtype and is left alone.
 */
import type { PlainValue, TensorInfo } from '../checkpoint.js';
import { FP8_WEIGHT_DTYPES, fp8Table, type Fp8Dtype } from './fp8Decode.js';
import {
  bitsPerWeight,
  checkRows,
  invalid,
  isScalarShape,
  readFloats,
  SCALE_DTYPES,
  shapeText,
  unsupported,
} from './partRead.js';
import type { PartReader, QuantContext, QuantizedWeight, QuantScheme } from './types.js';
import { nameIndex } from './nameIndex.js';

const DEFAULT_BLOCK: readonly [number, number] = [128, 128];

export const fp8Scheme: QuantScheme = {
  id: 'fp8',
  recognise,
};

/** One scale per [blockRows × blockCols] tile of the weight, in a row-major [gridRows, gridCols] grid. */
interface ScaleGrid {
  readonly gridRows: number;
  readonly gridCols: number;
  readonly blockRows: number;
  readonly blockCols: number;
  readonly label: string;
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const found: QuantizedWeight[] = [];
  const block = configuredBlock(ctx.quantizationConfig);
  if (![...nameIndex(ctx.tensors).dtypes].some((d) => FP8_WEIGHT_DTYPES.has(d))) return found;
  for (const t of ctx.tensors) {
    if (!FP8_WEIGHT_DTYPES.has(t.dtype) || !(t.name === 'weight' || t.name.endsWith('.weight')))
      continue;
    const m = t.name.slice(0, -'weight'.length);
    const scale = ctx.byName.get(`${m}weight_scale`);
    const scaleInv = ctx.byName.get(`${m}weight_scale_inv`);
    if (!scale && !scaleInv) continue;
    if (scale && scaleInv) {
      throw invalid(
        `"${t.name}" has both weight_scale and weight_scale_inv; which one applies is ambiguous`,
        t.name,
      );
    }
    const zeroPoint = ctx.byName.get(`${m}weight_zero_point`);
    if (zeroPoint) {
      throw unsupported(
        `"${zeroPoint.name}": asymmetric FP8 (a weight zero point) is not supported`,
        zeroPoint.name,
      );
    }
    found.push(
      fp8Weight(t, (scale ?? scaleInv) as TensorInfo, ctx.byName.get(`${m}input_scale`), block),
    );
  }
  return found;
}

function blockPair(v: PlainValue | undefined): [number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 2) return undefined;
  const [r, c] = v;
  const ok = (x: PlainValue | undefined): x is number =>
    typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
  return ok(r) && ok(c) ? [r, c] : undefined;
}

/** transformers' `weight_block_size`, or compressed-tensors' `config_groups.*.weights.block_structure`. */
function configuredBlock(
  config: Readonly<Record<string, PlainValue>> | undefined,
): [number, number] | undefined {
  if (!config) return undefined;
  const direct = blockPair(config.weight_block_size);
  if (direct) return direct;
  const groups = config.config_groups;
  if (groups === null || typeof groups !== 'object' || Array.isArray(groups)) return undefined;
  for (const g of Object.values(groups)) {
    const weights =
      g !== null && typeof g === 'object' && !Array.isArray(g) ? g.weights : undefined;
    if (weights !== null && typeof weights === 'object' && !Array.isArray(weights)) {
      const b = blockPair(weights?.block_structure);
      if (b) return b;
    }
  }
  return undefined;
}

function scaleGrid(
  weight: TensorInfo,
  scale: TensorInfo,
  block: readonly [number, number] | undefined,
): ScaleGrid {
  const [rows, cols] = weight.shape as [number, number];
  const s = scale.shape;
  if (isScalarShape(s)) {
    return {
      gridRows: 1,
      gridCols: 1,
      blockRows: Math.max(rows, 1),
      blockCols: Math.max(cols, 1),
      label: 'per-tensor scale',
    };
  }
  if ((s.length === 1 && s[0] === rows) || (s.length === 2 && s[0] === rows && s[1] === 1)) {
    return {
      gridRows: rows,
      gridCols: 1,
      blockRows: 1,
      blockCols: Math.max(cols, 1),
      label: 'per-channel scale',
    };
  }
  if (s.length === 2) {
    const [r, c] = s as [number, number];
    const [bo, bi] = block ?? DEFAULT_BLOCK;
    if (r === Math.ceil(rows / bo) && c === Math.ceil(cols / bi)) {
      return {
        gridRows: r,
        gridCols: c,
        blockRows: bo,
        blockCols: bi,
        label: `blocks of ${bo}×${bi}`,
      };
    }
    if (r === rows && c > 0 && cols % c === 0) {
      return {
        gridRows: r,
        gridCols: c,
        blockRows: 1,
        blockCols: cols / c,
        label: `groups of ${cols / c}`,
      };
    }
  }
  const [bo, bi] = block ?? DEFAULT_BLOCK;
  throw invalid(
    `"${scale.name}" is ${shapeText(s)}, which fits neither a per-tensor [] nor a per-channel [${rows}, 1] scale nor the [${Math.ceil(rows / bo)}, ${Math.ceil(cols / bi)}] grid of ${bo}×${bi} blocks of ${weight.name} ${shapeText(weight.shape)}`,
    scale.name,
  );
}

function fp8Weight(
  weight: TensorInfo,
  scale: TensorInfo,
  inputScale: TensorInfo | undefined,
  block: readonly [number, number] | undefined,
): QuantizedWeight {
  if (weight.shape.length !== 2) {
    throw unsupported(
      `"${weight.name}" is ${weight.dtype} ${shapeText(weight.shape)}: only 2-D FP8 weights with scales are supported`,
      weight.name,
    );
  }
  if (!SCALE_DTYPES.has(scale.dtype)) {
    throw invalid(
      `"${scale.name}" is ${scale.dtype}; FP8 scales are F32, BF16, F16 or F8_E8M0`,
      scale.name,
    );
  }
  const grid = scaleGrid(weight, scale, block);
  const [rows, cols] = weight.shape as [number, number];
  const parts: Record<string, TensorInfo> = {
    weight,
    [scale.name.endsWith('_inv') ? 'weight_scale_inv' : 'weight_scale']: scale,
  };
  if (inputScale) parts.input_scale = inputScale;
  const dtype = weight.dtype as Fp8Dtype;
  const scaleName = scale.name.slice(scale.name.lastIndexOf('.') + 1);
  return {
    name: weight.name,
    shape: [rows, cols],
    quant: {
      scheme: 'fp8',
      dtype,
      label: `${dtype} ${grid.label}`,
      bits: 8,
      bitsPerWeight: bitsPerWeight(parts, rows * cols),
      layout: `${dtype} [${rows}, ${cols}] row-major; ${scaleName} ${scale.dtype} ${shapeText(scale.shape)}, one per ${grid.blockRows}×${grid.blockCols} tile; W = q · ${scaleName}`,
      parts,
      scaleDtype: scale.dtype,
    },
    dequantizeRows: (read, start, count, out) => {
      checkRows(weight.name, rows, cols, start, count, out);
      return dequantize(read, weight, scale, grid, start, count, out);
    },
  };
}

async function dequantize(
  read: PartReader,
  weight: TensorInfo,
  scale: TensorInfo,
  g: ScaleGrid,
  start: number,
  count: number,
  out: Float32Array,
): Promise<void> {
  if (count === 0) return;
  const cols = weight.shape[1] as number;
  const q = await read.elements(weight, { start: start * cols, count: count * cols });
  const r0 = Math.floor(start / g.blockRows);
  const r1 = Math.floor((start + count - 1) / g.blockRows) + 1;
  const scales = await readFloats(read, scale, {
    start: r0 * g.gridCols,
    count: (r1 - r0) * g.gridCols,
  });
  const lut = fp8Table(weight.dtype as Fp8Dtype);
  for (let r = 0; r < count; r++) {
    const rowScales = (Math.floor((start + r) / g.blockRows) - r0) * g.gridCols;
    const base = r * cols;
    for (let b = 0; b < g.gridCols; b++) {
      const s = scales[rowScales + b] as number;
      const end = Math.min(cols, (b + 1) * g.blockCols);
      // float32 × float32 is exact in a double; the Float32Array store rounds once, as torch does.
      for (let c = b * g.blockCols; c < end; c++)
        out[base + c] = (lut[q[base + c] as number] as number) * s;
    }
  }
}
