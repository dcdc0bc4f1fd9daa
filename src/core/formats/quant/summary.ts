/**
 * What a checkpoint's quantization amounts to: each scheme with its weights, storage and bits per
 * weight, and what it saves against the same weights at 16 bits (the dtype a float release ships in).
 * Header-only: the figures come from the logical view's tensor infos.
 */
import type { CheckpointInfo, TensorInfo } from '../checkpoint.js';

export interface QuantSchemeSummary {
  readonly scheme: string;
  readonly label: string;
  /** Logical weights stored this way. */
  readonly weights: number;
  /** Their logical parameters (out × in each). */
  readonly parameters: number;
  /** Bytes of all their stored parts. */
  readonly storedBytes: number;
  readonly bitsPerWeight: number;
}

export interface QuantSummary {
  readonly schemes: readonly QuantSchemeSummary[];
  readonly quantizedWeights: number;
  readonly quantizedParameters: number;
  readonly storedBytes: number;
  /** The same parameters at 16 bits per weight. */
  readonly bytesAt16Bit: number;
  /** bytesAt16Bit − storedBytes (negative if the scheme is larger, e.g. 32-bit scales on tiny groups). */
  readonly savedBytes: number;
  /** Parameters of the tensors left unquantized (embeddings, norms, heads, biases). */
  readonly floatParameters: number;
}

/** null when nothing in the checkpoint is quantized. */
export function quantizationSummary(info: CheckpointInfo): QuantSummary | null {
  const by = new Map<string, QuantSchemeSummary>();
  let floatParameters = 0;
  const tensors = info.tensors;
  // Indexed: every tensor, once per open, mostly unoptimised (for…of allocates per step).
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
    const q = t.quant;
    if (!q) {
      floatParameters += t.parameterCount;
      continue;
    }
    const prev = by.get(q.label);
    const parameters = (prev?.parameters ?? 0) + t.parameterCount;
    const storedBytes = (prev?.storedBytes ?? 0) + t.byteLength;
    by.set(q.label, {
      scheme: q.scheme,
      label: q.label,
      weights: (prev?.weights ?? 0) + 1,
      parameters,
      storedBytes,
      bitsPerWeight: parameters > 0 ? (storedBytes * 8) / parameters : 0,
    });
  }
  if (by.size === 0) return null;
  const schemes = [...by.values()].sort((a, b) => b.parameters - a.parameters);
  const quantizedParameters = schemes.reduce((s, x) => s + x.parameters, 0);
  const storedBytes = schemes.reduce((s, x) => s + x.storedBytes, 0);
  const bytesAt16Bit = quantizedParameters * 2;
  return {
    schemes,
    quantizedWeights: schemes.reduce((s, x) => s + x.weights, 0),
    quantizedParameters,
    storedBytes,
    bytesAt16Bit,
    savedBytes: bytesAt16Bit - storedBytes,
    floatParameters,
  };
}
