/**
 * ‖ΔW_A − ΔW_B‖_F per module pair, from the factors: never an out×in matrix for low-rank pairs.
 * Same rank: ΔW_A − ΔW_B = B₁(s₁A₁ − s₂A₂) + (B₁ − B₂)(s₂A₂), one rank-2r product whose factors are
 * small when the checkpoints are close, so nothing large cancels (identical factors give exactly 0).
 * Other ranks: ‖X‖² + ‖Y‖² − 2⟨X,Y⟩ with ⟨B₁A₁, B₂A₂⟩ = Σ (B₁ᵀB₂) ⊙ (A₁A₂ᵀ), r₁×r₂ Grams only.
 * Methods whose effect is a dense ΔW are materialised up to a size; rotations and scalings of the
 * base weight have no ΔW without the base and are reported as not computed, with the reason.
 */
import type { Checkpoint } from '../formats/checkpoint.js';
import { effectInputs, hasEffect, moduleEffect } from '../lora/methods/effectInputs.js';
import type { LoraModule } from '../lora/types.js';
import { readModule } from '../surgery/factors.js';
import { denseOf, frobeniusNorm, innerProduct, type LowRank } from '../surgery/lowRank.js';
import type { ModuleNorm, NormMethod } from './types.js';

/** Dense ΔW are formed up to this many elements (128 MiB of float64). */
export const DEFAULT_MAX_DENSE_ELEMENTS = 16 * 1024 * 1024;

/** Methods whose effect is a low-rank pair (no dense ΔW is formed for them). */
const LOW_RANK_METHODS: ReadonlySet<string> = new Set([
  'adalora',
  'miss',
  'randlora',
  'tinylora',
  'vblora',
  'vera',
]);

type Delta =
  | { readonly kind: 'low-rank'; readonly f: LowRank; readonly note?: string }
  | {
      readonly kind: 'dense';
      readonly out: number;
      readonly inK: number;
      readonly values: Float64Array;
    }
  | { readonly kind: 'none'; readonly reason: string };

const label = (m: LoraModule): string => m.method?.label ?? m.label;

function denseSize(m: LoraModule): number {
  const plane = (m.kernel ?? []).reduce((x, y) => x * y, 1);
  return (m.outFeatures ?? 0) * (m.inFeatures ?? 0) * plane;
}

/** The module's ΔW (with its scale) as factors, a dense matrix, or the reason it has none here. */
export async function moduleDelta(
  ckpt: Checkpoint,
  m: LoraModule,
  maxDense: number,
): Promise<Delta> {
  try {
    if (!hasEffect(m)) {
      const { factors } = await readModule(ckpt, m);
      const notes: string[] = [];
      if (m.scale === null) notes.push(`scale unknown (${m.scaleRule}): compared as 1`);
      if (m.dora) notes.push('DoRA magnitude left out (its effect needs the base weight)');
      return { kind: 'low-rank', f: factors, ...(notes.length ? { note: notes.join('; ') } : {}) };
    }
    const id = m.method?.id ?? m.kind;
    if (!LOW_RANK_METHODS.has(id) && denseSize(m) > maxDense)
      return {
        kind: 'none',
        reason: `${label(m)} ΔW has ${denseSize(m)} elements, above the ${maxDense} this command forms`,
      };
    const plane = (m.kernel ?? []).reduce((x, y) => x * y, 1);
    const shape = [m.outFeatures ?? 0, m.inFeatures ?? 0, ...(m.kernel ?? [])];
    const e = await moduleEffect(m, effectInputs(ckpt, shape));
    const out = m.outFeatures ?? 0;
    const inK = (m.inFeatures ?? 0) * plane;
    switch (e.kind) {
      case 'low-rank':
        return { kind: 'low-rank', f: { out, inK, rank: e.rank, b: e.b, a: e.a, scale: e.scale } };
      case 'delta':
        if (e.delta.length !== out * inK)
          return {
            kind: 'none',
            reason: `${label(m)} ΔW has ${e.delta.length} values, not ${out}×${inK}`,
          };
        return { kind: 'dense', out, inK, values: e.delta };
      case 'replace':
        return {
          kind: 'none',
          reason: `${label(m)} replaces the base weight: its ΔW needs the base weight`,
        };
      case 'scale':
      case 'transform':
        return {
          kind: 'none',
          reason: `${label(m)} multiplies the base weight: its ΔW needs the base weight`,
        };
    }
  } catch (e) {
    return { kind: 'none', reason: (e as Error).message };
  }
}

function denseNorm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  return Math.sqrt(s);
}

function densify(d: Delta & { kind: 'low-rank' | 'dense' }): Float64Array {
  return d.kind === 'dense' ? d.values : denseOf(d.f);
}

