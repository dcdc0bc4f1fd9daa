/**
 * The mapping of an adapter onto a base model: for each LoRA module, the base parameter it patches, how
 * sure we are and why. The editor, the CLI and every export read and write this one shape
 * (schemas/mapping.schema.json describes the file form).
 */

export type ConfidenceLevel = 'high' | 'medium' | 'low';

/** How B·A (out × in, or out × in × k × k) fits the base parameter's stored shape. */
export type ShapeCheck =
  | 'exact' // B·A has the parameter's shape
  | 'transposed' // the parameter is stored transposed (ONNX MatMul weights, GPT-2 Conv1D)
  | 'conv-reshape' // a conv kernel stored flattened, or a 1×1 conv against a linear weight
  | 'slice' // the module patches a row range of a fused parameter (qkv, gate_up, Flux linear1)
  | 'mismatch' // nothing fits
  | 'unknown'; // a shape is missing (e.g. IA3, OFT kinds)

/** A row range of a fused target: rows [start, end) of axis 0 of the stored parameter (axis 1 when transposed). */
export interface TargetSlice {
  readonly axis: 0 | 1;
  readonly start: number;
  readonly end: number;
}

export interface MappingCandidate {
  /** Base parameter name as the base checkpoint spells it. */
  readonly target: string;
  readonly confidence: number;
  readonly reason: string;
  readonly shapeCheck: ShapeCheck;
  readonly transposed: boolean;
  readonly slice: TargetSlice | null;
}

export interface MappingEntry extends MappingCandidate {
  /** Adapter module name (LoraModule.name). */
  readonly module: string;
  readonly level: ConfidenceLevel;
  /** `user` when an override decided it: user choices always win over the matcher. */
  readonly source: 'matcher' | 'user';
  /** Next best candidates, best first (a few), for re-targeting. */
  readonly alternatives: readonly MappingCandidate[];
  /**
   * The target's quantization scheme (`GPTQ int4 g128`, `Q4_K`), when it is a quantized weight: the
   * match used its logical [out, in] shape.
   */
  readonly targetQuant?: string;
}

export interface MappingConflict {
  readonly module: string;
  readonly target: string | null;
  readonly reason: string;
}

/** In the spirit of `load_state_dict(strict=False)`, before anything is loaded. */
export interface MappingResult {
  readonly mappings: readonly MappingEntry[];
  /** Adapter modules with no target. */
  readonly unmatchedAdapter: readonly string[];
  /** Base parameters among the usual LoRA targets (attention and MLP projections) that nothing patches. */
  readonly unusedBase: readonly string[];
  /** Shape conflicts and contested targets. */
  readonly conflicts: readonly MappingConflict[];
}

/** A user's decision about one module: accept, reject, or re-target. */
export interface MappingOverride {
  readonly module: string;
  /** null rejects the module (it maps to nothing). */
  readonly target: string | null;
  readonly slice?: TargetSlice | null;
  readonly transposed?: boolean;
}

/** Identity of a checkpoint in a mapping file: enough to notice that a file changed. */
export interface CheckpointIdentity {
  readonly path: string;
  readonly size: number;
  /** SHA-256 of the header bytes (what defines the tensors), hex. */
  readonly headerSha256: string;
  readonly format: string;
}

export const MAPPING_FILE_VERSION = 1;

export interface MappingFile {
  readonly $schema: string;
  readonly version: typeof MAPPING_FILE_VERSION;
  readonly adapter: CheckpointIdentity;
  readonly base: CheckpointIdentity;
  readonly mappings: readonly (MappingEntry | (MappingOverride & { readonly source: 'user' }))[];
  readonly unmatchedAdapter: readonly string[];
  readonly unusedBase: readonly string[];
  readonly conflicts: readonly MappingConflict[];
}
