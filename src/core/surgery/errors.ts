/**
 * Named refusals of the surgery commands (resize, combine). The codes are ours; reader errors
 * (a missing file, a bad header) stay CheckpointErrors with their own codes.
 */
export type SurgeryErrorCode =
  /** --rank is not a positive integer. */
  | 'InvalidRank'
  /** --energy is not in (0, 1]. */
  | 'InvalidEnergy'
  /** --ratio is not a finite number ≥ 1. */
  | 'InvalidRatio'
  /** --weights is malformed or does not have one weight per adapter. */
  | 'InvalidWeights'
  /** The adapter has no LoRA-like module at all. */
  | 'NoLoraModules'
  /** Modules whose method is not low rank (OFT rotations, IA3 scales, …): listed, never dropped silently. */
  | 'NotLowRank'
  /** A module's tensors do not have the shapes its analysis promised. */
  | 'InvalidModule'
  /** A LoHa/LoKr/… module too large to materialise for its conversion to LoRA. */
  | 'TooLargeToConvert'
  /** The adapter's family has no writer here (GGUF, ONNX, MLX, …), or its scale cannot be kept. */
  | 'UnsupportedFamily'
  /** Adapters trained on different base models (by config or metadata). */
  | 'BaseMismatch'
  /** The same module has different shapes in two adapters. */
  | 'ShapeMismatch'
  /** Two modules of one adapter, or across naming conventions, cannot be told apart. */
  | 'AmbiguousModule'
  /** DoRA magnitudes do not add: combining DoRA modules has no exact meaning. */
  | 'DoraNotCombinable'
  /** A value does not fit the output dtype (F8 above 448, F16 above 65504). */
  | 'CastOverflow';

export class SurgeryError extends Error {
  override readonly name = 'SurgeryError';
  constructor(
    readonly code: SurgeryErrorCode,
    message: string,
    /** The module, tensor or option the error is about. */
    readonly subject?: string,
  ) {
    super(message);
  }
}
