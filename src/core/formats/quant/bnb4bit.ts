/**
 * bitsandbytes 4-bit (NF4 / FP4) as transformers saves a `Linear4bit` (QuantState.as_dict(packed=True)):
 *   <m>.weight                               U8 [ceil(n/2), 1]: two 4-bit codes a byte, the even element in
 *                                            the high nibble, over the flattened [out, in] weight
 *   <m>.weight.absmax                        F32 [blocks]: each block's absmax (blocks of `blocksize`)
 *   <m>.weight.quant_map                     F32 [16]: the code book (read from the file, never assumed)
 *   <m>.weight.quant_state.bitsandbytes__nf4 U8: JSON {quant_type, blocksize, dtype, shape, nested_*}
 * With double quant absmax is U8 [blocks], codes of <m>.weight.nested_quant_map F32 [256] scaled per
 * `nested_blocksize` blocks by <m>.weight.nested_absmax F32 plus `nested_offset`.
 * W_flat[j] = quant_map[code_j] · absmax[j / blocksize], in float32 (bitsandbytes then casts to
 * quant_state.dtype; we keep the float32 product). The last block may be partial, as in bitsandbytes.
 */
import type { TensorInfo } from '../checkpoint.js';
import {
  bitsPerWeight,
  checkRows,
  invalid,
  readFloats,
  shapeText,
  unsupported,
} from './partRead.js';
import type { PartReader, QuantContext, QuantizedWeight, QuantScheme } from './types.js';
import { mayEndWith, someLastSegmentStarts } from './nameIndex.js';

const STATE_RE = /^(.+)\.quant_state\.bitsandbytes__([^.]+)$/;
const ORPHAN_SUFFIXES = ['.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map'];
const QUANT_TYPES: ReadonlySet<string> = new Set(['nf4', 'fp4']);
/** A quant_state is a few hundred bytes; anything this large is not one. */
const MAX_STATE_BYTES = 1 << 16;
const TORCH_FLOATS: Readonly<Record<string, string>> = {
  float16: 'F16',
  bfloat16: 'BF16',
  float32: 'F32',
};

export const bnb4bitScheme: QuantScheme = {
  id: 'bnb-4bit',
  recognise,
};

interface Nested {
  readonly absmax: TensorInfo;
  readonly map: TensorInfo;
  readonly blocksize: number;
  readonly offset: number;
}

interface Layout {
  readonly weight: TensorInfo;
  readonly absmax: TensorInfo;
  readonly quantMap: TensorInfo;
  readonly shape: readonly number[];
  readonly blocksize: number;
  readonly nested?: Nested;
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const found: QuantizedWeight[] = [];
  const withState = new Set<string>();
  // STATE_RE's last segment starts with bitsandbytes__; ORPHAN_SUFFIXES each end in a segment.
  const states = someLastSegmentStarts(ctx.tensors, 'bitsandbytes__');
  if (!states && !ORPHAN_SUFFIXES.some((s) => mayEndWith(ctx.tensors, s))) return found;
  for (const t of states ? ctx.tensors : []) {
    const m = STATE_RE.exec(t.name);
    if (!m) continue;
    const weightName = m[1] as string;
    if (withState.has(weightName)) {
      throw invalid(`"${weightName}" has more than one bitsandbytes quant_state`, t.name);
    }
    withState.add(weightName);
    found.push(await fourBitWeight(ctx, weightName, m[2] as string, t));
  }
  // Parts without their quant_state are a broken 4-bit weight, not float tensors.
  for (const t of ctx.tensors) {
    const suffix = ORPHAN_SUFFIXES.find((s) => t.name.endsWith(s));
    if (!suffix) continue;
    const stem = t.name.slice(0, -suffix.length);
    if ((stem === 'weight' || stem.endsWith('.weight')) && !withState.has(stem)) {
      throw invalid(
        `"${t.name}" is a bitsandbytes 4-bit part but "${stem}.quant_state.bitsandbytes__nf4" (or __fp4) is missing`,
        t.name,
      );
    }
  }
  return found;
}

async function readState(ctx: QuantContext, t: TensorInfo): Promise<Record<string, unknown>> {
  if (t.dtype !== 'U8' || t.shape.length !== 1 || t.byteLength > MAX_STATE_BYTES) {
    throw invalid(
      `"${t.name}" is ${t.dtype} ${shapeText(t.shape)}; a quant_state is U8 [n] holding JSON bytes`,
      t.name,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(await ctx.read.elements(t)),
    );
  } catch {
    throw invalid(`"${t.name}" is not JSON (a bitsandbytes quant_state is UTF-8 JSON)`, t.name);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(`"${t.name}" is JSON but not an object`, t.name);
  }
  return parsed as Record<string, unknown>;
}

function positiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function requirePart(
  ctx: QuantContext,
  name: string,
  weightName: string,
  what: string,
): TensorInfo {
  const t = ctx.byName.get(name);
  if (!t)
    throw invalid(
      `"${weightName}" is bitsandbytes 4-bit but "${name}" (${what}) is missing`,
      weightName,
    );
  return t;
}

function requireFloat(t: TensorInfo, length: number, what: string): void {
  if (t.dtype !== 'F32' || t.shape.length !== 1 || t.shape[0] !== length) {
    throw invalid(
      `"${t.name}" is ${t.dtype} ${shapeText(t.shape)}; ${what} is F32 [${length}]`,
      t.name,
    );
  }
}

async function fourBitWeight(
  ctx: QuantContext,
  weightName: string,
  quantType: string,
  stateT: TensorInfo,
): Promise<QuantizedWeight> {
  if (!QUANT_TYPES.has(quantType)) {
    throw unsupported(
      `"${stateT.name}": bitsandbytes quant type "${quantType}" is not nf4 or fp4`,
      stateT.name,
    );
  }
  const state = await readState(ctx, stateT);
  const layout = validate(ctx, weightName, quantType, state, stateT);
  const { weight, absmax, quantMap, shape, blocksize, nested } = layout;
  const parts: Record<string, TensorInfo> = {
    weight,
    absmax,
    quant_map: quantMap,
    quant_state: stateT,
  };
  if (nested) Object.assign(parts, { nested_absmax: nested.absmax, nested_quant_map: nested.map });
  const rows = shape[0] as number;
  const elements = shape.reduce((a, b) => a * b, 1);
  const cols = rows === 0 ? 0 : elements / rows;
  const dtype = quantType.toUpperCase();
  const scaleDtype = typeof state.dtype === 'string' ? TORCH_FLOATS[state.dtype] : undefined;
  const absmaxText = nested
    ? `absmax as U8 codes of nested_quant_map [256] × nested_absmax per ${nested.blocksize} blocks + offset ${nested.offset}`
    : 'absmax F32 per block';
  return {
    name: weightName,
    shape,
    quant: {
      scheme: 'bnb-4bit',
      dtype,
      label: `${dtype} blocks of ${blocksize}${nested ? ', double quant' : ''}`,
      bits: 4,
      bitsPerWeight: bitsPerWeight(parts, elements),
      layout: `two 4-bit codes a byte (high nibble first) over the flattened ${shapeText(shape)}; code book quant_map F32 [16]; blocks of ${blocksize}, ${absmaxText}`,
      parts,
      ...(scaleDtype ? { scaleDtype } : {}),
    },
    dequantizeRows: (read, start, count, out) => {
      checkRows(weightName, rows, cols, start, count, out);
      return dequantize(read, layout, start * cols, count * cols, out);
    },
  };
}

function validate(
  ctx: QuantContext,
  weightName: string,
  quantType: string,
  state: Record<string, unknown>,
  stateT: TensorInfo,
): Layout {
  const subject = stateT.name;
  if (state.quant_type !== quantType) {
    throw invalid(
      `"${subject}" says quant_type ${JSON.stringify(state.quant_type)}, its name says ${quantType}`,
      subject,
    );
  }
  const { blocksize, shape } = state;
  if (!positiveInt(blocksize)) {
    throw invalid(
      `"${subject}": blocksize ${JSON.stringify(blocksize)} is not a positive integer`,
      subject,
    );
  }
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every(positiveInt)) {
    throw invalid(
      `"${subject}": shape ${JSON.stringify(shape)} is not a list of positive integers`,
      subject,
    );
  }
  const n = (shape as number[]).reduce((a, b) => a * b, 1);
  const weight = requirePart(ctx, weightName, weightName, 'the packed codes');
  if (weight.dtype !== 'U8') {
    throw unsupported(
      `"${weightName}" is ${weight.dtype}: only uint8 bnb_4bit_quant_storage is supported`,
      weightName,
    );
  }
  if (weight.parameterCount !== Math.ceil(n / 2)) {
    throw invalid(
      `"${weightName}" packs ${weight.parameterCount * 2} codes ${shapeText(weight.shape)} but its quant_state shape ${shapeText(shape as number[])} has ${n} elements (needs ${Math.ceil(n / 2)} bytes)`,
      weightName,
    );
  }
  const absmax = requirePart(ctx, `${weightName}.absmax`, weightName, 'the block scales');
  const quantMap = requirePart(ctx, `${weightName}.quant_map`, weightName, 'the code book');
  requireFloat(quantMap, 16, 'a 4-bit code book');
  const blocks = Math.ceil(n / blocksize);
  if (absmax.shape.length !== 1 || absmax.parameterCount !== blocks) {
    throw invalid(
      `"${absmax.name}" is ${shapeText(absmax.shape)}; ${n} elements in blocks of ${blocksize} need [${blocks}]`,
      absmax.name,
    );
  }
  const nested = validateNested(ctx, weightName, state, absmax, blocks, subject);
  if (!nested && absmax.dtype !== 'F32') {
    throw invalid(
      `"${absmax.name}" is ${absmax.dtype}; without double quant absmax is F32`,
      absmax.name,
    );
  }
  return {
    weight,
    absmax,
    quantMap,
    shape: shape as number[],
    blocksize,
    ...(nested ? { nested } : {}),
  };
}

