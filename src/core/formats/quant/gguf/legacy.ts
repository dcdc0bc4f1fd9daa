/**
 * ggml's blocks of 32 (ggml-common.h block_q4_0 … block_q8_0), decoded as dequantize_row_q*_0/1 in
 * ggml-quants.c. Each result is one float32 operation on exact operands (an F16 scale times a small
 * integer is exact in float32), so storing the double result into a Float32Array rounds it exactly as
 * ggml and gguf-py do: bit-exact.
 */
import { f16At, f16Table, notFinite, type BlockDecoder } from './f16.js';

/** Q4_0, 18 bytes: d (F16), qs[16]; element l is the low nibble of qs[l], l + 16 the high one. */
export const decodeQ4_0: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 18, o += 32) {
    const d = f16At(t, src, p);
    if (notFinite(d)) return b;
    for (let l = 0; l < 16; l++) {
      const x = src[p + 2 + l] as number;
      out[o + l] = ((x & 15) - 8) * d;
      out[o + l + 16] = ((x >> 4) - 8) * d;
    }
  }
  return -1;
};

/** Q4_1, 20 bytes: d, m (F16), qs[16]; w = q·d + m. */
export const decodeQ4_1: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 20, o += 32) {
    const d = f16At(t, src, p);
    const m = f16At(t, src, p + 2);
    if (notFinite(d) || notFinite(m)) return b;
    for (let l = 0; l < 16; l++) {
      const x = src[p + 4 + l] as number;
      out[o + l] = (x & 15) * d + m;
      out[o + l + 16] = (x >> 4) * d + m;
    }
  }
  return -1;
};

/** The 32 fifth bits of a Q5 block: a little-endian uint32 at `p`, bit l for element l. */
function highBits(src: Uint8Array, p: number): number {
  return (
    (src[p] as number) |
    ((src[p + 1] as number) << 8) |
    ((src[p + 2] as number) << 16) |
    ((src[p + 3] as number) << 24)
  );
}

/** Q5_0, 22 bytes: d (F16), qh (uint32), qs[16]; q = nibble | bit << 4, w = (q − 16)·d. */
export const decodeQ5_0: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 22, o += 32) {
    const d = f16At(t, src, p);
    if (notFinite(d)) return b;
    const qh = highBits(src, p + 2);
    for (let l = 0; l < 16; l++) {
      const x = src[p + 6 + l] as number;
      out[o + l] = (((x & 15) | (((qh >> l) & 1) << 4)) - 16) * d;
      out[o + l + 16] = (((x >> 4) | (((qh >> (l + 16)) & 1) << 4)) - 16) * d;
    }
  }
  return -1;
};

/** Q5_1, 24 bytes: d, m (F16), qh (uint32), qs[16]; w = q·d + m. */
export const decodeQ5_1: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 24, o += 32) {
    const d = f16At(t, src, p);
    const m = f16At(t, src, p + 2);
    if (notFinite(d) || notFinite(m)) return b;
    const qh = highBits(src, p + 4);
    for (let l = 0; l < 16; l++) {
      const x = src[p + 8 + l] as number;
      out[o + l] = ((x & 15) | (((qh >> l) & 1) << 4)) * d + m;
      out[o + l + 16] = ((x >> 4) | (((qh >> (l + 16)) & 1) << 4)) * d + m;
    }
  }
  return -1;
};

/** Q8_0, 34 bytes: d (F16), qs[32] int8; w = q·d. */
export const decodeQ8_0: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  const q = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 34, o += 32) {
    const d = f16At(t, src, p);
    if (notFinite(d)) return b;
    for (let l = 0; l < 32; l++) out[o + l] = (q[p + 2 + l] as number) * d;
  }
  return -1;
};
