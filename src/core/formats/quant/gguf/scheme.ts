/**
 * GGUF block tensors (llama.cpp): a quantized weight is the tensor itself. The GGUF reader gives it in
 * PyTorch dim order ([out, in] for a Linear: the last dim is ggml's ne[0], the elements of one row) with
 * the ggml type name as dtype; its data is whole blocks along that last dim, rows one after another. So
 * the logical name and shape are the tensor's own, its one part is `data`, and rows [start, start + n)
 * are one contiguous byte range: start · (in / blockSize) · typeSize, n rows long.
 *
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K … Q6_K are dequantized bit-exactly as ggml's dequantize_row_*;
 * every other block type (IQ*, TQ*, Q8_K, MXFP4, …) is recognised, labelled "not dequantized", and
 * refuses to be read with UnsupportedQuantization.
 */
import type { TensorInfo } from '../../checkpoint.js';
import { GGML_TYPES, type GgmlType } from '../../gguf/ggmlTypes.js';
import { checkRows, invalid, shapeText, unsupported } from '../partRead.js';
import type { QuantContext, QuantInfo, QuantizedWeight, QuantScheme } from '../types.js';
import {
  scaleDtypeOf,
  SUPPORTED_NAMES,
  SUPPORTED_TYPES,
  valueBits,
  type SupportedBlockType,
} from './blockTypes.js';

/** The ggml types made of blocks (F32, F16, BF16 and the integer types are plain values). */
const BLOCK_TYPES: ReadonlyMap<string, GgmlType> = new Map(
  GGML_TYPES.filter((t) => t.blockSize > 1).map((t) => [t.name, t]),
);

export const ggufScheme: QuantScheme = {
  id: 'gguf',
  recognise,
};

// async: a refusal is a rejected promise, never a synchronous throw.
async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  if (ctx.format !== 'gguf') return [];
  const found: QuantizedWeight[] = [];
  for (const t of ctx.tensors) {
    const type = BLOCK_TYPES.get(t.dtype);
    if (type) found.push(blockWeight(t, type));
  }
  return found;
}

/** The header facts a block tensor must agree with (the GGUF reader checks them too). */
function checkLayout(t: TensorInfo, type: GgmlType): void {
  const rowLength = t.shape[t.shape.length - 1];
  const elements = t.shape.reduce((a, b) => a * b, 1);
  if (rowLength === undefined || rowLength % type.blockSize !== 0) {
    throw invalid(
      `"${t.name}" is ${type.name} ${shapeText(t.shape)}: its last dimension must be a whole number of ${type.blockSize}-element blocks`,
      t.name,
    );
  }
  const bytes = (elements / type.blockSize) * type.typeSize;
  if (elements !== t.parameterCount || bytes !== t.byteLength) {
    throw invalid(
      `"${t.name}" is ${type.name} ${shapeText(t.shape)}, which is ${bytes} bytes of ${type.typeSize}-byte blocks, but its data is ${t.byteLength} bytes`,
      t.name,
    );
  }
}

function blockWeight(t: TensorInfo, type: GgmlType): QuantizedWeight {
  checkLayout(t, type);
  const supported = SUPPORTED_TYPES.get(type.name);
  const rows = t.shape[0] as number;
  // Elements per logical row: everything after the first dim (1 for a vector).
  const cols = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const bitsPerWeight = (type.typeSize * 8) / type.blockSize;
  const scaleDtype = scaleDtypeOf(type.name);
  const quant: QuantInfo = {
    scheme: 'gguf',
    dtype: type.name,
    label: supported ? type.name : `${type.name} (not dequantized)`,
    bits: valueBits(type.name, bitsPerWeight),
    bitsPerWeight,
    layout: layoutText(t, type, supported),
    parts: { data: t },
    ...(scaleDtype ? { scaleDtype } : {}),
  };
  return {
    name: t.name,
    shape: t.shape,
    quant,
    async dequantizeRows(read, start, count, out) {
      checkRows(t.name, rows, cols, start, count, out);
      if (!supported) {
        throw unsupported(
          `"${t.name}" is ${type.name}, which LoRA Lens does not dequantize; supported GGUF types: ${SUPPORTED_NAMES.join(', ')}`,
          t.name,
        );
      }
      if (count === 0) return;
      const first = start * cols;
      const n = count * cols;
      const b0 = Math.floor(first / type.blockSize);
      const blocks = Math.ceil((first + n) / type.blockSize) - b0;
      const length = blocks * type.typeSize;
      const bytes = await read.bytes(t, b0 * type.typeSize, length);
      if (bytes.byteLength !== length) {
        throw invalid(
          `"${t.name}": asked for ${length} bytes of ${type.name} blocks at byte ${b0 * type.typeSize}, got ${bytes.byteLength}`,
          t.name,
        );
      }
      // Rows of whole blocks (every 2-D weight) decode straight into `out`; a vector's partial blocks
      // go through a scratch buffer.
      const aligned = first === b0 * type.blockSize && n === blocks * type.blockSize;
      const into = aligned ? out : new Float32Array(blocks * type.blockSize);
      const bad = supported.decode(bytes, blocks, into, 0);
      if (bad >= 0) {
        const element = (b0 + bad) * type.blockSize;
        throw invalid(
          `"${t.name}" (${type.name}): block ${b0 + bad} (elements ${element}..${element + type.blockSize}, row ${Math.floor(element / cols)}) has a NaN or infinite F16 scale; llama.cpp's tensor validation refuses it`,
          t.name,
        );
      }
      if (!aligned)
        out.set(into.subarray(first - b0 * type.blockSize, first - b0 * type.blockSize + n));
    },
  };
}

function layoutText(
  t: TensorInfo,
  type: GgmlType,
  supported: SupportedBlockType | undefined,
): string {
  const rowLength = t.shape[t.shape.length - 1] as number;
  const blocks = `${type.name} blocks of ${type.blockSize} weights in ${type.typeSize} bytes`;
  const rows = `along the last dim (ggml ne[0] = ${rowLength}: ${rowLength / type.blockSize} blocks per row), rows contiguous`;
  return supported
    ? `${blocks} (${supported.layout}), ${rows}`
    : `${blocks}, ${rows}; LoRA Lens does not dequantize ${type.name}`;
}
