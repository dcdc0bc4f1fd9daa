/**
 * GPTQ as AutoGPTQ, GPTQModel and optimum store it: per Linear `<m>.qweight` I32 [in·bits/32, out]
 * (values packed along `in`, lowest bits first), `<m>.qzeros` I32 [groups, out·bits/32] (packed along
 * `out`), `<m>.scales` [groups, out], `<m>.g_idx` I32 [in] (each input column's group; permuted under
 * act-order). W[o, i] = scales[g, o] · (q[i, o] − zero[g, o]) with g = g_idx[i]. checkpoint_format
 * "gptq" (v1) stores zero − 1 in qzeros; "gptq_v2" stores the zero itself. The bias stays a float tensor.
 */
import type { TensorInfo } from '../checkpoint.js';
import {
  configBool,
  configInt,
  configString,
  effectiveGroupSize,
  expectPart,
  exactDiv,
  floatValues,
  int32Words,
  modulesWith,
  qweightFamily,
  requiredPart,
  type QuantConfig,
  SCALE_DTYPES,
} from './intPacking.js';
import { bitsPerWeight, invalid, shapeText, unsupported } from './partRead.js';
import type {
  NameLookup,
  PartReader,
  QuantContext,
  QuantizedWeight,
  QuantScheme,
} from './types.js';

/** What quantization_config says, once per checkpoint. */
interface GptqSettings {
  readonly bits?: number;
  readonly groupSize?: number;
  readonly descAct?: boolean;
  readonly v1: boolean;
  readonly fromConfig: boolean;
  /** GPTQModel's per-module overrides: bits and group size then come from each module's shapes. */
  readonly dynamic: boolean;
}

const SUPPORTED_BITS: ReadonlySet<number> = new Set([2, 4, 8]);

/** v1 → v2 zeros, as GPTQModel converts them: one added to every field of the word (carries included). */
const V1_ZERO_ADD: Readonly<Record<number, number>> = {
  2: 0x55555555,
  4: 0x11111111,
  8: 0x01010101,
};

function settingsOf(cfg: QuantConfig | undefined): GptqSettings {
  if (!cfg) return { v1: true, fromConfig: false, dynamic: false };
  const format = (
    configString(cfg, 'checkpoint_format') ??
    configString(cfg, 'format') ??
    'gptq'
  ).toLowerCase();
  if (configBool(cfg, 'is_marlin_format') === true || (format !== 'gptq' && format !== 'gptq_v2')) {
    throw unsupported(
      `GPTQ checkpoint_format "${configBool(cfg, 'is_marlin_format') ? 'marlin' : format}" repacks the weights for its kernel; LoRA Lens reads "gptq" and "gptq_v2"`,
      'quantization_config',
    );
  }
  const pack = configString(cfg, 'pack_dtype');
  if (pack !== undefined && pack.replace(/^torch\./, '') !== 'int32') {
    throw unsupported(
      `GPTQ pack_dtype "${pack}": LoRA Lens reads int32 packing`,
      'quantization_config',
    );
  }
  const bits = configInt(cfg, 'bits');
  if (bits === 3)
    throw unsupported(
      '3-bit GPTQ (values straddle int32 words) is not supported',
      'quantization_config',
    );
  if (bits !== undefined && !SUPPORTED_BITS.has(bits))
    throw invalid(`GPTQ bits ${bits}: GPTQ stores 2, 3, 4 or 8 bits`, 'quantization_config');
  const groupSize = configInt(cfg, 'group_size');
  if (groupSize !== undefined && groupSize !== -1 && groupSize < 1)
    throw invalid(
      `GPTQ group_size ${groupSize}: a group size is -1 or a positive integer`,
      'quantization_config',
    );
  const dyn = cfg.dynamic;
  const dynamic = dyn !== null && typeof dyn === 'object' && Object.keys(dyn).length > 0;
  const descAct = configBool(cfg, 'desc_act');
  return {
    v1: format === 'gptq',
    fromConfig: true,
    dynamic,
    ...(bits !== undefined ? { bits } : {}),
    ...(groupSize !== undefined ? { groupSize } : {}),
    ...(descAct !== undefined ? { descAct } : {}),
  };
}

interface GptqModule {
  readonly module: string;
  readonly parts: {
    qweight: TensorInfo;
    qzeros: TensorInfo;
    scales: TensorInfo;
    g_idx?: TensorInfo;
  };
  readonly bits: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly groups: number;
  readonly groupSize: number;
}

