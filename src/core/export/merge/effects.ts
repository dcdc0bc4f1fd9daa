/**
 * The one float-merge path for every method with an effect of its own (methods/*.ts): W′ rows from W
 * rows, in float64, one block of rows at a time. The plain LoRA pair keeps its factor path (deltas.ts);
 * both are reached through applyDelta. The smoke test's float64 reference uses the same function.
 */
import { CheckpointError } from '../../formats/errors.js';
import { applyStages, transformWidth } from '../../lora/methods/transform.js';
import type { ModuleEffect } from '../../lora/methods/types.js';

/** Where the effect lands in the stored [rows, cols] matrix: MergePatch's geometry. */
export interface EffectGeometry {
  readonly rows: number;
  readonly cols: number;
  readonly out: number;
  readonly inK: number;
  readonly transposed: boolean;
  readonly rowStart: number;
  readonly colStart: number;
}

/** Checks the effect's sizes against the geometry; a sentence when they disagree. */
export function effectProblem(g: EffectGeometry, e: ModuleEffect): string | null {
  const want = (what: string, got: number, expected: number): string | null =>
    got === expected
      ? null
      : `${what} has ${got} values, ΔW [${g.out}, ${g.inK}] needs ${expected}`;
  switch (e.kind) {
    case 'low-rank':
      return want('A', e.a.length, e.rank * g.inK) ?? want('B', e.b.length, g.out * e.rank);
    case 'delta':
      return want('ΔW', e.delta.length, g.out * g.inK);
    case 'replace':
      return want('the replacement weight', e.weight.length, g.out * g.inK);
    case 'scale':
      return want(`the ${e.axis} vector`, e.vector.length, e.axis === 'out' ? g.out : g.inK);
    case 'transform': {
      if (g.transposed)
        return 'a rotation of the input cannot be merged into a weight stored [in, out]';
      const w = transformWidth(e.stages);
      if (typeof w === 'string') return w;
      return (
        want('the rotation', w, g.inK) ??
        (e.outScale ? want('the output scale', e.outScale.length, g.out) : null)
      );
    }
  }
}

/** Throws InvalidExport naming the module when the effect does not fit. */
export function assertEffectFits(module: string, g: EffectGeometry, e: ModuleEffect): void {
  const why = effectProblem(g, e);
  if (why) throw new CheckpointError('InvalidExport', `${module}: ${why}`, module);
}

/** ΔW[o, i] (or W′ for replace) of the additive kinds. */
function additive(e: ModuleEffect, inK: number): ((o: number, i: number) => number) | null {
  if (e.kind === 'delta') return (o, i) => e.delta[o * inK + i] as number;
  if (e.kind === 'low-rank') {
    const r = e.rank;
    return (o, i) => {
      let s = 0;
      for (let k = 0; k < r; k++) s += (e.b[o * r + k] as number) * (e.a[k * inK + i] as number);
      return e.scale * s;
    };
  }
  return null;
}

/**
 * Applies the effect to `values`, rows [first, first + count) of the stored matrix (row-major, `cols`
 * wide), and marks what it changes in `changed`.
 */
export function applyEffect(
  g: EffectGeometry,
  e: ModuleEffect,
  values: Float64Array,
  first: number,
  count: number,
  changed: Uint8Array,
): void {
  const lo = g.transposed ? 0 : g.rowStart;
  const hi = g.transposed ? g.rows : g.rowStart + g.out;
  const add = additive(e, g.inK);
  const tmp = e.kind === 'transform' ? new Float64Array(2 * g.inK) : null;
  for (let row = Math.max(lo, first); row < Math.min(hi, first + count); row++) {
    const base = (row - first) * g.cols;
    if (g.transposed) {
      const i = row; // stored [in, out]: element (i, colStart + o) holds W[o, i]
      for (let o = 0; o < g.out; o++) {
        const at = base + g.colStart + o;
        values[at] = next(e, add, values[at] as number, o, i, g.inK);
        changed[at] = 1;
      }
      continue;
    }
    const o = row - g.rowStart;
    if (e.kind === 'transform') {
      const r = values.subarray(base, base + g.inK);
      applyStages(r, e.stages, tmp as Float64Array);
      const f = e.outScale ? (e.outScale[o] as number) : 1;
      if (f !== 1) for (let i = 0; i < g.inK; i++) r[i] = (r[i] as number) * f;
      changed.fill(1, base, base + g.inK);
      continue;
    }
    for (let i = 0; i < g.inK; i++) {
      values[base + i] = next(e, add, values[base + i] as number, o, i, g.inK);
      changed[base + i] = 1;
    }
  }
}

function next(
  e: ModuleEffect,
  add: ((o: number, i: number) => number) | null,
  w: number,
  o: number,
  i: number,
  inK: number,
): number {
  if (add) return w + add(o, i);
  if (e.kind === 'scale') return w * (e.vector[e.axis === 'out' ? o : i] as number);
  if (e.kind === 'replace') return e.weight[o * inK + i] as number;
  throw new Error('a transform effect on a weight stored [in, out]');
}

/** W′ = effect(W) for a whole [out, inK] weight: the smoke test's float64 reference. */
export function effectOnWeight(
  e: ModuleEffect,
  w: Float64Array,
  out: number,
  inK: number,
): Float64Array {
  const g: EffectGeometry = {
    rows: out,
    cols: inK,
    out,
    inK,
    transposed: false,
    rowStart: 0,
    colStart: 0,
  };
  assertEffectFits('the module', g, e);
  const v = Float64Array.from(w);
  applyEffect(g, e, v, 0, out, new Uint8Array(v.length));
  return v;
}
