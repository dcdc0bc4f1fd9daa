/**
 * F16 scales through a 65,536-entry table: one typed-array load per block instead of bit twiddling,
 * exact (every F16 value is a float32). Built on first use (256 KiB).
 */
import { halfToNumber } from '../../decode.js';

let table: Float32Array | undefined;

export function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToNumber(h);
  }
  return table;
}

/** The little-endian F16 at byte `p` of `src`, through `t` (f16Table()). */
export function f16At(t: Float32Array, src: Uint8Array, p: number): number {
  return t[(src[p] as number) | ((src[p + 1] as number) << 8)] as number;
}

/** NaN and ±Infinity: the scales llama.cpp's ggml_validate_row_data refuses. */
export function notFinite(x: number): boolean {
  return x - x !== 0;
}

/**
 * A block dequantizer: decodes `blocks` whole blocks from the start of `src` into `out` from `outOff`.
 * Returns the index of the first block whose F16 scale is NaN or infinite (its values are not
 * written, nor those after it), or -1.
 */
export type BlockDecoder = (
  src: Uint8Array,
  blocks: number,
  out: Float32Array,
  outOff: number,
) => number;