function moduleOf(m: string, qweight: TensorInfo, byName: NameLookup, s: GptqSettings): GptqModule {
  const qzeros = requiredPart(byName, m, 'qzeros', 'a GPTQ module');
  const scales = requiredPart(byName, m, 'scales', 'a GPTQ module');
  const gIdx = byName.get(`${m}.g_idx`);
  expectPart(qweight, ['I32'], 2, m, 'qweight');
  expectPart(qzeros, ['I32'], 2, m, 'qzeros');
  expectPart(scales, [...SCALE_DTYPES], 2, m, 'scales');
  if (gIdx) expectPart(gIdx, ['I32'], 1, m, 'g_idx');
  if (byName.has(`${m}.weight`))
    throw invalid(`${m} has both a float ${m}.weight and GPTQ parts`, `${m}.weight`);
  const [packRows = 0, out = 0] = qweight.shape;
  const [groups = 0, scaleCols = 0] = scales.shape;
  const [zeroGroups = 0, zeroCols = 0] = qzeros.shape;
  if (scaleCols !== out)
    throw invalid(
      `scales ${shapeText(scales.shape)} of ${m} do not match qweight ${shapeText(qweight.shape)}: both end in out (${out})`,
      scales.name,
    );
  const shapeBits = exactDiv(zeroCols * 32, out);
  const bits = s.bits !== undefined && !s.dynamic ? s.bits : shapeBits;
  if (bits === 3) throw unsupported(`${m}: 3-bit GPTQ is not supported`, qweight.name);
  if (bits === undefined || !SUPPORTED_BITS.has(bits) || shapeBits !== bits) {
    throw invalid(
      `qzeros ${shapeText(qzeros.shape)} of ${m} do not fit ${out} outputs${bits !== undefined ? ` at ${bits} bits` : ''} (expected [groups, out·bits/32])`,
      qzeros.name,
    );
  }
  const inFeatures = packRows * (32 / bits);
  if (zeroGroups !== groups)
    throw invalid(
      `qzeros ${shapeText(qzeros.shape)} and scales ${shapeText(scales.shape)} of ${m} hold different numbers of groups`,
      qzeros.name,
    );
  if (gIdx && gIdx.shape[0] !== inFeatures)
    throw invalid(
      `g_idx ${shapeText(gIdx.shape)} of ${m} does not match qweight ${shapeText(qweight.shape)}: ${inFeatures} input columns at ${bits} bits`,
      gIdx.name,
    );
  if (groups < 1 && inFeatures > 0)
    throw invalid(`scales ${shapeText(scales.shape)} of ${m} hold no group`, scales.name);
  let groupSize: number;
  if (s.groupSize !== undefined && !s.dynamic) {
    groupSize = effectiveGroupSize(s.groupSize, inFeatures, m);
    const expected = Math.ceil(inFeatures / groupSize);
    if (expected !== groups)
      throw invalid(
        `group_size ${s.groupSize} gives ${expected} group${expected === 1 ? '' : 's'} over the ${inFeatures} inputs of ${m}, but its scales ${shapeText(scales.shape)} hold ${groups}`,
        scales.name,
      );
  } else {
    groupSize = Math.ceil(inFeatures / Math.max(groups, 1));
    if (Math.ceil(inFeatures / groupSize) !== groups)
      throw invalid(
        `${groups} groups cannot cover the ${inFeatures} inputs of ${m} in equal groups`,
        scales.name,
      );
  }
  return {
    module: m,
    parts: { qweight, qzeros, scales, ...(gIdx ? { g_idx: gIdx } : {}) },
    bits,
    inFeatures,
    outFeatures: out,
    groups,
    groupSize,
  };
}

/** The group of every input column, checked against the module's groups (and desc_act). */
function groupOfColumn(
  mod: GptqModule,
  gIdx: Int32Array | undefined,
  descAct?: boolean,
): Int32Array {
  const { inFeatures, groups, groupSize, module } = mod;
  const out = new Int32Array(inFeatures);
  for (let i = 0; i < inFeatures; i++) {
    const plain = Math.floor(i / groupSize);
    const g = gIdx ? (gIdx[i] as number) : plain;
    if (g < 0 || g >= groups)
      throw invalid(
        `g_idx[${i}] of ${module} is ${g}; ${module} has ${groups} group${groups === 1 ? '' : 's'} (0..${groups - 1})`,
        mod.parts.g_idx?.name ?? module,
      );
    if (descAct === false && g !== plain)
      throw invalid(
        `g_idx[${i}] of ${module} is ${g}, but desc_act is false, so it must be ${plain} (i / group_size)`,
        mod.parts.g_idx?.name ?? module,
      );
    out[i] = g;
  }
  return out;
}

