/**
 * AWQ in AutoAWQ's GEMM layout (`version: "gemm"`): per Linear `<m>.qweight` I32 [in, out/8],
 * `<m>.qzeros` I32 [in/g, out/8], `<m>.scales` [in/g, out]. Eight 4-bit values per word along `out`,
 * interleaved: nibble k of word c holds output 8c + [0, 2, 4, 6, 1, 3, 5, 7][k] (WQLinear_GEMM's
 * order_map). W[o, i] = (q − zero) · scale with the zero stored as is. GEMV, GEMV-fast and Marlin repack
 * the weights differently and are refused by name. The bias stays a float tensor.
 */
import type { TensorInfo } from '../checkpoint.js';
import {
  configBool,
  configInt,
  configString,
  effectiveGroupSize,
  expectPart,
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

/** Output 8c + j sits in nibble AWQ_NIBBLE[j] of word c (the inverse of AutoAWQ's order_map). */
const AWQ_NIBBLE = [0, 4, 1, 5, 2, 6, 3, 7] as const;

interface AwqSettings {
  readonly groupSize?: number;
  readonly fromConfig: boolean;
}

function settingsOf(cfg: QuantConfig | undefined): AwqSettings {
  if (!cfg) return { fromConfig: false };
  const version = (configString(cfg, 'version') ?? 'gemm').toLowerCase();
  if (version !== 'gemm') {
    throw unsupported(
      `AWQ version "${version}" packs its weights for another kernel; LoRA Lens reads the GEMM layout`,
      'quantization_config',
    );
  }
  const bits = configInt(cfg, 'bits') ?? configInt(cfg, 'w_bit');
  if (bits !== undefined && bits !== 4)
    throw unsupported(
      `${bits}-bit AWQ: the GEMM layout is defined for 4 bits only`,
      'quantization_config',
    );
  if (configBool(cfg, 'zero_point') === false)
    throw unsupported(
      'AWQ with zero_point false (symmetric) has no agreed GEMM layout',
      'quantization_config',
    );
  const groupSize = configInt(cfg, 'group_size') ?? configInt(cfg, 'q_group_size');
  if (groupSize !== undefined && groupSize !== -1 && groupSize < 1)
    throw invalid(
      `AWQ group_size ${groupSize}: a group size is -1 or a positive integer`,
      'quantization_config',
    );
  return { fromConfig: true, ...(groupSize !== undefined ? { groupSize } : {}) };
}

interface AwqModule {
  readonly module: string;
  readonly parts: { qweight: TensorInfo; qzeros: TensorInfo; scales: TensorInfo };
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly groups: number;
  readonly groupSize: number;
}

function moduleOf(m: string, qweight: TensorInfo, byName: NameLookup, s: AwqSettings): AwqModule {
  const qzeros = requiredPart(byName, m, 'qzeros', 'an AWQ module');
  const scales = requiredPart(byName, m, 'scales', 'an AWQ module');
  expectPart(qweight, ['I32'], 2, m, 'qweight');
  expectPart(qzeros, ['I32'], 2, m, 'qzeros');
  expectPart(scales, [...SCALE_DTYPES], 2, m, 'scales');
  if (byName.has(`${m}.weight`))
    throw invalid(`${m} has both a float ${m}.weight and AWQ parts`, `${m}.weight`);
  const [n = 0, words = 0] = qweight.shape;
  const [groups = 0, out = 0] = scales.shape;
  if (words * 8 !== out)
    throw invalid(
      `qweight ${shapeText(qweight.shape)} of ${m} does not match scales ${shapeText(scales.shape)}: AWQ GEMM packs 8 outputs per word ([in, out/8])`,
      qweight.name,
    );
  if (qzeros.shape[0] !== groups || qzeros.shape[1] !== words)
    throw invalid(
      `qzeros ${shapeText(qzeros.shape)} of ${m} should be [${groups}, ${words}] (groups of scales, out/8)`,
      qzeros.name,
    );
  if (groups < 1 && n > 0)
    throw invalid(`scales ${shapeText(scales.shape)} of ${m} hold no group`, scales.name);
  const groupSize =
    s.groupSize !== undefined ? effectiveGroupSize(s.groupSize, n, m) : n / Math.max(groups, 1);
  if (!Number.isInteger(groupSize) || n % groupSize !== 0 || n / groupSize !== groups) {
    throw invalid(
      s.groupSize !== undefined
        ? `group_size ${s.groupSize} does not fit the ${n} inputs of ${m} with the ${groups} groups of its scales ${shapeText(scales.shape)} (AWQ needs in = groups · group_size)`
        : `${groups} groups cannot cover the ${n} inputs of ${m} in equal groups`,
      scales.name,
    );
  }
  return {
    module: m,
    parts: { qweight, qzeros, scales },
    inFeatures: n,
    outFeatures: out,
    groups,
    groupSize,
  };
}

function weightOf(mod: AwqModule, s: AwqSettings): QuantizedWeight {
  const { inFeatures: n, outFeatures: out, groups, groupSize, parts, module } = mod;
  const scaleDtype = parts.scales.dtype;
  const words = out / 8;
  const layout =
    `qweight I32 [in, out/8]: 8 values per word along out in AWQ order [0, 2, 4, 6, 1, 3, 5, 7]; ` +
    `qzeros I32 [groups, out/8], same order, the zero itself; scales ${scaleDtype} [groups, out]; ` +
    `${groups} group${groups === 1 ? '' : 's'} of ${groupSize} inputs; W = (q − zero) · scale` +
    (s.fromConfig
      ? ''
      : '. No quantization_config: recognised from tensor names and shapes, read as 4-bit GEMM');
  return {
    name: `${module}.weight`,
    shape: [out, n],
    quant: {
      scheme: 'awq',
      dtype: 'AWQ_INT4',
      label: `AWQ int4 g${groupSize} (GEMM)`,
      bits: 4,
      bitsPerWeight: bitsPerWeight(parts, out * n),
      layout,
      parts,
      scaleDtype,
    },
    async dequantizeRows(read: PartReader, start: number, count: number, dst: Float32Array) {
      // Packed along out: the module's parts are read whole.
      const [qwBytes, qzBytes, scBytes] = await Promise.all([
        read.elements(parts.qweight),
        read.elements(parts.qzeros),
        read.elements(parts.scales),
      ]);
      const qw = int32Words(qwBytes);
      const qz = int32Words(qzBytes);
      const sc = floatValues(scBytes, scaleDtype);
      for (let r = 0; r < count; r++) {
        const o = start + r;
        const c = o >> 3;
        const shift = 4 * (AWQ_NIBBLE[o & 7] as number);
        const row = r * n;
        for (let g = 0; g < groups; g++) {
          const zero = ((qz[g * words + c] as number) >>> shift) & 15;
          const scale = sc[g * out + o] as number;
          const end = (g + 1) * groupSize;
          for (let i = g * groupSize; i < end; i++)
            dst[row + i] = ((((qw[i * words + c] as number) >>> shift) & 15) - zero) * scale;
        }
      }
    },
  };
}

async function recognise(ctx: QuantContext): Promise<QuantizedWeight[]> {
  const cfg = ctx.quantizationConfig;
  const found = modulesWith(ctx.tensors, '.qweight').filter(
    ({ module, tensor }) => qweightFamily(module, tensor, ctx.byName, cfg) === 'awq',
  );
  if (found.length === 0) return [];
  const s = settingsOf(cfg);
  return found.map(({ module, tensor }) => weightOf(moduleOf(module, tensor, ctx.byName, s), s));
}

export const awqScheme: QuantScheme = { id: 'awq', recognise: (ctx) => recognise(ctx) };
