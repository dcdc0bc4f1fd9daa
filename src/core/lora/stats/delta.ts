import type { LoraModule } from '../types.js';
import type { PartReader } from './partReader.js';
import type { Spectrum, StatsOptions } from './types.js';

/** What one kind's math says about ΔW before the module's scale. */
export interface DeltaResult {
  readonly normUnscaled: number | null;
  readonly note?: string;
  readonly spectrum?: Spectrum;
}

export type DeltaFn = (
  reader: PartReader,
  module: LoraModule,
  options: StatsOptions,
) => Promise<DeltaResult>;

export const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function noNorm(note: string): DeltaResult {
  return { normUnscaled: null, note };
}

/** Rank, numerical rank and stable rank from singular values (descending). */
export function spectrumOf(singularValues: readonly number[], normSquared: number): Spectrum {
  const top = singularValues[0] ?? 0;
  return {
    singularValues,
    rank: top > 0 ? singularValues.filter((s) => s > 1e-6 * top).length : 0,
    stableRank: top > 0 ? normSquared / (top * top) : 0,
  };
}
