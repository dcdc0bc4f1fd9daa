/**
 * Memory figures for a model: weights at several precisions, the KV cache, and the optimizer-state
 * footprint of full fine-tuning, LoRA and QLoRA. Each figure carries its formula with the numbers
 * filled in, so a reader can check it by hand. Activations are never included: they depend on batch
 * size, sequence length and checkpointing, which a file does not say.
 */
import { formatDecimal } from '../../shared/format.js';
import type { ModelDims } from './types.js';

export type MemoryFigureId =
  | 'weights-fp32'
  | 'weights-bf16'
  | 'weights-int8'
  | 'weights-int4'
  | 'kv-cache-per-token'
  | 'kv-cache-1k'
  | 'train-full'
  | 'train-lora'
  | 'train-qlora';

export interface MemoryFigure {
  readonly id: MemoryFigureId;
  readonly label: string;
  /** null when the inputs do not determine it (see `reason`). */
  readonly bytes: number | null;
  /** The formula with the numbers filled in; '' when bytes is null. */
  readonly formula: string;
  /** What the figure leaves out or assumes. */
  readonly note?: string;
  /** Why bytes is null. */
  readonly reason?: string;
}

export interface MemoryInput {
  readonly parameterCount: number;
  readonly dims: ModelDims;
  /** The adapter being inspected; without one LoRA/QLoRA use DEFAULT_LORA_RANK on attention + MLP. */
  readonly adapter?: { readonly trainableParameters: number; readonly rank: number | null };
}

export interface MemoryEstimate {
  readonly figures: readonly MemoryFigure[];
  /** Trainable parameters behind the LoRA/QLoRA figures (the adapter's, or the default's); null when unknown. */
  readonly trainableParameters: number | null;
  readonly trainableSource: 'adapter' | 'default';
}

/** Rank of the stated default LoRA when no adapter is given. */
export const DEFAULT_LORA_RANK = 16;
export const KV_TOKENS = 1000;
/** AdamW mixed precision per trainable parameter: bf16 weight 2 + bf16 grad 2 + fp32 master 4 + Adam m, v 8. */
export const ADAMW_BYTES_PER_PARAM = 16;
/**
 * QLoRA NF4 with double quantization (Dettmers et al. 2023, §2; bitsandbytes): 4 bits per weight plus
 * 8-bit absmax per 64-weight block and one fp32 constant per 256 blocks, 8/64 + 32/(64·256) ≈ 0.127 bit.
 */
export const QLORA_BITS_PER_PARAM = 4 + 8 / 64 + 32 / (64 * 256);

const fmt = (n: number): string => formatDecimal(n, 3);

/** "131,072,000 B (125 MiB)". */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  // formatDecimal writes what toLocaleString('en-US', …) does, without loading ICU (tens of ms).
  const human = unit ? ` (${formatDecimal(v, 2)} ${unit})` : '';
  return `${fmt(bytes)} B${human}`;
}

const known = (id: MemoryFigureId, label: string, bytes: number, formula: string, note?: string) =>
  ({ id, label, bytes, formula, ...(note ? { note } : {}) }) satisfies MemoryFigure;
const unknown = (id: MemoryFigureId, label: string, reason: string): MemoryFigure => ({
  id,
  label,
  bytes: null,
  formula: '',
  reason,
});

/** headDim, or hidden / heads when that divides; with how it was found. */
function headDimOf(d: ModelDims): { value: number; text: string } | string {
  if (d.headDim !== null) return { value: d.headDim, text: `${fmt(d.headDim)} head dim` };
  if (d.hiddenSize !== null && d.numAttentionHeads !== null && d.numAttentionHeads > 0) {
    const v = d.hiddenSize / d.numAttentionHeads;
    if (Number.isInteger(v))
      return {
        value: v,
        text: `${fmt(v)} head dim (${fmt(d.hiddenSize)} hidden ÷ ${fmt(d.numAttentionHeads)} heads)`,
      };
    return 'hidden size is not a multiple of the attention heads';
  }
  return 'head dim not determined (nor hidden size and attention heads)';
}

