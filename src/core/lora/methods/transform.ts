/** Applying a transform effect's stages to one row of W (row ← row · S₀ · S₁ …), in place. */
import type { TransformStage } from './types.js';

function blockStage(
  row: Float64Array,
  s: Extract<TransformStage, { kind: 'blocks' }>,
  tmp: Float64Array,
): void {
  const { size, count, blocks, perm } = s;
  const n = size * count;
  // t = row · Pᵀ (t[j] = row[perm[j]]), then t · blockdiag, then back through P.
  const t = tmp.subarray(0, n);
  for (let j = 0; j < n; j++) t[j] = row[perm ? (perm[j] as number) : j] as number;
  const out = tmp.subarray(n, 2 * n);
  for (let k = 0; k < count; k++) {
    const base = k * size;
    const blk = k * size * size;
    for (let c = 0; c < size; c++) {
      let v = 0;
      for (let i = 0; i < size; i++)
        v += (t[base + i] as number) * (blocks[blk + i * size + c] as number);
      out[base + c] = v;
    }
  }
  for (let j = 0; j < n; j++) row[perm ? (perm[j] as number) : j] = out[j] as number;
}

function householderStage(
  row: Float64Array,
  s: Extract<TransformStage, { kind: 'householder' }>,
): void {
  const n = row.length;
  for (let k = 0; k < s.rank; k++) {
    const u = s.u.subarray(k * n, (k + 1) * n);
    let dot = 0;
    let uu = 0;
    for (let i = 0; i < n; i++) {
      dot += (row[i] as number) * (u[i] as number);
      uu += (u[i] as number) ** 2;
    }
    if (uu === 0) continue;
    const f = (2 * dot) / uu;
    for (let i = 0; i < n; i++) row[i] = (row[i] as number) - f * (u[i] as number);
  }
}

/** The width a transform's stages act on, or a sentence saying they disagree. */
export function transformWidth(stages: readonly TransformStage[]): number | string {
  let width: number | null = null;
  for (const s of stages) {
    const w = s.kind === 'blocks' ? s.size * s.count : s.u.length / Math.max(1, s.rank);
    if (width !== null && w !== width) return `transform stages act on ${width} and ${w} features`;
    width = w;
  }
  return width ?? 0;
}

/** row ← row · S₀ · S₁ …; `tmp` holds at least 2·row.length values. */
export function applyStages(
  row: Float64Array,
  stages: readonly TransformStage[],
  tmp: Float64Array = new Float64Array(2 * row.length),
): void {
  for (const s of stages) {
    if (s.kind === 'blocks') blockStage(row, s, tmp);
    else householderStage(row, s);
  }
}
