/** What a fused ↔ split conversion did, as the export report and the mapping file record it. */
import type { LoraModule } from '../../lora/types.js';
import type { MappingEntry } from '../types.js';

export interface ConversionMember {
  /** q, k, v, gate, up, mlp. */
  readonly part: string;
  /** The adapter module (fuse) or the written split module (split). */
  readonly module: string;
  /** The base parameter (split) or the fused base parameter (fuse). */
  readonly target: string;
  /** Rows of the member inside the fused parameter, contiguous form (grouped layouts: see `layout`). */
  readonly start: number;
  readonly end: number;
  readonly rank: number;
}

export interface ConversionRecord {
  /** fuse: split adapter modules → one fused base parameter; split: one fused module → split base parameters. */
  readonly kind: 'fuse' | 'split';
  /** The fused parameter (fuse: the base's) or the fused adapter module (split). */
  readonly fused: string;
  /** The member rows, e.g. "q 64 + k 32 + v 32, contiguous". */
  readonly layout: string;
  readonly members: readonly ConversionMember[];
  /** Rank of the written module(s) (fuse: the sum of the members'). */
  readonly rank: number;
  /** Scale of the written module(s): s·B·A is unchanged. */
  readonly scale: number;
  /** Members whose A rows were multiplied by sᵢ/s to keep one scale for the fused module. */
  readonly rescaled: readonly string[];
}

/** A module made by a conversion, with the mapping entry that places it. */
export interface ConvertedModule {
  readonly module: LoraModule;
  readonly entry: MappingEntry;
}

/** The mapping entry of a module written whole onto `target`. */
export function wholeEntry(
  module: string,
  target: string,
  transposed: boolean,
  reason: string,
): MappingEntry {
  return {
    module,
    target,
    confidence: 1,
    level: 'high',
    reason,
    shapeCheck: transposed ? 'transposed' : 'exact',
    transposed,
    slice: null,
    source: 'matcher',
    alternatives: [],
  };
}

/** A plain LoRA linear module whose tensors are `down` [r, in] and `up` [out, r]. */
export function plainModule(
  name: string,
  target: string,
  down: string,
  up: string,
  shape: { rank: number; inFeatures: number; outFeatures: number; scale: number },
  scaleRule: string,
): LoraModule {
  return {
    name,
    target,
    kind: 'linear',
    label: 'linear',
    rank: shape.rank,
    alpha: shape.scale * shape.rank,
    scale: shape.scale,
    scaleRule,
    alphaOrigin: 'adapter_config',
    alphaSources: [],
    tensors: [down, up],
    parts: { down, up },
    orientation: 'standard',
    inFeatures: shape.inFeatures,
    outFeatures: shape.outFeatures,
  };
}
