/**
 * ggml's K-quants: super-blocks of 256 with quantized sub-block scales (ggml-common.h block_q2_K …
 * block_q6_K), decoded as dequantize_row_q*_K in ggml-quants.c. The sub-block scale (F16 d times a
 * 4/6/8-bit integer) and each value times it are exact in float32; the one rounding step (a subtraction,
 * or Q6_K's product) happens when the double is stored, as in ggml and gguf-py: bit-exact.
 */
import { f16At, f16Table, notFinite, type BlockDecoder } from './f16.js';

const QK = 256;
/** Per-block sub-block multipliers (no allocation per block). */
const mulScratch = new Float64Array(16);
const minScratch = new Float64Array(16);

/**
 * Q2_K, 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin (F16). Element
 * h·128 + s·32 + l is bits 2s of qs[h·32 + l]; its sub-block of 16 is element / 16.
 */
export const decodeQ2_K: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 84, o += QK) {
    const d = f16At(t, src, p + 80);
    const dmin = f16At(t, src, p + 82);
    if (notFinite(d) || notFinite(dmin)) return b;
    for (let h = 0; h < 2; h++) {
      const qs = p + 16 + h * 32;
      for (let s = 0; s < 4; s++) {
        const shift = 2 * s;
        const k = p + h * 8 + s * 2;
        const sc1 = src[k] as number;
        const sc2 = src[k + 1] as number;
        const dl1 = d * (sc1 & 15);
        const ml1 = dmin * (sc1 >> 4);
        const dl2 = d * (sc2 & 15);
        const ml2 = dmin * (sc2 >> 4);
        const y = o + h * 128 + s * 32;
        for (let l = 0; l < 16; l++)
          out[y + l] = dl1 * (((src[qs + l] as number) >> shift) & 3) - ml1;
        for (let l = 16; l < 32; l++) {
          out[y + l] = dl2 * (((src[qs + l] as number) >> shift) & 3) - ml2;
        }
      }
    }
  }
  return -1;
};

/**
 * Q3_K, 110 bytes: hmask[32], qs[64], scales[12] (16 six-bit scales − 32), d (F16). Low 2 bits as in
 * Q2_K; the third is bit (element / 32) of hmask[element % 32], and a clear bit means −4.
 */
export const decodeQ3_K: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  const mul = mulScratch;
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 110, o += QK) {
    const d = f16At(t, src, p + 108);
    if (notFinite(d)) return b;
    const sc = p + 96;
    for (let i = 0; i < 16; i++) {
      const low = ((src[sc + (i & 7)] as number) >> (4 * (i >> 3))) & 15;
      const high = ((src[sc + 8 + (i & 3)] as number) >> (2 * (i >> 2))) & 3;
      mul[i] = d * ((low | (high << 4)) - 32);
    }
    for (let h = 0; h < 2; h++) {
      const qs = p + 32 + h * 32;
      for (let s = 0; s < 4; s++) {
        const shift = 2 * s;
        const bit = h * 4 + s;
        const dl1 = mul[h * 8 + s * 2] as number;
        const dl2 = mul[h * 8 + s * 2 + 1] as number;
        const y = o + h * 128 + s * 32;
        for (let l = 0; l < 32; l++) {
          const q =
            (((src[qs + l] as number) >> shift) & 3) -
            4 +
            ((((src[p + l] as number) >> bit) & 1) << 2);
          out[y + l] = (l < 16 ? dl1 : dl2) * q;
        }
      }
    }
  }
  return -1;
};

/** Q4_K / Q5_K's 8 six-bit scales and mins from 12 bytes at `s` (ggml's get_scale_min_k4). */
function scalesMinsK4(src: Uint8Array, s: number, d: number, dmin: number): void {
  for (let j = 0; j < 4; j++) {
    const a = src[s + j] as number;
    const m = src[s + j + 4] as number;
    const e = src[s + j + 8] as number;
    mulScratch[j] = d * (a & 63);
    minScratch[j] = dmin * (m & 63);
    mulScratch[j + 4] = d * ((e & 15) | ((a >> 6) << 4));
    minScratch[j + 4] = dmin * ((e >> 4) | ((m >> 6) << 4));
  }
}