function validateNested(
  ctx: QuantContext,
  weightName: string,
  state: Record<string, unknown>,
  absmax: TensorInfo,
  blocks: number,
  subject: string,
): Nested | undefined {
  const absT = ctx.byName.get(`${weightName}.nested_absmax`);
  const mapT = ctx.byName.get(`${weightName}.nested_quant_map`);
  const inJson = 'nested_blocksize' in state || 'nested_offset' in state;
  if (!inJson && !absT && !mapT) return undefined;
  const blocksize = state.nested_blocksize;
  const offset = state.nested_offset;
  if (!positiveInt(blocksize) || typeof offset !== 'number' || !Number.isFinite(offset)) {
    throw invalid(
      `"${subject}" lacks a valid nested_blocksize / nested_offset (double quant): ${JSON.stringify({ nested_blocksize: blocksize, nested_offset: offset })}`,
      subject,
    );
  }
  const abs = requirePart(
    ctx,
    `${weightName}.nested_absmax`,
    weightName,
    'the double-quant scales',
  );
  const map = requirePart(
    ctx,
    `${weightName}.nested_quant_map`,
    weightName,
    'the double-quant code book',
  );
  requireFloat(
    abs,
    Math.ceil(blocks / blocksize),
    `${blocks} absmax codes in blocks of ${blocksize}: nested_absmax`,
  );
  requireFloat(map, 256, 'a double-quant code book');
  if (absmax.dtype !== 'U8') {
    throw invalid(
      `"${absmax.name}" is ${absmax.dtype}; with double quant absmax is U8 codes`,
      absmax.name,
    );
  }
  return { absmax: abs, map, blocksize, offset: Math.fround(offset) };
}

/** Block scales for blocks [k0, k1): stored F32, or rebuilt from their 8-bit codes (double quant). */
async function blockScales(
  read: PartReader,
  l: Layout,
  k0: number,
  k1: number,
): Promise<Float32Array> {
  const range = { start: k0, count: k1 - k0 };
  if (!l.nested) return readFloats(read, l.absmax, range);
  const { blocksize, offset } = l.nested;
  const codes = await read.elements(l.absmax, range);
  const n0 = Math.floor(k0 / blocksize);
  const nestedAbs = await readFloats(read, l.nested.absmax, {
    start: n0,
    count: Math.ceil(k1 / blocksize) - n0,
  });
  const map = await readFloats(read, l.nested.map);
  const scales = new Float32Array(k1 - k0);
  for (let k = k0; k < k1; k++) {
    const code = codes[k - k0] as number;
    const product = Math.fround(
      (map[code] as number) * (nestedAbs[Math.floor(k / blocksize) - n0] as number),
    );
    scales[k - k0] = product + offset;
  }
  return scales;
}

async function dequantize(
  read: PartReader,
  l: Layout,
  e0: number,
  count: number,
  out: Float32Array,
): Promise<void> {
  if (count === 0) return;
  const e1 = e0 + count;
  const b0 = Math.floor(e0 / 2);
  const packed = await read.elements(l.weight, { start: b0, count: Math.ceil(e1 / 2) - b0 });
  const k0 = Math.floor(e0 / l.blocksize);
  const scales = await blockScales(read, l, k0, Math.ceil(e1 / l.blocksize));
  const map = await readFloats(read, l.quantMap);
  for (let j = e0; j < e1; j++) {
    const byte = packed[Math.floor(j / 2) - b0] as number;
    const code = j % 2 === 1 ? byte & 0x0f : byte >> 4;
    // float32 × float32 is exact in a double; the Float32Array store rounds once, as torch does.
    out[j - e0] = (map[code] as number) * (scales[Math.floor(j / l.blocksize) - k0] as number);
  }
}
