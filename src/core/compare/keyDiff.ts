/**
 * Which keys two checkpoints share, by name first, then by the renames the caller finds (module
 * parts) and finally by normalised name and shape. Every pass is one walk over hash maps: two
 * 1M-key headers cost two map builds, never a comparison of every key with every other.
 */
import type { TensorInfo } from '../formats/checkpoint.js';
import { canonicalName, modulePathOf } from '../mapping/normalize.js';
import type { KeyChange, KeyDiff, KeyFacts, OnlyKey, RenamedKey, RenameVia } from './types.js';

type Facts = Pick<TensorInfo, 'name' | 'dtype' | 'shape'>;

const sameShape = (x: readonly number[], y: readonly number[]): boolean =>
  x.length === y.length && x.every((d, i) => d === y[i]);

const reversed = (x: readonly number[]): number[] => [...x].reverse();

function facts(t: Facts): KeyFacts {
  return { dtype: t.dtype, shape: t.shape };
}

/**
 * The key a tensor is paired by when its name differs: the canonical module path (wrappers such as
 * `base_model.model.` stripped, GGUF/OpenCLIP/diffusers names unified, role synonyms), its
 * parameter leaf and its shape.
 */
export function normalizedKey(t: Facts): string {
  const leaf = /\.(weight|bias|in_proj_weight|in_proj_bias)$/.exec(t.name)?.[1] ?? '';
  return `${canonicalName(modulePathOf(t.name)).key}|${leaf}|${t.shape.join('x')}`;
}

export class KeyMatcher {
  private same = 0;
  private readonly changed: KeyChange[] = [];
  private readonly renamed: RenamedKey[] = [];
  /** Unmatched keys, in file order (Map keeps insertion order). */
  private readonly onlyA = new Map<string, Facts>();
  private readonly onlyB = new Map<string, Facts>();

  constructor(a: readonly Facts[], b: readonly Facts[]) {
    // B's keys by name; what A matches is deleted, so what stays is B's own keys, in B's order.
    for (const t of b) this.onlyB.set(t.name, t);
    for (const t of a) {
      const other = this.onlyB.get(t.name);
      if (other) {
        this.onlyB.delete(t.name);
        this.compare(t, other, false);
      } else this.onlyA.set(t.name, t);
    }
  }

  isOnlyA(name: string): boolean {
    return this.onlyA.has(name);
  }

  isOnlyB(name: string): boolean {
    return this.onlyB.has(name);
  }

  /** Records `a` (only in A) and `b` (only in B) as one key renamed; false when either is taken. */
  pair(a: string, b: string, via: RenameVia, module?: string, orientationFlip = false): boolean {
    const ta = this.onlyA.get(a);
    const tb = this.onlyB.get(b);
    if (!ta || !tb) return false;
    this.onlyA.delete(a);
    this.onlyB.delete(b);
    const transposed =
      orientationFlip && !sameShape(ta.shape, tb.shape) && sameShape(reversed(ta.shape), tb.shape);
    this.renamed.push({
      a,
      b,
      via,
      ...(module !== undefined ? { module } : {}),
      ...(transposed ? { transposed: true } : {}),
    });
    this.compare(ta, tb, transposed);
    return true;
  }

  /**
   * Pairs what is left by normalised name and shape, where the pairing is unambiguous: a key that
   * several keys of either side share is left unpaired rather than guessed. Keys in `skip` (the
   * tensors of adapter modules, which pair only with their module) are left as they are.
   */
  pairByNormalizedName(skip: ReadonlySet<string> = new Set()): void {
    if (this.onlyA.size === 0 || this.onlyB.size === 0) return;
    const fromB = new Map<string, string | null>();
    for (const t of this.onlyB.values()) {
      if (skip.has(t.name)) continue;
      const k = normalizedKey(t);
      fromB.set(k, fromB.has(k) ? null : t.name);
    }
    const fromA = new Map<string, string | null>();
    for (const t of this.onlyA.values()) {
      if (skip.has(t.name)) continue;
      const k = normalizedKey(t);
      if (fromB.get(k)) fromA.set(k, fromA.has(k) ? null : t.name);
    }
    for (const [k, a] of fromA) {
      const b = fromB.get(k);
      if (a && b) this.pair(a, b, 'normalized-name');
    }
  }

  /** The diff; `alphaOf` names the module of an alpha scalar that only moves the alpha. */
  result(alphaOf: ReadonlyMap<string, string> = new Map()): KeyDiff {
    const only = (m: Map<string, Facts>): OnlyKey[] =>
      [...m.values()].map((t) => {
        const owner = alphaOf.get(t.name);
        return { name: t.name, ...facts(t), ...(owner !== undefined ? { alphaOf: owner } : {}) };
      });
    return {
      same: this.same,
      onlyA: only(this.onlyA),
      onlyB: only(this.onlyB),
      changed: this.changed,
      renamed: this.renamed,
    };
  }

  private compare(a: Facts, b: Facts, transposed: boolean): void {
    const changed: ('dtype' | 'shape')[] = [];
    if (a.dtype !== b.dtype) changed.push('dtype');
    if (!transposed && !sameShape(a.shape, b.shape)) changed.push('shape');
    if (changed.length === 0) {
      this.same++;
      return;
    }
    this.changed.push({
      a: a.name,
      b: b.name,
      dtypeA: a.dtype,
      dtypeB: b.dtype,
      shapeA: a.shape,
      shapeB: b.shape,
      changed,
    });
  }
}
