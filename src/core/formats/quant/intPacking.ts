/**
 * What GPTQ, AWQ and compressed-tensors share: integer values packed into int32 words (lowest bits
 * first), float scales, config fields read strictly, and the named errors for a broken layout.
 */
import type { PlainValue, TensorInfo } from '../checkpoint.js';
import { toFloat32 } from '../floatDecode.js';
import { invalid, shapeText } from './partRead.js';
import type { NameLookup } from './types.js';
import { mayEndWith } from './nameIndex.js';

/** Dtypes the scales of these schemes are stored in. */
export const SCALE_DTYPES: ReadonlySet<string> = new Set(['F16', 'BF16', 'F32']);

export type QuantConfig = Readonly<Record<string, PlainValue>>;

/** Little-endian int32 words (every platform LoRA Lens ships on is little-endian). */
export function int32Words(bytes: Uint8Array): Int32Array {
  const b = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
}

/** Signed bytes (compressed-tensors int-quantized weights and zero points). */
export function int8Values(bytes: Uint8Array): Int8Array {
  return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function floatValues(bytes: Uint8Array, dtype: string): Float32Array {
  return toFloat32(bytes, dtype);
}

/** `t` must have one of `dtypes` and `rank` dimensions; `role` names it in the error. */
export function expectPart(
  t: TensorInfo,
  dtypes: readonly string[],
  rank: number,
  module: string,
  role: string,
): void {
  if (!dtypes.includes(t.dtype)) {
    throw invalid(
      `${role} "${t.name}" of ${module} is ${t.dtype}; the format stores it as ${dtypes.join(' or ')}`,
      t.name,
    );
  }
  if (t.shape.length !== rank) {
    throw invalid(
      `${role} "${t.name}" of ${module} has shape ${shapeText(t.shape)}; expected ${rank} dimension${rank === 1 ? '' : 's'}`,
      t.name,
    );
  }
}

/** Modules that have a tensor named `<module><suffix>`, in tensor order (one pass). */
export function modulesWith(
  tensors: readonly TensorInfo[],
  suffix: string,
): { module: string; tensor: TensorInfo }[] {
  const out: { module: string; tensor: TensorInfo }[] = [];
  if (!mayEndWith(tensors, suffix)) return out;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
    if (t.name.endsWith(suffix) && t.name.length > suffix.length)
      out.push({ module: t.name.slice(0, -suffix.length), tensor: t });
  }
  return out;
}

// Config fields: absent is fine, the wrong type is a named error.

export function configString(cfg: QuantConfig | undefined, key: string): string | undefined {
  const v = cfg?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw invalid(`quantization_config.${key} is ${JSON.stringify(v)}, not a string`, key);
  return v;
}

export function configInt(cfg: QuantConfig | undefined, key: string): number | undefined {
  const v = cfg?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw invalid(`quantization_config.${key} is ${JSON.stringify(v)}, not an integer`, key);
  return v;
}

export function configBool(cfg: QuantConfig | undefined, key: string): boolean | undefined {
  const v = cfg?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean')
    throw invalid(`quantization_config.${key} is ${JSON.stringify(v)}, not true or false`, key);
  return v;
}

export function quantMethod(cfg: QuantConfig | undefined): string | undefined {
  return configString(cfg, 'quant_method')?.toLowerCase();
}

/**
 * A config group size: -1 (GPTQ, AWQ) means one group over the whole input; otherwise a positive
 * integer. 0 and other negatives are refused by name.
 */
export function effectiveGroupSize(gs: number, inFeatures: number, module: string): number {
  if (gs === -1) return inFeatures;
  if (gs < 1)
    throw invalid(
      `group_size ${gs} of ${module}: a group size is -1 or a positive integer`,
      module,
    );
  return gs;
}

/**
 * GPTQ and AWQ both store `<m>.qweight`, `<m>.qzeros`, `<m>.scales`. Which one a module is: the
 * config's quant_method when there is one (another method: neither); otherwise GPTQ when it has a
 * `g_idx` or its qweight and scales share their last dimension ([in·bits/32, out] and [groups, out]),
 * AWQ when the scales are 8× wider ([in, out/8] and [groups, out]). A module too broken to tell is
 * GPTQ's, which then refuses it by name.
 */
export function qweightFamily(
  module: string,
  qweight: TensorInfo,
  byName: NameLookup,
  cfg: QuantConfig | undefined,
): 'gptq' | 'awq' | undefined {
  const method = quantMethod(cfg);
  if (method !== undefined) return method === 'gptq' || method === 'awq' ? method : undefined;
  if (byName.has(`${module}.g_idx`)) return 'gptq';
  const scales = byName.get(`${module}.scales`);
  const qCols = qweight.shape[1];
  const sCols = scales?.shape[1];
  if (qCols !== undefined && sCols !== undefined && sCols === qCols * 8 && qCols !== 0)
    return 'awq';
  return 'gptq';
}

/** Integer division that is exact, or undefined. */
export function exactDiv(a: number, b: number): number | undefined {
  return b > 0 && a % b === 0 ? a / b : undefined;
}

/** A part a `qweight` module cannot do without; `what` is "a GPTQ module", "an AWQ module". */
export function requiredPart(
  byName: NameLookup,
  m: string,
  role: string,
  what: string,
): TensorInfo {
  const t = byName.get(`${m}.${role}`);
  if (!t)
    throw invalid(
      `${m}.qweight has no ${m}.${role}: ${what} needs qweight, qzeros and scales`,
      `${m}.qweight`,
    );
  return t;
}
