/**
 * A quantized weight is one logical tensor made of several stored parts (GPTQ's qweight, qzeros, scales
 * and g_idx; bitsandbytes' packed weight, absmax and quant_state; a GGUF block tensor). Each scheme
 * (one file per scheme in this folder) recognises its parts from names, shapes, dtypes and the model's
 * `quantization_config`, and dequantizes logical rows on demand. Nothing here reads more than the rows
 * asked for needs, so the smoke test and the merge stream a model of any size.
 */
import type { ElementRange, PlainValue, TensorInfo } from '../checkpoint.js';

export type QuantSchemeId =
  'gptq' | 'awq' | 'bnb-int8' | 'bnb-4bit' | 'fp8' | 'compressed-tensors' | 'gguf';

/** Raw little-endian bytes of the stored part tensors. */
export interface PartReader {
  /** The whole tensor, or `count` elements from `start` (dtypes whose elements fill whole bytes). */
  elements(t: TensorInfo, range?: ElementRange): Promise<Uint8Array>;
  /** `length` bytes at byte `offset` inside the tensor's data: any dtype, GGUF blocks included. */
  bytes(t: TensorInfo, offset: number, length: number): Promise<Uint8Array>;
}

/** What a quantized weight is, as data (it travels to the webview and into JSON reports). */
export interface QuantInfo {
  readonly scheme: QuantSchemeId;
  /** The dtype shown for the logical weight: `GPTQ_INT4`, `AWQ_INT4`, `NF4`, `FP4`, `INT8`, `F8_E4M3`, `Q4_K`, … */
  readonly dtype: string;
  /** A short label: `GPTQ int4 g128 (v1, desc_act)`, `NF4 blocks of 64, double quant`, `Q4_K`. */
  readonly label: string;
  /** Bits of one stored quantized value (4, 8, 2…6 for GGUF). */
  readonly bits: number;
  /** Storage bits per logical weight, scales, zeros and indices included: part bytes × 8 / (out × in). */
  readonly bitsPerWeight: number;
  /** How the values are stored, in words (packing, axis, group size, scale dtype). */
  readonly layout: string;
  /** The stored tensors it is made of, by role (`qweight`, `qzeros`, `scales`, `g_idx`, `absmax`, …). */
  readonly parts: Readonly<Record<string, TensorInfo>>;
  /** The float dtype of its scales (what an unquantized model of the same origin would use), if any. */
  readonly scaleDtype?: string;
}

export interface QuantizedWeight {
  /** The logical parameter name a float model has: `<module>.weight`. */
  readonly name: string;
  /** The logical PyTorch shape: [out, in] for a Linear weight. */
  readonly shape: readonly number[];
  readonly quant: QuantInfo;
  /**
   * Dequantizes logical rows [start, start + count) of the [shape[0], rest] matrix, row-major, into
   * `out` (exactly count × (elements per row) values). Reads only the parts those rows need. Throws a
   * CheckpointError (`InvalidQuantization`) when the parts contradict each other.
   */
  dequantizeRows(read: PartReader, start: number, count: number, out: Float32Array): Promise<void>;
}

/** Tensors by their stored name (a Map satisfies it). */
export interface NameLookup {
  get(name: string): TensorInfo | undefined;
  has(name: string): boolean;
}

/** What a scheme sees of a checkpoint when it looks for its parts. */
export interface QuantContext {
  readonly tensors: readonly TensorInfo[];
  readonly byName: NameLookup;
  /** `config.json`'s `quantization_config` (or `compression_config`), when there is one. */
  readonly quantizationConfig?: Readonly<Record<string, PlainValue>>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly format: string;
  /** For the small tensors recognition needs (bitsandbytes' quant_state JSON, `weight_shape`). */
  readonly read: PartReader;
}

export interface QuantScheme {
  readonly id: QuantSchemeId;
  /**
   * The logical weights this scheme finds. Header-only apart from small metadata tensors, and bounded
   * by the number of tensors. A tensor that is clearly this scheme's but broken (a missing `qzeros`, a
   * `g_idx` of the wrong length, packed sizes that disagree with the logical shape, a quant_state that is
   * not JSON) is refused with a CheckpointError (`InvalidQuantization`) that names it, never skipped.
   */
  recognise(ctx: QuantContext): Promise<QuantizedWeight[]>;
}
