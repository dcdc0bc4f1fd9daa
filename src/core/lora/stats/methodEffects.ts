/**
 * Statistics of the newer methods (VeRA, FourierFT, HRA, …) through their own effect: the norm of ΔW
 * where the method adds one, a note where it multiplies the base weight (which the statistics do not
 * read).
 */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { effectInputs, moduleEffect } from '../methods/effectInputs.js';
import { noNorm, type DeltaResult } from './delta.js';
import type { LoraModule } from '../types.js';

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  return Math.sqrt(s);
}

/** ‖B·A‖ without forming B·A: trace((BᵀB)(AAᵀ)). */
function lowRankNorm(a: Float64Array, b: Float64Array, r: number): number {
  const inK = a.length / r;
  const out = b.length / r;
  const ga = new Float64Array(r * r);
  const gb = new Float64Array(r * r);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++) {
      let sa = 0;
      for (let k = 0; k < inK; k++) sa += (a[i * inK + k] as number) * (a[j * inK + k] as number);
      let sb = 0;
      for (let o = 0; o < out; o++) sb += (b[o * r + i] as number) * (b[o * r + j] as number);
      ga[i * r + j] = sa;
      gb[i * r + j] = sb;
    }
  let t = 0;
  for (let i = 0; i < r * r; i++) t += (ga[i] as number) * (gb[i] as number);
  return Math.sqrt(Math.max(0, t));
}

export async function methodDelta(ckpt: Checkpoint, m: LoraModule): Promise<DeltaResult> {
  const label = m.method?.label ?? m.kind;
  const e = await moduleEffect(m, effectInputs(ckpt, []));
  // The effect has the module's scale in it; statistics report the norm before the scale.
  const unscale = m.scale && m.scale !== 0 ? 1 / Math.abs(m.scale) : 1;
  switch (e.kind) {
    case 'low-rank':
      return { normUnscaled: lowRankNorm(e.a, e.b, e.rank) * Math.abs(e.scale) * unscale };
    case 'delta':
      return { normUnscaled: norm(e.delta) * unscale };
    case 'replace':
      return noNorm(`${label} replaces the base weight: its delta needs the base weight`);
    case 'scale':
    case 'transform':
      return noNorm(`${label} multiplies the base weight: its delta needs the base weight`);
  }
}
