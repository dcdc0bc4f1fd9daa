import type { ArchitectureComponent, ModelFacts } from './types.js';

/**
 * One model family (or a group of related ones). `recognize` returns the parts of the file it claims,
 * each with its tensor-name prefix, or nothing. It must stay linear in the tensor count (files reach
 * 1M tensors, names may be deeply dotted) and never throw on odd shapes: a figure it cannot derive is
 * null with a reason.
 */
export interface Recognizer {
  readonly id: string;
  recognize(facts: ModelFacts): readonly ArchitectureComponent[];
}
