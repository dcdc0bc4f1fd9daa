/**
 * Per-module statistics of a LoRA adapter, computed from the tensor data on demand. Plain JSON: no
 * NaN or Infinity anywhere (JSON.stringify would turn them into null silently), so non-finite values
 * are counted, not stored.
 */
import type { LoraModuleKind } from '../types.js';

/** Bumped when a definition changes, so persisted caches from older versions are dropped. */
export const STATS_VERSION = 1;

/** Element statistics of one tensor of a module. Norm, extremes and mean are over finite values. */
export interface PartStats {
  readonly tensor: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly count: number;
  /** ‖t‖_F over the finite elements. */
  readonly norm: number;
  readonly maxAbs: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly nanCount: number;
  readonly infCount: number;
  /** Elements exactly 0 (or −0). */
  readonly zeroCount: number;
}

/** Singular values of the unscaled product (B·A for a LoRA pair), from its two r×r Gram matrices. */
export interface Spectrum {
  /** Descending, unscaled. Values below ~1e-8·σ₁ carry no precision (they come from squared Grams). */
  readonly singularValues: readonly number[];
  /** Singular values above 1e-6·σ₁: the rank the product actually uses. */
  readonly rank: number;
  /** ‖Δ‖_F² / σ₁²: between 1 (one direction dominates) and `rank` (flat spectrum). */
  readonly stableRank: number;
}

/** DoRA's magnitude vector, which the delta norm leaves out. */
export interface DoraStats {
  readonly part: string;
  readonly axis: 'out' | 'in' | 'unknown';
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

export interface ModuleStats {
  /** LoraModule.name. */
  readonly module: string;
  readonly kind: LoraModuleKind;
  /** ‖scale·ΔW‖_F, the Frobenius norm of the effective delta; null when unknown (see normNote). */
  readonly norm: number | null;
  /** ‖ΔW‖_F as stored (B·A, the LoHa/LoKr product, the diff), before the module's scale. */
  readonly normUnscaled: number | null;
  /** Why a norm is null, or what it leaves out. */
  readonly normNote?: string;
  /** The module's scale (alpha/rank, …) as the analysis resolved it; null when unknown. */
  readonly effectiveScale: number | null;
  /** ‖scale·ΔW‖₂ (largest singular value), for LoRA pairs whose spectrum was computed. */
  readonly spectralNorm?: number | null;
  readonly spectrum?: Spectrum;
  /** Part (down, up, magnitude, hada_w1_a, …) → max |w| over finite elements. */
  readonly maxAbs: Readonly<Record<string, number>>;
  readonly parts: Readonly<Record<string, PartStats>>;
  readonly nanCount: number;
  readonly infCount: number;
  /** Every element of B / lora_up is exactly 0: PEFT's initial state, an untrained adapter. */
  readonly zeroB: boolean;
  readonly dora?: DoraStats;
  /** Tensor bytes read when these stats were computed (a cache hit returns them as stored). */
  readonly bytesRead: number;
  readonly ms: number;
  /** Set when the data could not be read or decoded; the numbers are then partial or null. */
  readonly error?: string;
}

export interface StatsOptions {
  /** Elements per read (default 1M): memory is O(r² + chunk) per module. */
  readonly chunkElements?: number;
  readonly signal?: AbortSignal;
  /** LoHa forms its product row by row; above out×in elements it reports null (default 16M). */
  readonly maxProductElements?: number;
  /** Spectra are skipped above this rank (an r×r eigenproblem, O(r³); default 128). */
  readonly maxSpectrumRank?: number;
}
