import { symmetrize } from './linalg.js';
import type { PartReader } from './partReader.js';

/**
 * The r×r Gram matrices of low-rank factors, streamed: a factor is never held whole unless it fits
 * in one chunk. Accumulated in float64 whatever the stored dtype.
 */

/** MᵀM of a part read as row-major [m, r] (PEFT's B [out, r], MLX's a [in, r]): Σ over rows of row·rowᵀ. */
export async function gramOfColumns(
  reader: PartReader,
  part: string,
  r: number,
): Promise<Float64Array> {
  const g = new Float64Array(r * r);
  await reader.stream(
    part,
    (v) => {
      for (let at = 0; at + r <= v.length; at += r)
        for (let i = 0; i < r; i++) {
          const x = v[at + i] as number;
          if (x === 0) continue;
          for (let j = i; j < r; j++)
            g[i * r + j] = (g[i * r + j] as number) + x * (v[at + j] as number);
        }
    },
    r,
  );
  return symmetrize(g, r);
}

/** M·Mᵀ of a part read as row-major [r, n] (PEFT's A [r, in·k·k], MLX's b [r, out]): row dot products. */
export async function gramOfRows(
  reader: PartReader,
  part: string,
  r: number,
): Promise<Float64Array> {
  const g = new Float64Array(r * r);
  await reader.columnBlocks(part, r, (segments) => {
    for (let i = 0; i < r; i++) {
      const a = segments[i] as Float64Array;
      for (let j = i; j < r; j++) {
        const b = segments[j] as Float64Array;
        let s = 0;
        for (let k = 0; k < a.length; k++) s += (a[k] as number) * (b[k] as number);
        g[i * r + j] = (g[i * r + j] as number) + s;
      }
    }
  });
  return symmetrize(g, r);
}
