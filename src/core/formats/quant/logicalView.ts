/**
 * The logical view of a checkpoint: each quantized weight becomes one tensor with its logical name and
 * [out, in] shape, its parts folded under it (`TensorInfo.quant.parts`). Mapping, the tree, the smoke
 * test and the merge all work on this view, so a GPTQ `q_proj.qweight` + `qzeros` + `scales` + `g_idx`
 * is simply `q_proj.weight` to them. A checkpoint with no quantized weights is returned unchanged.
 */
import type { Checkpoint, ElementRange, PlainValue, TensorInfo } from '../checkpoint.js';
import { summarizeDtypes } from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import { QUANT_SCHEMES } from './schemes.js';
import type {
  NameLookup,
  PartReader,
  QuantContext,
  QuantizedWeight,
  QuantScheme,
} from './types.js';

/** A checkpoint whose quantized weights can be read as floats. */
export interface QuantizedCheckpoint extends Checkpoint {
  /** The logical weights, by name. */
  readonly quantized: ReadonlyMap<string, QuantizedWeight>;
  /** The checkpoint as stored, parts and all. */
  readonly stored: Checkpoint;
  /** Dequantizes logical rows [start, start + count) of a quantized weight into `out`. */
  dequantizeRows(t: TensorInfo, start: number, count: number, out: Float32Array): Promise<void>;
}

export function isQuantizedCheckpoint(cp: Checkpoint): cp is QuantizedCheckpoint {
  return (cp as Partial<QuantizedCheckpoint>).quantized instanceof Map;
}

function plainObject(v: PlainValue | undefined): Readonly<Record<string, PlainValue>> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** `quantization_config` (transformers) or `compression_config` (older compressed-tensors) of config.json. */
export function quantizationConfigOf(
  cp: Checkpoint,
): Readonly<Record<string, PlainValue>> | undefined {
  const config = plainObject(cp.configs?.['config.json']);
  if (!config) return undefined;
  return plainObject(config.quantization_config) ?? plainObject(config.compression_config);
}

/** Raw part reads over a stored checkpoint; byte reads use one span read where the format has it. */
export function partReader(cp: Checkpoint): PartReader {
  return {
    elements: (t, range?: ElementRange) => cp.readTensorBytes(t, range),
    bytes: async (t, offset, length) => {
      if (offset < 0 || length < 0 || offset + length > t.byteLength) {
        throw new CheckpointError(
          'InvalidRange',
          `bytes ${offset}..${offset + length} are outside tensor "${t.name}" (${t.byteLength} bytes)`,
          t.name,
        );
      }
      if (cp.readSpan && t.offset >= 0 && t.file === undefined)
        return cp.readSpan(t.offset + offset, length);
      return (await cp.readTensorBytes(t)).subarray(offset, offset + length);
    },
  };
}

/** Tensors by name, the map built on the first lookup (a scheme that finds no candidate never asks). */
class LazyNames implements NameLookup {
  private map: Map<string, TensorInfo> | undefined;
  constructor(private readonly tensors: readonly TensorInfo[]) {}
  private built(): Map<string, TensorInfo> {
    return (this.map ??= new Map(this.tensors.map((t) => [t.name, t])));
  }
  get(name: string): TensorInfo | undefined {
    return this.built().get(name);
  }
  has(name: string): boolean {
    return this.built().has(name);
  }
}

/** Runs every scheme over the stored tensors; no tensor may belong to two logical weights. */
export async function recogniseQuantized(
  cp: Checkpoint,
  schemes: readonly QuantScheme[] = QUANT_SCHEMES,
): Promise<QuantizedWeight[]> {
  const claimed = new Map<string, string>();
  const found: QuantizedWeight[] = [];
  const read = partReader(cp);
  const quantizationConfig = quantizationConfigOf(cp);
  let all: LazyNames | undefined;
  for (const scheme of schemes) {
    // Most checkpoints hold no quantized weight: no copy of the list, and no name map unless asked.
    const free = claimed.size === 0 ? cp.tensors : cp.tensors.filter((t) => !claimed.has(t.name));
    if (free.length === 0) break;
    const ctx: QuantContext = {
      tensors: free,
      byName: claimed.size === 0 ? (all ??= new LazyNames(free)) : new LazyNames(free),
      metadata: cp.metadata,
      format: cp.format,
      read,
      ...(quantizationConfig ? { quantizationConfig } : {}),
    };
    for (const w of await scheme.recognise(ctx)) {
      for (const part of Object.values(w.quant.parts)) {
        const owner = claimed.get(part.name);
        if (owner !== undefined) {
          throw new CheckpointError(
            'InvalidQuantization',
            `tensor "${part.name}" would be part of both ${owner} and ${w.name}`,
            part.name,
          );
        }
        claimed.set(part.name, w.name);
      }
      found.push(w);
    }
  }
  return found;
}