/** [B₁ | B₁ − B₂] · [s₁A₁ − s₂A₂ ; s₂A₂]: equal to s₁B₁A₁ − s₂B₂A₂, with small factors when close. */
function factorDifference(x: LowRank, y: LowRank): LowRank {
  const r = x.rank;
  const b = new Float64Array(x.out * 2 * r);
  for (let o = 0; o < x.out; o++)
    for (let k = 0; k < r; k++) {
      const bx = x.b[o * r + k] as number;
      b[o * 2 * r + k] = bx;
      b[o * 2 * r + r + k] = bx - (y.b[o * r + k] as number);
    }
  const a = new Float64Array(2 * r * x.inK);
  const n = r * x.inK;
  for (let i = 0; i < n; i++) {
    const ya = y.scale * (y.a[i] as number);
    a[i] = x.scale * (x.a[i] as number) - ya;
    a[n + i] = ya;
  }
  return { out: x.out, inK: x.inK, rank: 2 * r, b, a, scale: 1 };
}

interface NormResult {
  readonly normA: number | null;
  readonly normB: number | null;
  readonly diff: number | null;
  readonly method: NormMethod | null;
  readonly note?: string;
}

const dims = (d: Delta & { kind: 'low-rank' | 'dense' }): [number, number] =>
  d.kind === 'dense' ? [d.out, d.inK] : [d.f.out, d.f.inK];

export function compareDeltas(x: Delta, y: Delta, maxDense: number): NormResult {
  const normOf = (d: Delta): number | null =>
    d.kind === 'low-rank' ? frobeniusNorm(d.f) : d.kind === 'dense' ? denseNorm(d.values) : null;
  if (x.kind === 'none' || y.kind === 'none') {
    const why = [
      x.kind === 'none' ? `A: ${x.reason}` : '',
      y.kind === 'none' ? `B: ${y.reason}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return { normA: normOf(x), normB: normOf(y), diff: null, method: null, note: why };
  }
  const normA = normOf(x);
  const normB = normOf(y);
  const notes = [x, y]
    .map((d, i) => (d.kind === 'low-rank' && d.note ? `${i === 0 ? 'A' : 'B'}: ${d.note}` : ''))
    .filter(Boolean);
  const note = notes.length ? { note: notes.join('; ') } : {};
  const [outX, inX] = dims(x);
  const [outY, inY] = dims(y);
  if (outX !== outY || inX !== inY)
    return {
      normA,
      normB,
      diff: null,
      method: null,
      note: `ΔW shapes differ: [${outX}, ${inX}] and [${outY}, ${inY}]`,
    };
  if (x.kind === 'low-rank' && y.kind === 'low-rank') {
    if (x.f.rank === y.f.rank)
      return {
        normA,
        normB,
        diff: frobeniusNorm(factorDifference(x.f, y.f)),
        method: 'factor-difference',
        ...note,
      };
    const squared = (normA ?? 0) ** 2 + (normB ?? 0) ** 2 - 2 * innerProduct(x.f, y.f);
    return {
      normA,
      normB,
      diff: Math.sqrt(Math.max(0, squared)),
      method: 'gram-identity',
      ...note,
    };
  }
  if (outX * inX > maxDense)
    return {
      normA,
      normB,
      diff: null,
      method: null,
      note: `ΔW has ${outX * inX} elements, above the ${maxDense} this command forms`,
    };
  const dx = densify(x);
  const dy = densify(y);
  let s = 0;
  for (let i = 0; i < dx.length; i++) s += ((dx[i] as number) - (dy[i] as number)) ** 2;
  return { normA, normB, diff: Math.sqrt(s), method: 'dense', ...note };
}

export interface PairToCompare {
  readonly a: LoraModule;
  readonly b: LoraModule;
}

/** One pair's row: the norms, relative change and whether it is above the tolerance. */
export async function moduleNorm(
  ckpts: { a: Checkpoint; b: Checkpoint },
  p: PairToCompare,
  tolerance: number,
  maxDense = DEFAULT_MAX_DENSE_ELEMENTS,
): Promise<ModuleNorm> {
  const r = compareDeltas(
    await moduleDelta(ckpts.a, p.a, maxDense),
    await moduleDelta(ckpts.b, p.b, maxDense),
    maxDense,
  );
  const reference = Math.max(r.normA ?? 0, r.normB ?? 0);
  const changed = r.diff !== null && r.diff > tolerance * reference;
  const relative = r.diff !== null && r.normA !== null && r.normA > 0 ? r.diff / r.normA : null;
  return {
    a: p.a.name,
    b: p.b.name,
    normA: r.normA,
    normB: r.normB,
    diff: r.diff,
    relative,
    changed,
    method: r.method,
    ...(r.note ? { note: r.note } : {}),
  };
}