function weightOf(mod: GptqModule, s: GptqSettings): QuantizedWeight {
  const { bits, inFeatures: n, outFeatures: out, groups, parts, module } = mod;
  const pf = 32 / bits;
  const mask = (1 << bits) - 1;
  const version = s.v1 ? 'v1' : 'v2';
  const flags = [version, ...(s.descAct ? ['desc_act'] : [])];
  const scaleDtype = parts.scales.dtype;
  const layout =
    `qweight I32 [in·${bits}/32, out]: ${pf} values per word along in, lowest bits first; ` +
    `qzeros I32 [groups, out·${bits}/32] along out, ${s.v1 ? 'stored as zero − 1 (v1)' : 'the zero itself (v2)'}; ` +
    `scales ${scaleDtype} [groups, out]; ${parts.g_idx ? `g_idx I32 [in]${s.descAct ? ' (act-order permutation)' : ''}` : 'no g_idx (group = i / group_size)'}; ` +
    `${groups} group${groups === 1 ? '' : 's'} of ${mod.groupSize}; W = scale · (q − zero)` +
    (s.fromConfig
      ? ''
      : '. No quantization_config: recognised from tensor names and shapes, read as checkpoint_format "gptq" (v1)');
  return {
    name: `${module}.weight`,
    shape: [out, n],
    quant: {
      scheme: 'gptq',
      dtype: `GPTQ_INT${bits}`,
      label: `GPTQ int${bits} g${mod.groupSize} (${flags.join(', ')})`,
      bits,
      bitsPerWeight: bitsPerWeight(parts, out * n),
      layout,
      parts,
      scaleDtype,
    },
    async dequantizeRows(read: PartReader, start: number, count: number, dst: Float32Array) {
      // Rows of W are columns of qweight, so the module's parts are read whole.
      const [qwBytes, qzBytes, scBytes, giBytes] = await Promise.all([
        read.elements(parts.qweight),
        read.elements(parts.qzeros),
        read.elements(parts.scales),
        parts.g_idx ? read.elements(parts.g_idx) : Promise.resolve(undefined),
      ]);
      const qw = int32Words(qwBytes);
      const qz = int32Words(qzBytes);
      const sc = floatValues(scBytes, scaleDtype);
      const gAt = groupOfColumn(mod, giBytes && int32Words(giBytes), s.descAct);
      const zeroCols = out / pf;
      const add = s.v1 ? (V1_ZERO_ADD[bits] as number) : 0;
      const zs = new Float64Array(groups * count);
      const ss = new Float64Array(groups * count);
      for (let g = 0; g < groups; g++) {
        for (let r = 0; r < count; r++) {
          const o = start + r;
          const word = ((qz[g * zeroCols + Math.floor(o / pf)] as number) + add) | 0;
          zs[g * count + r] = (word >>> ((o % pf) * bits)) & mask;
          ss[g * count + r] = sc[g * out + o] as number;
        }
      }
      const packRows = n / pf;
      for (let p = 0; p < packRows; p++) {
        for (let r = 0; r < count; r++) {
          const word = qw[p * out + start + r] as number;
          const base = r * n + p * pf;
          for (let j = 0; j < pf; j++) {
            const k = (gAt[p * pf + j] as number) * count + r;
            dst[base + j] =
              (ss[k] as number) * (((word >>> (j * bits)) & mask) - (zs[k] as number));
          }
        }
      }
    },
  };
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const cfg = ctx.quantizationConfig;
  const found = modulesWith(ctx.tensors, '.qweight').filter(
    ({ module, tensor }) => qweightFamily(module, tensor, ctx.byName, cfg) === 'gptq',
  );
  if (found.length === 0) return [];
  const s = settingsOf(cfg);
  return found.map(({ module, tensor }) => weightOf(moduleOf(module, tensor, ctx.byName, s), s));
}

export const gptqScheme: QuantScheme = { id: 'gptq', recognise: (ctx) => recognise(ctx) };
