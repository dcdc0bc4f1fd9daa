/**
 * bitsandbytes LLM.int8 as transformers saves a `Linear8bitLt`: `<m>.weight` I8 [out, in] (row-major),
 * `<m>.SCB` F32 [out] (each row's absmax) and `<m>.weight_format` U8 [] (0 = row-major; the old tiled
 * layouts col32 / col_turing / col_ampere are refused by name). W[o, i] = q · SCB[o] / 127, computed in
 * float32 exactly as bitsandbytes' int8_vectorwise_dequant does (q · SCB, then × the float32 1/127).
 */
import type { PlainValue, TensorInfo } from '../checkpoint.js';
import { decodeValues } from '../decode.js';
import type { DType } from '../dtypes.js';
import {
  bitsPerWeight,
  checkRows,
  invalid,
  isScalarShape,
  readFloats,
  shapeText,
  unsupported,
} from './partRead.js';
import type { QuantContext, QuantizedWeight, QuantScheme } from './types.js';
import { mayEndWith } from './nameIndex.js';

/** bitsandbytes' old `weight_format` codes (LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING). */
const WEIGHT_FORMATS = ['row', 'col32', 'col_turing', 'col_ampere'];
const INT_DTYPES: ReadonlySet<string> = new Set(['U8', 'I8', 'I16', 'I32', 'I64']);
/** The multiplier bitsandbytes uses for "÷ 127" (7.874015718698502e-3, a float32 in its math). */
const INV_127 = Math.fround(7.874015718698502e-3);

export const bnbInt8Scheme: QuantScheme = {
  id: 'bnb-int8',
  recognise,
};

function isInt8Config(config: Readonly<Record<string, PlainValue>> | undefined): boolean {
  return (
    config?.quant_method === 'bitsandbytes' &&
    (config.load_in_8bit === true || config._load_in_8bit === true)
  );
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const found: QuantizedWeight[] = [];
  const int8Config = isInt8Config(ctx.quantizationConfig);
  if (!int8Config && !mayEndWith(ctx.tensors, '.SCB') && !mayEndWith(ctx.tensors, '.weight_format'))
    return found;
  for (const t of ctx.tensors) {
    if (t.name.endsWith('.SCB')) {
      found.push(await int8Weight(ctx, t.name.slice(0, -'.SCB'.length), t));
    } else if (t.name.endsWith('.weight_format')) {
      const m = t.name.slice(0, -'.weight_format'.length);
      if (!ctx.byName.has(`${m}.SCB`)) {
        throw invalid(`"${t.name}" has no "${m}.SCB" beside it (LLM.int8 row scales)`, t.name);
      }
    } else if (int8Config && t.dtype === 'I8' && t.name.endsWith('.weight')) {
      const m = t.name.slice(0, -'.weight'.length);
      if (!ctx.byName.has(`${m}.SCB`)) {
        throw invalid(
          `"${t.name}" is I8 in a bitsandbytes 8-bit model but "${m}.SCB" (its row scales) is missing`,
          t.name,
        );
      }
    }
  }
  return found;
}

async function int8Weight(ctx: QuantContext, m: string, scb: TensorInfo): Promise<QuantizedWeight> {
  const weight = ctx.byName.get(`${m}.weight`);
  if (!weight) throw invalid(`"${scb.name}" has no "${m}.weight" beside it`, scb.name);
  if (weight.dtype !== 'I8' || weight.shape.length !== 2) {
    throw invalid(
      `"${weight.name}" is ${weight.dtype} ${shapeText(weight.shape)}; LLM.int8 stores I8 [out, in]`,
      weight.name,
    );
  }
  const [rows, cols] = weight.shape as [number, number];
  if (scb.dtype !== 'F32' || scb.shape.length !== 1 || scb.shape[0] !== rows) {
    throw invalid(
      `"${scb.name}" is ${scb.dtype} ${shapeText(scb.shape)}; LLM.int8 stores F32 [${rows}] (one absmax per row of ${weight.name})`,
      scb.name,
    );
  }
  const parts: Record<string, TensorInfo> = { weight, SCB: scb };
  const format = ctx.byName.get(`${m}.weight_format`);
  if (format) {
    await checkWeightFormat(ctx, format);
    parts.weight_format = format;
  }
  return {
    name: weight.name,
    shape: [rows, cols],
    quant: {
      scheme: 'bnb-int8',
      dtype: 'INT8',
      label: 'LLM.int8 row-wise absmax',
      bits: 8,
      bitsPerWeight: bitsPerWeight(parts, rows * cols),
      layout: `int8 [${rows}, ${cols}] row-major; SCB F32 [${rows}] holds each row's absmax; W = q · SCB / 127`,
      parts,
    },
    async dequantizeRows(read, start, count, out) {
      checkRows(weight.name, rows, cols, start, count, out);
      if (count === 0) return;
      const bytes = await read.elements(weight, { start: start * cols, count: count * cols });
      const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const scales = await readFloats(read, scb, { start, count });
      for (let r = 0; r < count; r++) {
        const s = scales[r] as number;
        const base = r * cols;
        // Assigning to a Float32Array rounds, so each step is one float32 operation as in torch.
        for (let c = 0; c < cols; c++)
          out[base + c] = Math.fround((q[base + c] as number) * s) * INV_127;
      }
    },
  };
}

async function checkWeightFormat(ctx: QuantContext, format: TensorInfo): Promise<void> {
  if (!INT_DTYPES.has(format.dtype) || !isScalarShape(format.shape)) {
    throw invalid(
      `"${format.name}" is ${format.dtype} ${shapeText(format.shape)}; expected one integer (U8 [])`,
      format.name,
    );
  }
  const value = decodeValues(await ctx.read.elements(format), format.dtype as DType)[0];
  if (value !== 0) {
    const known = value !== undefined ? WEIGHT_FORMATS[value] : undefined;
    throw unsupported(
      `"${format.name}" is ${String(value)} (${known ?? 'an unknown layout'}); only 0 (row-major) LLM.int8 weights are supported`,
      format.name,
    );
  }
}