function kvFigures(d: ModelDims): MemoryFigure[] {
  const perTokenLabel = 'KV cache per token (bf16)';
  const label = `KV cache per ${fmt(KV_TOKENS)} tokens (bf16)`;
  const hd = headDimOf(d);
  const missing =
    d.numLayers === null
      ? 'number of layers not determined'
      : d.numKeyValueHeads === null
        ? 'number of KV heads not determined'
        : typeof hd === 'string'
          ? hd
          : null;
  if (
    missing !== null ||
    d.numLayers === null ||
    d.numKeyValueHeads === null ||
    typeof hd === 'string'
  )
    return [
      unknown('kv-cache-per-token', perTokenLabel, missing ?? ''),
      unknown('kv-cache-1k', label, missing ?? ''),
    ];
  const base = `${fmt(d.numLayers)} layers × ${fmt(d.numKeyValueHeads)} KV heads × ${hd.text} × 2 (K and V) × 2 bytes`;
  const perToken = d.numLayers * d.numKeyValueHeads * hd.value * 2 * 2;
  const note =
    'one sequence, no paging overhead; sliding-window or cross-layer sharing not modelled';
  return [
    known(
      'kv-cache-per-token',
      perTokenLabel,
      perToken,
      `${base} = ${formatBytes(perToken)}`,
      note,
    ),
    known(
      'kv-cache-1k',
      label,
      perToken * KV_TOKENS,
      `${base} × ${fmt(KV_TOKENS)} tokens = ${formatBytes(perToken * KV_TOKENS)}`,
      note,
    ),
  ];
}

/**
 * Trainable parameters of rank-r LoRA on q, k, v, o and a gated MLP (gate, up, down; × experts for
 * MoE, router left out) in every layer: r·(in + out) per linear. A string says why it is undetermined.
 */
export function defaultLoraParameters(d: ModelDims, rank = DEFAULT_LORA_RANK): number | string {
  const hd = headDimOf(d);
  if (typeof hd === 'string') return hd;
  const { hiddenSize: h, numLayers: L, numAttentionHeads: H, numKeyValueHeads: K } = d;
  const I = d.intermediateSize;
  if (h === null || L === null || H === null || K === null || I === null)
    return 'hidden size, layers, attention and KV heads and intermediate size are all needed';
  const attention = h + H * hd.value + 2 * (h + K * hd.value) + (H * hd.value + h);
  const experts = d.numExperts !== null && d.numExperts > 0 ? d.numExperts : 1;
  const mlp = 3 * (h + I) * experts;
  return rank * L * (attention + mlp);
}

