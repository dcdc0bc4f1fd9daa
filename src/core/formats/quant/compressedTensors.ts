/**
 * Integer weights of llm-compressor's compressed-tensors format.
 * - "pack-quantized": `<m>.weight_packed` I32 [out, ceil(in·bits/32)], values packed along `in`, lowest
 *   bits first, each stored as q + 2^(bits−1) (pack_to_int32); `<m>.weight_shape` [2] = [out, in].
 * - "int-quantized" / "naive-quantized": `<m>.weight` I8 [out, in] holding q.
 * Both have `<m>.weight_scale` [out, groups] (group), [out, 1] (channel) or one value (tensor), an
 * optional `<m>.weight_zero_point` (I8 [out, groups], or packed along `out` as I32 [ceil(out·bits/32),
 * groups] with the same offset) and, under act-order "group", `<m>.weight_g_idx` I32 [in].
 * W[o, i] = (q − zp[o, g]) · scale[o, g] with g = g_idx[i] or i / group_size.
 * FP8 ("float-quantized") weights belong to the FP8 scheme and are left alone.
 */
import type { TensorInfo } from '../checkpoint.js';
import { ctArgsFor, ctSettings, type CtArgs, type CtSettings } from './compressedTensorsConfig.js';
import { expectPart, floatValues, int32Words, int8Values, SCALE_DTYPES } from './intPacking.js';
import { bitsPerWeight, invalid, shapeText, unsupported } from './partRead.js';
import type { PartReader, QuantContext, QuantizedWeight, QuantScheme } from './types.js';
import { mayEndWith } from './nameIndex.js';

const PACKED_BITS: ReadonlySet<number> = new Set([2, 4, 8]);

type Strategy = 'group' | 'channel' | 'tensor';

interface CtModule {
  readonly module: string;
  readonly packed: boolean;
  readonly bits: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly strategy: Strategy;
  readonly groups: number;
  readonly groupSize: number;
  readonly format: string;
  /** From the config, or: no zero point stored. */
  readonly symmetric: boolean;
  readonly parts: {
    weight_packed?: TensorInfo;
    weight?: TensorInfo;
    weight_scale: TensorInfo;
    weight_shape?: TensorInfo;
    weight_zero_point?: TensorInfo;
    weight_g_idx?: TensorInfo;
  };
}

interface Candidate {
  readonly module: string;
  readonly values: TensorInfo;
  readonly packed: boolean;
}

/** Modules with `weight_packed` I32, or an I8 `weight` beside a `weight_scale`: one pass. */
function candidates(ctx: QuantContext): Candidate[] {
  const out: Candidate[] = [];
  // Modules with a weight_scale, found in one pass: an int8 model without scales (or a million I8
  // scalars) costs no name lookups.
  const scaled = new Set<string>();
  if (mayEndWith(ctx.tensors, '.weight_scale'))
    for (const t of ctx.tensors)
      if (t.name.endsWith('.weight_scale')) scaled.add(t.name.slice(0, -'.weight_scale'.length));
  if (scaled.size === 0 && !mayEndWith(ctx.tensors, '.weight_packed')) return out;
  for (const t of ctx.tensors) {
    if (t.name.endsWith('.weight_packed') && t.dtype === 'I32')
      out.push({ module: t.name.slice(0, -'.weight_packed'.length), values: t, packed: true });
    else if (scaled.size > 0 && t.dtype === 'I8' && t.name.endsWith('.weight')) {
      const module = t.name.slice(0, -'.weight'.length);
      if (scaled.has(module)) out.push({ module, values: t, packed: false });
    }
  }
  return out;
}

async function readShape(read: PartReader, t: TensorInfo, module: string): Promise<number[]> {
  expectPart(t, ['I64', 'I32'], 1, module, 'weight_shape');
  if (t.shape[0] !== 2)
    throw invalid(
      `weight_shape "${t.name}" has shape ${shapeText(t.shape)}; it holds [out, in]`,
      t.name,
    );
  const b = await read.elements(t);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const v =
    t.dtype === 'I64'
      ? [Number(dv.getBigInt64(0, true)), Number(dv.getBigInt64(8, true))]
      : [dv.getInt32(0, true), dv.getInt32(4, true)];
  if (v.some((x) => !Number.isSafeInteger(x) || x < 0))
    throw invalid(`weight_shape "${t.name}" is ${shapeText(v)}`, t.name);
  return v;
}

