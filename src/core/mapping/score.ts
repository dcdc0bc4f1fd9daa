/**
 * Confidence of one (module, parameter) pair. The naming rule that produced the pair sets the
 * ceiling; the shape check can only lower it: a pair whose shapes do not fit never reaches `high`.
 */
import type { ShapeCheck } from './types.js';

/** How the pair was found, strongest first. */
export type MatchRule =
  | 'exact-path' // same canonical module path
  | 'kohya-trie' // flattened kohya name resolved against the base's module tree
  | 'synonym' // same structure, synonymous names (q_proj ≈ to_q ≈ attn_q)
  | 'fused-part' // a part (q/k/v/mlp) of a fused parameter, by a known convention (Flux linear1)
  | 'fused-role' // q/k/v or gate/up onto the fused qkv / gate_up of the same layer
  | 'similar' // same layer indices, similar names
  | 'shape-only'; // anonymous parameter: only the shape speaks

const RULE_SCORE: Readonly<Record<Exclude<MatchRule, 'similar' | 'shape-only'>, number>> = {
  'exact-path': 0.99,
  'kohya-trie': 0.99,
  synonym: 0.96,
  'fused-part': 0.96,
  'fused-role': 0.93,
};

/** Dice coefficient of two token multisets. */
export function tokenSimilarity(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 && b.length === 0) return 1;
  const counts = new Map<string, number>();
  for (const t of a) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of b) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  return (2 * common) / (a.length + b.length);
}

export interface ScoreInput {
  readonly rule: MatchRule;
  /** Token similarity (similar), or the number of equally shaped anonymous parameters (shape-only). */
  readonly similarity?: number;
  readonly ambiguity?: number;
  /** Module and parameter roles (`@q`, …), when known. */
  readonly roles?: readonly [string | null, string | null];
  readonly shape: ShapeCheck;
}

export function scorePair(s: ScoreInput): number {
  let c: number;
  if (s.rule === 'similar') {
    const [mr, br] = s.roles ?? [null, null];
    const sim = s.similarity ?? 0;
    const roleFactor = mr && br ? (mr === br ? 1.1 : 0.3) : 1;
    c = Math.min(0.85, (0.2 + 0.6 * sim) * roleFactor);
  } else if (s.rule === 'shape-only') {
    c = 0.35 / Math.max(1, s.ambiguity ?? 1);
  } else {
    c = RULE_SCORE[s.rule];
    // Several equally good resolutions: say so rather than pretend.
    if ((s.ambiguity ?? 1) > 1) c = Math.min(c, 0.8);
  }
  if (s.shape === 'unknown') c = Math.min(c, 0.85);
  if (s.shape === 'mismatch') c = Math.min(c * 0.5, 0.45);
  return Math.round(c * 1000) / 1000;
}
