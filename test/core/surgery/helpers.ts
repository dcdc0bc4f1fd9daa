/** Shared by the surgery tests: seeded random factors, dense products and ΔW read back from files. */
import { openPath } from '../../../src/core/formats/index.js';
import { readFloat64 } from '../../../src/core/formats/quant/readFloat.js';
import { analyseAdapter } from '../../../src/core/surgery/factors.js';
import type { LowRank } from '../../../src/core/surgery/lowRank.js';

/** Mulberry32 + Box–Muller: the same numbers on every run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-300)) * Math.cos(2 * Math.PI * uniform());
}

export function randomLowRank(
  out: number,
  inK: number,
  rank: number,
  seed: number,
  scale = 1,
  decay = 1,
): LowRank {
  const g = rng(seed);
  const b = new Float64Array(out * rank);
  const a = new Float64Array(rank * inK);
  for (let k = 0; k < rank; k++) {
    const f = decay ** k;
    for (let o = 0; o < out; o++) b[o * rank + k] = g() * f;
    for (let i = 0; i < inK; i++) a[k * inK + i] = g();
  }
  return { out, inK, rank, b, a, scale };
}

/** ΔW = scale·B·A [out, inK] by the definition, independent of the code under test. */
export function dense(f: LowRank): Float64Array {
  const w = new Float64Array(f.out * f.inK);
  for (let o = 0; o < f.out; o++)
    for (let i = 0; i < f.inK; i++) {
      let s = 0;
      for (let k = 0; k < f.rank; k++)
        s += (f.b[o * f.rank + k] as number) * (f.a[k * f.inK + i] as number);
      w[o * f.inK + i] = s * f.scale;
    }
  return w;
}

export function frob(x: Float64Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s);
}

export function relDiff(x: Float64Array, y: Float64Array): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d += ((x[i] as number) - (y[i] as number)) ** 2;
  return Math.sqrt(d) / frob(y);
}

/**
 * Every plain-pair module's ΔW in a file, keyed by its analysis target: scale·up·down with the
 * file's own scale (alpha tensor or adapter_config), conv kernels flattened.
 */
export async function deltasOf(
  path: string,
): Promise<Map<string, { w: Float64Array; rank: number; alpha: number | null }>> {
  const ckpt = await openPath(path);
  try {
    const analysis = await analyseAdapter(ckpt);
    const out = new Map<string, { w: Float64Array; rank: number; alpha: number | null }>();
    for (const m of analysis.modules) {
      const down = await readFloat64(ckpt, m.parts['down'] as string);
      const up = await readFloat64(ckpt, m.parts['up'] as string);
      const r = m.rank as number;
      const o = up.length / r;
      const inK = down.length / r;
      out.set(m.target, {
        w: dense({ out: o, inK, rank: r, b: up, a: down, scale: m.scale as number }),
        rank: r,
        alpha: m.alpha,
      });
    }
    return out;
  } finally {
    await ckpt.close();
  }
}
