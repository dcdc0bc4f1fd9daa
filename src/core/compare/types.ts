/**
 * The result of comparing two checkpoints (`lora-lens diff`). Plain JSON: `lora-lens diff --json`
 * prints it as is (schemas/diff.schema.json). "A" is the first checkpoint, "B" the second.
 */

/** A tensor as the header describes it. */
export interface KeyFacts {
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** A key on one side only. */
export interface OnlyKey extends KeyFacts {
  readonly name: string;
  /**
   * Set on a kohya-style `.alpha` scalar of a module that exists on both sides: the other file keeps
   * the alpha elsewhere (adapter_config.json), so the key carries no content of its own.
   */
  readonly alphaOf?: string;
}

/** A key of A whose counterpart in B (same name, or renamed) has another shape or dtype. */
export interface KeyChange {
  readonly a: string;
  readonly b: string;
  readonly dtypeA: string;
  readonly dtypeB: string;
  readonly shapeA: readonly number[];
  readonly shapeB: readonly number[];
  readonly changed: readonly ('dtype' | 'shape')[];
}

/** How a renamed key (or module) was matched. */
export type RenameVia =
  | 'module' // a part (down, up, alpha, …) of a module pair: the tensor's role in the module
  | 'normalized-name'; // same canonical name (wrappers stripped, conventions unified) and shape

export interface RenamedKey {
  readonly a: string;
  readonly b: string;
  readonly via: RenameVia;
  /** The module pair it belongs to (A's module name), for via `module`. */
  readonly module?: string;
  /** Stored in the other orientation (MLX / ONNX [in, r] against PEFT [r, in]): not a change. */
  readonly transposed?: boolean;
}

export interface KeyDiff {
  /** Keys with the same name (or a rename) and the same shape and dtype on both sides. */
  readonly same: number;
  /** Keys of A with no counterpart in B: what B lost. */
  readonly onlyA: readonly OnlyKey[];
  /** Keys of B with no counterpart in A: what B added. */
  readonly onlyB: readonly OnlyKey[];
  readonly changed: readonly KeyChange[];
  readonly renamed: readonly RenamedKey[];
}

/** How two adapter modules were found to be the same module. */
export type ModulePairVia =
  | 'name' // identical module names
  | 'target' // the same target in the same naming convention
  | 'flattened-name' // across conventions: kohya-flattened names agree (lora_unet_model_layers_0_… ↔ model.layers.0.…)
  | 'mapping'; // the mapping engine matched B's module onto A's target

export interface ModulePair {
  readonly a: string;
  readonly b: string;
  /** A's target (the adapted module). */
  readonly target: string;
  readonly via: ModulePairVia;
  /** Mapping-engine pairs: its confidence and reason. */
  readonly confidence?: number;
  readonly reason?: string;
}

export type ModuleField = 'rank' | 'alpha' | 'scale' | 'method' | 'in' | 'out' | 'kernel' | 'dora';

export interface FieldChange {
  readonly field: ModuleField;
  readonly a: number | string | boolean | null;
  readonly b: number | string | boolean | null;
}

export interface ModuleChange {
  readonly a: string;
  readonly b: string;
  readonly changes: readonly FieldChange[];
}

export interface AdapterDiff {
  readonly familyA: string;
  readonly familyB: string;
  readonly modulesA: number;
  readonly modulesB: number;
  readonly pairs: readonly ModulePair[];
  /** Pairs whose module names differ. */
  readonly renamed: number;
  readonly onlyA: readonly string[];
  readonly onlyB: readonly string[];
  readonly changes: readonly ModuleChange[];
  /** Why some modules were not offered to the mapping engine (too many), when that happened. */
  readonly notes: readonly string[];
}

/** How ‖ΔW_A − ΔW_B‖ was computed. */
export type NormMethod =
  | 'factor-difference' // same rank: [B₁, B₁−B₂]·[s₁A₁−s₂A₂; s₂A₂], no cancellation
  | 'gram-identity' // ‖X‖² + ‖Y‖² − 2⟨X,Y⟩ from r×r cross Grams
  | 'dense'; // a method whose effect is a dense ΔW, or a low-rank side against a dense one

export interface ModuleNorm {
  readonly a: string;
  readonly b: string;
  /** ‖ΔW_A‖_F, ‖ΔW_B‖_F with each module's scale; null when not computed. */
  readonly normA: number | null;
  readonly normB: number | null;
  /** ‖ΔW_A − ΔW_B‖_F; null when not computed (see note). */
  readonly diff: number | null;
  /** diff / ‖ΔW_A‖_F; null when ‖ΔW_A‖ is 0 or a norm is missing. */
  readonly relative: number | null;
  /** diff > tolerance · max(‖ΔW_A‖, ‖ΔW_B‖). */
  readonly changed: boolean;
  readonly method: NormMethod | null;
  /** Why a norm is null, or what it leaves out (DoRA magnitude, unknown scale). */
  readonly note?: string;
}

export interface NormDiff {
  readonly tolerance: number;
  readonly modules: readonly ModuleNorm[];
  readonly changed: number;
  readonly notComputed: number;
  /** Set when norms were asked for but the two checkpoints are not both adapters. */
  readonly note?: string;
}

export interface SideSummary {
  readonly path: string;
  readonly format: string;
  readonly tensors: number;
  readonly family: string;
  readonly modules: number;
}

/** The categories that can make two checkpoints differ (`differences` lists those found). */
export type DifferenceKind =
  'keys-only-in-a' | 'keys-only-in-b' | 'shape-or-dtype' | 'renamed' | 'module-settings' | 'norms';

/** Full sizes of every list, whatever `--limit` cut. */
export interface DiffCounts {
  readonly same: number;
  readonly onlyA: number;
  readonly onlyB: number;
  readonly changed: number;
  readonly renamed: number;
  readonly modulePairs: number;
  readonly moduleChanges: number;
  readonly modulesOnlyA: number;
  readonly modulesOnlyB: number;
  readonly normsChanged: number;
  readonly normsNotComputed: number;
}

export interface DiffReport {
  readonly a: SideSummary;
  readonly b: SideSummary;
  /** True when `differences` is not empty: the CLI exits 1. */
  readonly differ: boolean;
  readonly differences: readonly DifferenceKind[];
  /** Renames (and alpha scalars that only move the alpha) were not counted as differences. */
  readonly ignoreRenames: boolean;
  readonly counts: DiffCounts;
  /** True when `--limit` cut a list (the counts are still the full numbers). */
  readonly truncated: boolean;
  readonly keys: KeyDiff;
  /** Present when both checkpoints are adapters (LoRA modules found in both). */
  readonly adapters: AdapterDiff | null;
  /** Present when norms were asked for. */
  readonly norms: NormDiff | null;
}
