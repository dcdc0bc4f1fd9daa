/**
 * One adapter method (LoRA, LoHa, OFT, VeRA, …) is one file under methods/: how its tensors are named,
 * what its shapes say, which config fields it reads, and what it does to the base weight. Everything
 * downstream (analysis, smoke test, merge) asks the registry, so a new method is one file plus its
 * fixtures.
 */
import type { TensorInfo } from '../../formats/checkpoint.js';
import type { PlainObject } from '../checkpointFacts.js';
import type { RawModule } from '../moduleGrouping.js';
import type { ShapeFacts } from '../moduleShapes.js';
import type { LoraFamily, LoraModule } from '../types.js';

/** A tensor-name suffix the method owns: `x.vera_lambda_b` is part `lambda_b` of module `x`. */
export interface MethodPartRule {
  /** Matches the whole name; group 1 is the module, the optional group `adapter` PEFT's adapter name. */
  readonly re: RegExp;
  readonly part: string | ((m: RegExpExecArray) => string);
}

/** Method-specific settings read from the adapter's config, shown in `inspect --json`. */
export type MethodSettings = Readonly<Record<string, number | string | boolean | null>>;

/** What the analysis knows when it describes a module: the family and the adapter-wide tensors. */
export interface DescribeContext {
  readonly family: LoraFamily;
  /** Every tensor of the file, for methods whose modules share global tensors (vera_A, …). */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The PEFT config (adapter_config.json or diffusers' metadata copy), when there is one. */
  readonly config: PlainObject | null;
}

/** What the method adds to a module beyond ShapeFacts. */
export interface MethodFacts extends ShapeFacts {
  readonly settings?: MethodSettings;
  /** Global tensors the module reads but shares with other modules (part name → tensor name). */
  readonly shared?: Readonly<Record<string, string>>;
  /**
   * The module's scale when the method defines its own (FourierFT `scaling`, RandLoRA); undefined
   * leaves it to the alpha/rank resolution, null says the method has no scale.
   */
  readonly scale?: { readonly value: number | null; readonly rule: string } | null;
}

/**
 * What a module does to its base weight W ([out, inK], PyTorch order), in float64. One of a few
 * shapes of effect, so the merge and the smoke test each handle five cases, not twenty methods.
 */
export type ModuleEffect =
  /** W′ = W + s·B·A; a [r, inK], b [out, r]. */
  | {
      readonly kind: 'low-rank';
      readonly a: Float64Array;
      readonly b: Float64Array;
      readonly rank: number;
      readonly scale: number;
    }
  /** W′ = W + ΔW; delta [out, inK]. */
  | { readonly kind: 'delta'; readonly delta: Float64Array }
  /**
   * W′ = diag(outScale) · W · M, with M given as stages applied to each row of W in order
   * (row ← row · Sₖ): the forward rotates the input, y = outScale ⊙ W·(Mᵀ… x).
   */
  | {
      readonly kind: 'transform';
      readonly stages: readonly TransformStage[];
      readonly outScale: Float64Array | null;
    }
  /** (IA)³: W′ = diag(v)·W (axis out) or W·diag(v) (axis in). */
  | { readonly kind: 'scale'; readonly axis: 'out' | 'in'; readonly vector: Float64Array }
  /** A trained copy replaces the weight (LNTuning, modules_to_save); same shape as W. */
  | { readonly kind: 'replace'; readonly weight: Float64Array };

/** One right-multiplication of a row vector: row ← row · S. */
export type TransformStage =
  /**
   * S is block-diagonal (`count` blocks of `size`×`size`, row-major, blocks[k] at k·size²), conjugated
   * by a permutation when `perm` is set: S = Pᵀ·blockdiag·P with (row·Pᵀ)[j] = row[perm[j]].
   */
  | {
      readonly kind: 'blocks';
      readonly size: number;
      readonly count: number;
      readonly blocks: Float64Array;
      readonly perm: Int32Array | null;
    }
  /** S = Π (I − 2·uₖ·uₖᵀ/‖uₖ‖²) over the rows uₖ of u [r, n], k = 0 … r−1, in that order. */
  | { readonly kind: 'householder'; readonly u: Float64Array; readonly rank: number };

/** How an effect reads the module's tensors. */
export interface EffectInputs {
  /** Float64 values of an adapter tensor (plain, FP8 or quantized, dequantized). */
  readonly read: (tensorName: string) => Promise<Float64Array>;
  /** Integer values of an index tensor (VB-LoRA's top-k indices, U8…I64), exact as numbers. */
  readonly readIndices: (tensorName: string) => Promise<Float64Array>;
  readonly tensor: (tensorName: string) => TensorInfo;
  /** The base weight's logical dims, [out, in, …kernel]. */
  readonly weightShape: readonly number[];
}

/** The registry's key: `lora` covers plain, DoRA, conv, embedding and AdaLoRA pairs. */
export type MethodId =
  | 'lora'
  | 'adalora'
  | 'loha'
  | 'lokr'
  | 'ia3'
  | 'oft'
  | 'boft'
  | 'full'
  | 'norm'
  | 'vera'
  | 'fourierft'
  | 'vblora'
  | 'randlora'
  | 'tinylora'
  | 'c3a'
  | 'waveft'
  | 'hra'
  | 'miss'
  | 'lntuning';

export interface AdapterMethod {
  readonly id: MethodId;
  /** The name users know: "VeRA", "(IA)³", "OFT". */
  readonly label: string;
  /** PEFT's `peft_type`, when PEFT has the method. */
  readonly peftType?: string;
  /** Suffixes this method adds to the tensor-name rules (the old LoRA/LyCORIS rules live in tensorParts). */
  readonly parts?: readonly MethodPartRule[];
  /** A regex fragment every one of those names contains (`vera_lambda`): the cheap first test. */
  readonly hint?: string;
  /** Parts that hold integer indices, not values: read with `readIndices`, never as floats. */
  readonly indexParts?: readonly string[];
  /** Does the module have the parts this method needs? The first method that says yes owns it. */
  recognise(raw: RawModule): boolean;
  describe(raw: RawModule, ctx: DescribeContext): MethodFacts;
  /**
   * The module's effect, or a sentence saying why it cannot be computed (a missing shared tensor, a
   * setting that does not fit the shapes). Absent: the plain LoRA path (lora.ts) handles it.
   */
  effect?(m: LoraModule, io: EffectInputs): Promise<ModuleEffect>;
}
