/**
 * How many singular values a module keeps. Three rules, as kohya's networks/resize_lora.py names
 * them: a fixed rank (`--new_rank`), `sv_fro` (a fraction of the Frobenius norm) and `sv_ratio`
 * (σ ≥ σmax / R). By default the rule keeps the smallest rank that meets it; `kohya: true` makes the
 * choice kohya's own, which keeps one more (its index_sv_* add 1 and rank_resize adds 1 again) and
 * counts σ > σmax/R strictly.
 */
import { SurgeryError } from './errors.js';

export type RankRule =
  | { readonly kind: 'rank'; readonly rank: number }
  | { readonly kind: 'energy'; readonly energy: number; readonly maxRank?: number }
  | { readonly kind: 'ratio'; readonly ratio: number; readonly maxRank?: number };

/** kohya's MIN_SV: a module whose largest σ is at most this is a zero matrix and gets rank 1. */
export const KOHYA_MIN_SV = 1e-6;

export function validateRule(rule: RankRule): RankRule {
  const positiveInt = (n: number, what: string): void => {
    if (!Number.isInteger(n) || n < 1)
      throw new SurgeryError('InvalidRank', `${what} must be a whole number ≥ 1, got ${n}`, what);
  };
  if (rule.kind === 'rank') positiveInt(rule.rank, '--rank');
  if (rule.kind !== 'rank' && rule.maxRank !== undefined) positiveInt(rule.maxRank, '--max-rank');
  if (rule.kind === 'energy' && !(rule.energy > 0 && rule.energy <= 1))
    throw new SurgeryError(
      'InvalidEnergy',
      `--energy must be in (0, 1] (the fraction of the Frobenius norm to keep), got ${rule.energy}`,
      '--energy',
    );
  if (rule.kind === 'ratio' && !(Number.isFinite(rule.ratio) && rule.ratio >= 1))
    throw new SurgeryError(
      'InvalidRatio',
      `--ratio must be a finite number ≥ 1 (keep σ ≥ σmax / ratio), got ${rule.ratio}`,
      '--ratio',
    );
  return rule;
}

/** Fraction of the Frobenius norm the first k singular values keep: kohya's "fro retained". */
export function retainedEnergy(sigma: ArrayLike<number>, k: number): number {
  let all = 0;
  let kept = 0;
  for (let i = 0; i < sigma.length; i++) {
    const s2 = (sigma[i] as number) ** 2;
    all += s2;
    if (i < k) kept += s2;
  }
  return all > 0 ? Math.sqrt(kept / all) : 1;
}

/** √(Σ_{i≥k} σᵢ²): the Eckart–Young error of keeping k. */
export function tailNorm(sigma: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = k; i < sigma.length; i++) s += (sigma[i] as number) ** 2;
  return Math.sqrt(s);
}

/**
 * The rank to keep for singular values `sigma` (descending) of a module of rank `current`. Never
 * more than `current`, never less than 1.
 */
export function chooseRank(
  sigma: ArrayLike<number>,
  rule: RankRule,
  current: number,
  kohya = false,
): number {
  const n = sigma.length;
  const cap = Math.min(current, rule.kind === 'rank' ? rule.rank : (rule.maxRank ?? current));
  const smax = n > 0 ? (sigma[0] as number) : 0;
  if (smax <= (kohya ? KOHYA_MIN_SV : 0)) return 1;
  let k: number;
  if (rule.kind === 'rank') k = rule.rank;
  else if (rule.kind === 'energy') {
    // First index where the cumulative share of σ² reaches energy² (numpy/torch searchsorted, left).
    let total = 0;
    for (let i = 0; i < n; i++) total += (sigma[i] as number) ** 2;
    const target = rule.energy ** 2;
    let cum = 0;
    let index = n;
    for (let i = 0; i < n; i++) {
      cum += (sigma[i] as number) ** 2;
      if (cum / total >= target) {
        index = i;
        break;
      }
    }
    k = kohya ? index + 2 : index + 1;
  } else {
    const threshold = smax / rule.ratio;
    let count = 0;
    for (let i = 0; i < n; i++)
      if (kohya ? (sigma[i] as number) > threshold : (sigma[i] as number) >= threshold) count++;
    k = kohya ? Math.max(1, count) + 1 : count;
  }
  return Math.max(1, Math.min(k, cap));
}