/** bits of a pack-quantized module without a config: the one width whose packing fits weight_shape. */
function inferBits(inFeatures: number, packedCols: number, module: string): number {
  const fits = [...PACKED_BITS].filter((b) => Math.ceil(inFeatures / (32 / b)) === packedCols);
  if (fits.length !== 1)
    throw invalid(
      `weight_packed of ${module} has ${packedCols} words per row for ${inFeatures} inputs: ${fits.length === 0 ? 'no' : 'more than one'} bit width fits, and there is no quantization_config to say`,
      `${module}.weight_packed`,
    );
  return fits[0] as number;
}

function scaleLayout(
  scale: TensorInfo,
  out: number,
  n: number,
  args: CtArgs | undefined,
  module: string,
): { strategy: Strategy; groups: number; groupSize: number } {
  const numel = scale.shape.reduce((a, b) => a * b, 1);
  const is2d = scale.shape.length === 2 && scale.shape[0] === out;
  const bad = (expected: string): never => {
    throw invalid(
      `weight_scale ${shapeText(scale.shape)} of ${module} does not match ${expected}`,
      scale.name,
    );
  };
  if (args) {
    if (args.strategy === 'tensor') {
      if (numel !== 1) bad('strategy "tensor" (one scale)');
      return { strategy: 'tensor', groups: 1, groupSize: n };
    }
    if (args.strategy === 'channel') {
      if (!is2d || scale.shape[1] !== 1) bad(`strategy "channel" ([${out}, 1])`);
      return { strategy: 'channel', groups: 1, groupSize: n };
    }
    const gs = args.groupSize as number;
    const groups = Math.ceil(n / gs);
    if (!is2d || scale.shape[1] !== groups)
      bad(`group_size ${gs} over ${n} inputs ([${out}, ${groups}])`);
    return { strategy: 'group', groups, groupSize: gs };
  }
  if (numel === 1 && !(is2d && out === 1)) return { strategy: 'tensor', groups: 1, groupSize: n };
  if (!is2d) bad(`[${out}, groups]`);
  const groups = scale.shape[1] as number;
  if (groups === 1) return { strategy: 'channel', groups: 1, groupSize: n };
  if (groups < 1 || n % groups !== 0) bad(`equal groups over ${n} inputs`);
  return { strategy: 'group', groups, groupSize: n / groups };
}