/**
 * Q4_K, 144 bytes: d, dmin (F16), scales[12], qs[128]. Chunk c of 64 elements: the low nibbles of
 * qs[c·32 …] are sub-block 2c, the high nibbles sub-block 2c + 1; w = d·sc·q − dmin·m.
 */
export const decodeQ4_K: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  const mul = mulScratch;
  const min = minScratch;
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 144, o += QK) {
    const d = f16At(t, src, p);
    const dmin = f16At(t, src, p + 2);
    if (notFinite(d) || notFinite(dmin)) return b;
    scalesMinsK4(src, p + 4, d, dmin);
    for (let c = 0; c < 4; c++) {
      const d1 = mul[2 * c] as number;
      const m1 = min[2 * c] as number;
      const d2 = mul[2 * c + 1] as number;
      const m2 = min[2 * c + 1] as number;
      const qs = p + 16 + c * 32;
      const y = o + c * 64;
      for (let l = 0; l < 32; l++) {
        const x = src[qs + l] as number;
        out[y + l] = d1 * (x & 15) - m1;
        out[y + l + 32] = d2 * (x >> 4) - m2;
      }
    }
  }
  return -1;
};

/** Q5_K, 176 bytes: d, dmin (F16), scales[12], qh[32], qs[128]: Q4_K plus bit (sub-block) of qh[l]. */
export const decodeQ5_K: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  const mul = mulScratch;
  const min = minScratch;
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 176, o += QK) {
    const d = f16At(t, src, p);
    const dmin = f16At(t, src, p + 2);
    if (notFinite(d) || notFinite(dmin)) return b;
    scalesMinsK4(src, p + 4, d, dmin);
    const qh = p + 16;
    for (let c = 0; c < 4; c++) {
      const d1 = mul[2 * c] as number;
      const m1 = min[2 * c] as number;
      const d2 = mul[2 * c + 1] as number;
      const m2 = min[2 * c + 1] as number;
      const lo = 2 * c;
      const qs = p + 48 + c * 32;
      const y = o + c * 64;
      for (let l = 0; l < 32; l++) {
        const x = src[qs + l] as number;
        const h = (src[qh + l] as number) >> lo;
        out[y + l] = d1 * ((x & 15) | ((h & 1) << 4)) - m1;
        out[y + l + 32] = d2 * ((x >> 4) | ((h & 2) << 3)) - m2;
      }
    }
  }
  return -1;
};

/**
 * Q6_K, 210 bytes: ql[128], qh[64], scales[16] (int8), d (F16). Half h of 128: element 32k + l takes
 * nibble (k ≥ 2) of ql[h·64 + l + 32·(k & 1)] and bits 2k of qh[h·32 + l]; q − 32, times d·scale.
 */
export const decodeQ6_K: BlockDecoder = (src, blocks, out, outOff) => {
  const t = f16Table();
  const mul = mulScratch;
  const sc = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, p = 0, o = outOff; b < blocks; b++, p += 210, o += QK) {
    const d = f16At(t, src, p + 208);
    if (notFinite(d)) return b;
    for (let i = 0; i < 16; i++) mul[i] = d * (sc[p + 192 + i] as number);
    for (let h = 0; h < 2; h++) {
      const ql = p + h * 64;
      const qh = p + 128 + h * 32;
      const y = o + h * 128;
      for (let l = 0; l < 32; l++) {
        const is = h * 8 + (l >> 4);
        const a = src[ql + l] as number;
        const c = src[ql + l + 32] as number;
        const e = src[qh + l] as number;
        out[y + l] = (mul[is] as number) * (((a & 15) | ((e & 3) << 4)) - 32);
        out[y + l + 32] = (mul[is + 2] as number) * (((c & 15) | ((e & 12) << 2)) - 32);
        out[y + l + 64] = (mul[is + 4] as number) * (((a >> 4) | (e & 48)) - 32);
        out[y + l + 96] = (mul[is + 6] as number) * (((c >> 4) | ((e & 192) >> 2)) - 32);
      }
    }
  }
  return -1;
};