function logicalTensor(w: QuantizedWeight): TensorInfo {
  const parts = Object.values(w.quant.parts);
  const single = parts.length === 1 ? parts[0] : undefined;
  return {
    name: w.name,
    dtype: w.quant.dtype,
    shape: w.shape,
    // A single part (a GGUF block tensor) keeps its place in the file; several parts have no one range.
    offset: single ? single.offset : -1,
    byteLength: parts.reduce((s, p) => s + p.byteLength, 0),
    parameterCount: w.shape.reduce((a, b) => a * b, 1),
    ...(single?.file !== undefined ? { file: single.file } : {}),
    role: 'weight',
    quant: w.quant,
  };
}

/**
 * The logical view of `cp` (see the file comment). Its `tensors` list the logical weights in place of
 * their parts (in the data order of their first part); `tensor(name)` still finds a part by its stored
 * name; reading a logical weight's bytes is refused by name: use `dequantizeRows` or `readFloatRows`.
 */
export async function withQuantizedWeights(
  cp: Checkpoint,
  schemes: readonly QuantScheme[] = QUANT_SCHEMES,
): Promise<Checkpoint> {
  if (isQuantizedCheckpoint(cp)) return cp;
  const weights = await recogniseQuantized(cp, schemes);
  if (weights.length === 0) return cp;
  const quantized = new Map(weights.map((w) => [w.name, w]));
  const partOf = new Map<string, QuantizedWeight>();
  for (const w of weights) for (const p of Object.values(w.quant.parts)) partOf.set(p.name, w);
  const logical = new Map(weights.map((w) => [w.name, logicalTensor(w)]));
  const tensors: TensorInfo[] = [];
  const placed = new Set<string>();
  for (const t of cp.tensors) {
    const w = partOf.get(t.name);
    if (!w) {
      if (!logical.has(t.name)) tensors.push(t);
      continue;
    }
    if (placed.has(w.name)) continue;
    placed.add(w.name);
    tensors.push(logical.get(w.name) as TensorInfo);
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const read = partReader(cp);
  const view: QuantizedCheckpoint = Object.assign(Object.create(cp) as Checkpoint, {
    tensors,
    parameterCount: tensors.reduce((s, t) => s + t.parameterCount, 0),
    dtypes: summarizeDtypes(tensors),
    quantized,
    stored: cp,
    tensor(name: string): TensorInfo {
      return byName.get(name) ?? cp.tensor(name);
    },
    readTensorBytes(t: TensorInfo, range?: ElementRange, into?: Uint8Array): Promise<Uint8Array> {
      if (t.quant && quantized.has(t.name)) {
        return Promise.reject(
          new CheckpointError(
            'UnsupportedDtype',
            `"${t.name}" is a ${t.quant.label} weight made of ${Object.keys(t.quant.parts).length} stored parts; read it dequantized (dequantizeRows), or its parts by their stored names`,
            t.name,
          ),
        );
      }
      return cp.readTensorBytes(t, range, into);
    },
    async dequantizeRows(
      t: TensorInfo,
      start: number,
      count: number,
      out: Float32Array,
    ): Promise<void> {
      const w = quantized.get(t.name);
      if (!w) {
        throw new CheckpointError('UnsupportedDtype', `"${t.name}" is not quantized`, t.name);
      }
      const rows = w.shape[0] ?? 1;
      const cols = rows === 0 ? 0 : (w.shape.reduce((a, b) => a * b, 1) / rows) | 0;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0)
        throw new CheckpointError('InvalidRange', `rows ${start}+${count} of "${t.name}"`, t.name);
      if (start + count > rows) {
        throw new CheckpointError(
          'InvalidRange',
          `rows ${start}..${start + count} are outside "${t.name}" (${rows} rows)`,
          t.name,
        );
      }
      if (out.length !== count * cols) {
        throw new CheckpointError(
          'InternalError',
          `dequantizeRows of "${t.name}": ${out.length} values given for ${count} rows of ${cols}`,
          t.name,
        );
      }
      await w.dequantizeRows(read, start, count, out);
    },
  });
  return view;
}