async function moduleOf(
  c: Candidate,
  ctx: QuantContext,
  s: CtSettings,
): Promise<CtModule | undefined> {
  const m = c.module;
  const args = s.fromConfig ? ctArgsFor(m, s) : undefined;
  const format = args?.format ?? s.format ?? (c.packed ? 'pack-quantized' : 'int-quantized');
  if (format === 'float-quantized' || format === 'dense') return undefined;
  const wanted = c.packed ? ['pack-quantized'] : ['int-quantized', 'naive-quantized'];
  if (!wanted.includes(format))
    throw unsupported(
      `${m} is stored as compressed-tensors format "${format}"; LoRA Lens reads pack-quantized and int-quantized integer weights`,
      c.values.name,
    );
  if (s.sparsity !== undefined)
    throw unsupported(
      `compressed-tensors sparsity format "${s.sparsity}" on top of quantization is not supported (${m})`,
      c.values.name,
    );
  if (args && args.type !== 'int')
    throw unsupported(`${m}: compressed-tensors weights of type "${args.type}"`, c.values.name);
  const scale = ctx.byName.get(`${m}.weight_scale`);
  if (!scale) throw invalid(`${c.values.name} has no ${m}.weight_scale`, c.values.name);
  expectPart(scale, [...SCALE_DTYPES], scale.shape.length, m, 'weight_scale');
  expectPart(c.values, [c.packed ? 'I32' : 'I8'], 2, m, c.packed ? 'weight_packed' : 'weight');
  const [out = 0, cols = 0] = c.values.shape;
  let n = cols;
  let bits = args?.numBits ?? 8;
  const parts: CtModule['parts'] = { weight_scale: scale };
  if (c.packed) {
    parts.weight_packed = c.values;
    const shapeT = ctx.byName.get(`${m}.weight_shape`);
    if (!shapeT)
      throw invalid(
        `${c.values.name} has no ${m}.weight_shape (the logical [out, in])`,
        c.values.name,
      );
    parts.weight_shape = shapeT;
    const [sOut = 0, sIn = 0] = await readShape(ctx.read, shapeT, m);
    n = sIn;
    bits = args ? args.numBits : inferBits(n, cols, m);
    if (!PACKED_BITS.has(bits))
      throw unsupported(
        `${bits}-bit pack-quantized weights (${m}): LoRA Lens reads 2, 4 and 8 bits`,
        c.values.name,
      );
    if (sOut !== out || Math.ceil(n / (32 / bits)) !== cols)
      throw invalid(
        `weight_shape [${sOut}, ${sIn}] of ${m} disagrees with weight_packed ${shapeText(c.values.shape)} at ${bits} bits (expected [${sOut}, ${Math.ceil(sIn / (32 / bits))}])`,
        shapeT.name,
      );
  } else {
    parts.weight = c.values;
    if (bits < 1 || bits > 8)
      throw unsupported(`${bits}-bit values in an I8 weight (${m})`, c.values.name);
  }
  const lay = scaleLayout(scale, out, n, args, m);
  const zp = ctx.byName.get(`${m}.weight_zero_point`);
  if (args && !args.symmetric && !zp)
    throw invalid(
      `${m} is asymmetric (symmetric: false) but has no ${m}.weight_zero_point`,
      c.values.name,
    );
  if (zp) {
    const packedZp = zp.dtype === 'I32';
    const expected = packedZp
      ? [Math.ceil(out / (32 / bits)), lay.groups]
      : lay.strategy === 'tensor'
        ? scale.shape
        : [out, lay.groups];
    expectPart(zp, c.packed ? ['I8', 'I32'] : ['I8'], expected.length, m, 'weight_zero_point');
    if (expected.some((d, k) => zp.shape[k] !== d))
      throw invalid(
        `weight_zero_point ${shapeText(zp.shape)} of ${m} should be ${shapeText(expected)}`,
        zp.name,
      );
    parts.weight_zero_point = zp;
  }
  const gIdx = ctx.byName.get(`${m}.weight_g_idx`);
  if (args?.actorder === 'group' && !gIdx)
    throw invalid(`${m} uses actorder "group" but has no ${m}.weight_g_idx`, c.values.name);
  if (gIdx) {
    expectPart(gIdx, ['I32', 'I64'], 1, m, 'weight_g_idx');
    if (gIdx.shape[0] !== n)
      throw invalid(`weight_g_idx ${shapeText(gIdx.shape)} of ${m} should be [${n}]`, gIdx.name);
    parts.weight_g_idx = gIdx;
  }
  return {
    module: m,
    packed: c.packed,
    bits,
    inFeatures: n,
    outFeatures: out,
    format,
    symmetric: args ? args.symmetric : !parts.weight_zero_point,
    ...lay,
    parts,
  };
}

function groupIndex(mod: CtModule, bytes: Uint8Array | undefined, dtype: string): Int32Array {
  const { inFeatures: n, groups, groupSize } = mod;
  const out = new Int32Array(n);
  const dv = bytes && new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    const g = !dv
      ? Math.floor(i / groupSize)
      : dtype === 'I64'
        ? Number(dv.getBigInt64(i * 8, true))
        : dv.getInt32(i * 4, true);
    if (g < 0 || g >= groups)
      throw invalid(
        `weight_g_idx[${i}] of ${mod.module} is ${g}; it has ${groups} group${groups === 1 ? '' : 's'} (0..${groups - 1})`,
        mod.parts.weight_g_idx?.name ?? mod.module,
      );
    out[i] = g;
  }
  return out;
}

/** Zero points of rows [start, start + count) × groups, as numbers (0 when absent). */
async function zeroPoints(mod: CtModule, read: PartReader, start: number, count: number) {
  const { groups, bits, parts } = mod;
  const zs = new Float64Array(count * groups);
  const zp = parts.weight_zero_point;
  if (!zp) return zs;
  if (mod.strategy === 'tensor') {
    const v =
      zp.dtype === 'I32'
        ? int32Words(await read.elements(zp))[0]
        : int8Values(await read.elements(zp))[0];
    zs.fill(
      zp.dtype === 'I32' ? ((v as number) & ((1 << bits) - 1)) - (1 << (bits - 1)) : (v as number),
    );
    return zs;
  }
  if (zp.dtype === 'I8') {
    const v = int8Values(await read.elements(zp, { start: start * groups, count: count * groups }));
    for (let k = 0; k < v.length; k++) zs[k] = v[k] as number;
    return zs;
  }
  const pf = 32 / bits;
  const w0 = Math.floor(start / pf);
  const w1 = Math.floor((start + count - 1) / pf);
  const words = int32Words(
    await read.elements(zp, { start: w0 * groups, count: (w1 - w0 + 1) * groups }),
  );
  const mask = (1 << bits) - 1;
  for (let r = 0; r < count; r++) {
    const o = start + r;
    for (let g = 0; g < groups; g++) {
      const word = words[(Math.floor(o / pf) - w0) * groups + g] as number;
      zs[r * groups + g] = ((word >>> ((o % pf) * bits)) & mask) - (1 << (bits - 1));
    }
  }
  return zs;
}

