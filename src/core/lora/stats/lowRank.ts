import type { LoraModule } from '../types.js';
import { noNorm, product, spectrumOf, type DeltaFn, type DeltaResult } from './delta.js';
import { gramOfColumns, gramOfRows } from './gram.js';
import { productSingularValues, scaleGram, traceOfProduct, tuckerSquaredNorm } from './linalg.js';
import type { PartReader } from './partReader.js';
import type { StatsOptions } from './types.js';

// A rank-128 spectrum takes tens of ms, a rank-256 one several hundred: above 128 it is opt-in.
const DEFAULT_MAX_SPECTRUM_RANK = 128;

interface PairGrams {
  readonly r: number;
  /** A·Aᵀ, A being the [r, in] down factor in standard orientation. */
  readonly ga: Float64Array;
  /** BᵀB, B being the [out, r] up factor. */
  readonly gb: Float64Array;
}

/**
 * ‖B·A‖_F² = trace((BᵀB)·(A·Aᵀ)): two r×r Grams instead of the out×in product. Conv factors are
 * their matrix views: down [r, in·k·k], up [out, r] (its trailing 1×1 dropped).
 */
async function pairGrams(
  reader: PartReader,
  down: string,
  up: string,
  m: LoraModule,
): Promise<PairGrams | string> {
  const ds = reader.tensor(down).shape;
  const us = reader.tensor(up).shape;
  if (m.orientation === 'transposed') {
    // MLX / ONNX: down [in, r], up [r, out] (= Aᵀ and Bᵀ).
    const r = ds[1];
    if (ds.length !== 2 || us.length !== 2 || !r || us[0] !== r)
      return `down [${ds.join(', ')}] / up [${us.join(', ')}] are not a transposed pair`;
    return { r, ga: await gramOfColumns(reader, down, r), gb: await gramOfRows(reader, up, r) };
  }
  if (m.orientation !== 'standard') return 'down and up do not share a rank';
  const r = ds[0];
  if (ds.length < 2 || us.length < 2 || !r || us[1] !== r)
    return `down [${ds.join(', ')}] / up [${us.join(', ')}] do not share a rank`;
  if (product(us.slice(2)) !== 1) return `up [${us.join(', ')}] has a kernel: the delta is not B·A`;
  return { r, ga: await gramOfRows(reader, down, r), gb: await gramOfColumns(reader, up, r) };
}

/** A/B, down/up pairs of every family: linear, conv (plain or Tucker), embedding, AdaLoRA, split QKV. */
export const lowRankDelta: DeltaFn = async (reader, m, options) => {
  if (reader.has('down.0')) return splitDelta(reader, m);
  if (reader.has('mid')) return tuckerDelta(reader);
  const grams = await pairGrams(reader, 'down', 'up', m);
  if (typeof grams === 'string') return noNorm(grams);
  let { ga } = grams;
  const { r, gb } = grams;
  if (reader.has('lora_E')) {
    // AdaLoRA: ΔW = B·(A ⊙ E)·scale, E [r, 1] the learned singular values.
    ga = scaleGram(ga, await reader.readAll('lora_E'), r);
  }
  const squared = Math.max(0, traceOfProduct(gb, ga));
  return withSpectrum({ normUnscaled: Math.sqrt(squared) }, ga, gb, r, squared, options);
};

function withSpectrum(
  result: DeltaResult,
  ga: Float64Array,
  gb: Float64Array,
  r: number,
  squared: number,
  options: StatsOptions,
): DeltaResult {
  const finite = Number.isFinite(squared);
  if (!finite || r === 0 || r > (options.maxSpectrumRank ?? DEFAULT_MAX_SPECTRUM_RANK))
    return result;
  return { ...result, spectrum: spectrumOf(productSingularValues(ga, gb, r), squared) };
}

/** sd-scripts split QKV (lora_down.0 / lora_up.0, …): outputs stacked, so squared norms add. */
async function splitDelta(reader: PartReader, m: LoraModule): Promise<DeltaResult> {
  let squared = 0;
  for (let i = 0; reader.has(`down.${i}`) && reader.has(`up.${i}`); i++) {
    const g = await pairGrams(reader, `down.${i}`, `up.${i}`, m);
    if (typeof g === 'string') return noNorm(`split ${i}: ${g}`);
    squared += Math.max(0, traceOfProduct(g.gb, g.ga));
  }
  return { normUnscaled: Math.sqrt(squared) };
}

/**
 * LyCORIS / kohya Tucker conv: ΔW[:, :, k] = up·mid[:, :, k]·down, with down [r2, in, 1, 1],
 * mid [r1, r2, kh, kw], up [out, r1, 1, 1].
 */
async function tuckerDelta(reader: PartReader): Promise<DeltaResult> {
  const ds = reader.tensor('down').shape;
  const us = reader.tensor('up').shape;
  const ms = reader.tensor('mid').shape;
  const [r1, r2] = ms;
  if (r1 === undefined || r2 === undefined || ds[0] !== r2 || us[1] !== r1)
    return noNorm(`lora_mid [${ms.join(', ')}] does not join down and up`);
  if (product(ds.slice(2)) !== 1 || product(us.slice(2)) !== 1)
    return noNorm('Tucker down/up with a kernel of their own');
  const gd = await gramOfRows(reader, 'down', r2);
  const gu = await gramOfColumns(reader, 'up', r1);
  const core = await reader.readAll('mid');
  const squared = tuckerSquaredNorm(gu, gd, core, r1, r2, product(ms.slice(2)));
  return { normUnscaled: Math.sqrt(Math.max(0, squared)) };
}
