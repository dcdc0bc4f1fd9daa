import { symmetrize } from './linalg.js';
import type { PartReader } from './partReader.js';

/**
 * The r×r Gram matrices of low-rank factors, streamed: a factor is never held whole unless it fits
 * in one chunk. Accumulated in float64 whatever the stored dtype.
 */

/** MᵀM of a part read as row-major [m, r] (PEFT's B [out, r], MLX's a [in, r]). */
export async function gramOfColumns(
  reader: PartReader,
  part: string,
  r: number,
): Promise<Float64Array> {
  const g = new Float64Array(r * r);
  await reader.stream(
    part,
    (v) => {
      // Columns of this block of rows, side by side: the same contiguous dot products as below.
      const rows = Math.floor(v.length / r);
      const columns = Array.from({ length: r }, () => new Float64Array(rows));
      for (let p = 0; p < rows; p++)
        for (let i = 0; i < r; i++) (columns[i] as Float64Array)[p] = v[p * r + i] as number;
      addDots(g, columns, r);
    },
    r,
  );
  return symmetrize(g, r);
}

/** M·Mᵀ of a part read as row-major [r, n] (PEFT's A [r, in·k·k], MLX's b [r, out]). */
export async function gramOfRows(
  reader: PartReader,
  part: string,
  r: number,
): Promise<Float64Array> {
  const g = new Float64Array(r * r);
  await reader.columnBlocks(part, r, (segments) => addDots(g, segments, r));
  return symmetrize(g, r);
}

/**
 * g[i, j] += segments[i] · segments[j] for i ≤ j. Four columns j at a time share each load of
 * a[k]: this loop is where the time goes (n·r²/2 multiply-adds), and blocking doubles its speed.
 */
function addDots(g: Float64Array, segments: readonly Float64Array[], r: number): void {
  const seg = (i: number): Float64Array => segments[i] as Float64Array;
  for (let i = 0; i < r; i++) {
    const a = seg(i);
    const n = a.length;
    let j = i;
    for (; j + 3 < r; j += 4) {
      const [b0, b1, b2, b3] = [seg(j), seg(j + 1), seg(j + 2), seg(j + 3)];
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < n; k++) {
        const x = a[k] as number;
        s0 += x * (b0[k] as number);
        s1 += x * (b1[k] as number);
        s2 += x * (b2[k] as number);
        s3 += x * (b3[k] as number);
      }
      const at = i * r + j;
      g[at] = (g[at] as number) + s0;
      g[at + 1] = (g[at + 1] as number) + s1;
      g[at + 2] = (g[at + 2] as number) + s2;
      g[at + 3] = (g[at + 3] as number) + s3;
    }
    for (; j < r; j++) {
      const b = seg(j);
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[k] as number) * (b[k] as number);
      g[i * r + j] = (g[i * r + j] as number) + s;
    }
  }
}