function weightOf(mod: CtModule, fromConfig: boolean): QuantizedWeight {
  const { module, bits, inFeatures: n, outFeatures: out, groups, parts, strategy } = mod;
  const scale = parts.weight_scale;
  const grouping =
    strategy === 'group'
      ? `g${mod.groupSize}`
      : strategy === 'channel'
        ? 'per channel'
        : 'per tensor';
  const sym = mod.symmetric ? 'symmetric' : 'asymmetric';
  const values = mod.packed
    ? `weight_packed I32 [out, ceil(in·${bits}/32)]: ${32 / bits} values per word along in, lowest bits first, stored as q + ${1 << (bits - 1)}`
    : `weight I8 [out, in] holding q`;
  const layout =
    `${mod.format}: ${values}; weight_scale ${scale.dtype} ${shapeText(scale.shape)} (${strategy})` +
    (parts.weight_zero_point
      ? `; weight_zero_point ${parts.weight_zero_point.dtype} ${shapeText(parts.weight_zero_point.shape)}${parts.weight_zero_point.dtype === 'I32' ? ' packed along out' : ''}`
      : '') +
    (parts.weight_g_idx ? '; weight_g_idx [in] (act-order)' : '') +
    '; W = (q − zero point) · scale' +
    (fromConfig
      ? ''
      : '. No quantization_config: recognised from tensor names, shapes and weight_shape');
  return {
    name: `${module}.weight`,
    shape: [out, n],
    quant: {
      scheme: 'compressed-tensors',
      dtype: `INT${bits}`,
      label: `compressed-tensors int${bits} ${grouping} (${mod.format}, ${sym})`,
      bits,
      bitsPerWeight: bitsPerWeight(parts as Record<string, TensorInfo>, out * n),
      layout,
      parts: parts as Record<string, TensorInfo>,
      scaleDtype: scale.dtype,
    },
    async dequantizeRows(read: PartReader, start: number, count: number, dst: Float32Array) {
      if (count === 0) return;
      const g = parts.weight_g_idx;
      const gAt = groupIndex(mod, g && (await read.elements(g)), g?.dtype ?? 'I32');
      const perRow = strategy === 'tensor' ? 0 : groups;
      const sc = floatValues(
        strategy === 'tensor'
          ? await read.elements(scale)
          : await read.elements(scale, { start: start * groups, count: count * groups }),
        scale.dtype,
      );
      const zs = await zeroPoints(mod, read, start, count);
      const gz = strategy === 'tensor' ? 0 : groups;
      if (mod.packed) {
        const weights = parts.weight_packed as TensorInfo;
        const cols = weights.shape[1] as number;
        const words = int32Words(
          await read.elements(weights, { start: start * cols, count: count * cols }),
        );
        const pf = 32 / bits;
        const mask = (1 << bits) - 1;
        const offset = 1 << (bits - 1);
        for (let r = 0; r < count; r++) {
          for (let i = 0; i < n; i++) {
            const word = words[r * cols + Math.floor(i / pf)] as number;
            const q = ((word >>> ((i % pf) * bits)) & mask) - offset;
            const k = gAt[i] as number;
            dst[r * n + i] = (q - (zs[r * gz + k] as number)) * (sc[r * perRow + k] as number);
          }
        }
        return;
      }
      const q = int8Values(
        await read.elements(parts.weight as TensorInfo, { start: start * n, count: count * n }),
      );
      for (let r = 0; r < count; r++) {
        for (let i = 0; i < n; i++) {
          const k = gAt[i] as number;
          dst[r * n + i] =
            ((q[r * n + i] as number) - (zs[r * gz + k] as number)) *
            (sc[r * perRow + k] as number);
        }
      }
    },
  };
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const s = ctSettings(ctx.quantizationConfig);
  if (!s) return [];
  const found = candidates(ctx);
  if (found.length === 0) return [];
  const out: QuantizedWeight[] = [];
  for (const c of found) {
    const mod = await moduleOf(c, ctx, s);
    if (mod) out.push(weightOf(mod, s.fromConfig));
  }
  return out;
}

export const compressedTensorsScheme: QuantScheme = {
  id: 'compressed-tensors',
  recognise: (ctx) => recognise(ctx),
};