/** All figures. Bytes are rounded up to whole bytes where a precision has fractional bytes per parameter. */
export function estimateMemory(input: MemoryInput): MemoryEstimate {
  const P = input.parameterCount;
  const p = `${fmt(P)} params`;
  const figures: MemoryFigure[] = [
    known('weights-fp32', 'Weights, fp32', P * 4, `${p} × 4 B = ${formatBytes(P * 4)}`),
    known('weights-bf16', 'Weights, bf16 / fp16', P * 2, `${p} × 2 B = ${formatBytes(P * 2)}`),
    known(
      'weights-int8',
      'Weights, int8',
      P,
      `${p} × 1 B = ${formatBytes(P)}`,
      'per-channel / per-block scales and layers kept in higher precision ignored',
    ),
    known(
      'weights-int4',
      'Weights, int4',
      Math.ceil(P / 2),
      `${p} × 0.5 B = ${formatBytes(Math.ceil(P / 2))}`,
      'quantization scales and zero points ignored (GGUF Q4_K is ≈ 4.5 bit/weight, NF4 with double quant ≈ 4.127) and every tensor counted at 4 bit',
    ),
    ...kvFigures(input.dims),
    known(
      'train-full',
      'Full fine-tune, AdamW mixed precision',
      P * ADAMW_BYTES_PER_PARAM,
      `${p} × 16 B (2 bf16 weight + 2 bf16 grad + 4 fp32 master + 8 Adam m, v) = ${formatBytes(P * ADAMW_BYTES_PER_PARAM)}`,
      'activations excluded',
    ),
  ];

  const adapter = input.adapter;
  const defaults = adapter ? null : defaultLoraParameters(input.dims);
  const trainable = adapter
    ? adapter.trainableParameters
    : typeof defaults === 'number'
      ? defaults
      : null;
  const rankText = adapter
    ? adapter.rank !== null
      ? `this adapter, rank ${fmt(adapter.rank)}`
      : 'this adapter'
    : `default: rank ${DEFAULT_LORA_RANK} on q, k, v, o, gate, up, down`;
  const loraLabel = `LoRA (${rankText})`;
  const qloraLabel = `QLoRA (${rankText})`;
  if (trainable === null) {
    const reason = `default LoRA size not determined: ${typeof defaults === 'string' ? defaults : ''}`;
    figures.push(
      unknown('train-lora', loraLabel, reason),
      unknown('train-qlora', qloraLabel, reason),
    );
  } else {
    const t = `${fmt(trainable)} trainable × 16 B`;
    const trainBytes = trainable * ADAMW_BYTES_PER_PARAM;
    const lora = P * 2 + trainBytes;
    figures.push(
      known(
        'train-lora',
        loraLabel,
        lora,
        `${p} × 2 B (frozen bf16 base) + ${t} = ${formatBytes(lora)}`,
        'activations excluded; trainable parameters at 16 B each as in full AdamW training',
      ),
      qloraFigure(input, qloraLabel, trainable, t),
    );
  }
  return {
    figures,
    trainableParameters: trainable,
    trainableSource: adapter ? 'adapter' : 'default',
  };
}

/**
 * bitsandbytes quantizes nn.Linear only; transformers also skips lm_head, and embeddings are not
 * Linear. So when vocab and hidden size are known, embedding (+ untied head) stay at bf16.
 */
function qloraFigure(
  input: MemoryInput,
  label: string,
  trainable: number,
  t: string,
): MemoryFigure {
  const P = input.parameterCount;
  const { vocabSize: V, hiddenSize: h, tiedEmbeddings: tied } = input.dims;
  const trainBytes = trainable * ADAMW_BYTES_PER_PARAM;
  const bits = fmt(QLORA_BITS_PER_PARAM);
  const kept = V !== null && h !== null && tied !== null ? V * h * (tied ? 1 : 2) : 0;
  if (kept > 0 && kept < P) {
    const q = P - kept;
    const quantBytes = Math.ceil((q * QLORA_BITS_PER_PARAM) / 8);
    const bytes = quantBytes + kept * 2 + trainBytes;
    const keptText = `${fmt(kept)} embedding${tied ? '' : ' + lm_head'} params × 2 B`;
    return known(
      'train-qlora',
      label,
      bytes,
      `${fmt(q)} params × ${bits} bit ÷ 8 (NF4 + double-quant constants) + ${keptText} + ${t} = ${formatBytes(bytes)}`,
      'activations excluded; norms and biases counted as quantized (they stay bf16 in practice, a small difference)',
    );
  }
  const quantBytes = Math.ceil((P * QLORA_BITS_PER_PARAM) / 8);
  const bytes = quantBytes + trainBytes;
  return known(
    'train-qlora',
    label,
    bytes,
    `${fmt(P)} params × ${bits} bit ÷ 8 (NF4 + double-quant constants) + ${t} = ${formatBytes(bytes)}`,
    'activations excluded; every parameter counted at 4.127 bit (embeddings and lm_head stay bf16 in practice; vocab or hidden size not determined)',
  );
}
