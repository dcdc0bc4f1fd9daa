/**
 * What LoRA Lens knows about each ggml block type: the decoder of the ten it dequantizes, the bits of one
 * stored value, and a sentence on the layout. Every other block type is still a quantized weight (it is
 * shown and mapped), but reading its values is refused by name.
 */
import type { BlockDecoder } from './f16.js';
import { decodeQ2_K, decodeQ3_K, decodeQ4_K, decodeQ5_K, decodeQ6_K } from './kquants.js';
import { decodeQ4_0, decodeQ4_1, decodeQ5_0, decodeQ5_1, decodeQ8_0 } from './legacy.js';

export interface SupportedBlockType {
  readonly decode: BlockDecoder;
  readonly bits: number;
  /** The block's contents and formula (sizes are added from the type table). */
  readonly layout: string;
}

export const SUPPORTED_TYPES: ReadonlyMap<string, SupportedBlockType> = new Map([
  ['Q4_0', { decode: decodeQ4_0, bits: 4, layout: 'F16 d, 32 × 4-bit q; w = d·(q − 8)' }],
  ['Q4_1', { decode: decodeQ4_1, bits: 4, layout: 'F16 d and m, 32 × 4-bit q; w = d·q + m' }],
  [
    'Q5_0',
    {
      decode: decodeQ5_0,
      bits: 5,
      layout: 'F16 d, 32 × 5-bit q (nibbles + a 32-bit high-bit mask); w = d·(q − 16)',
    },
  ],
  [
    'Q5_1',
    {
      decode: decodeQ5_1,
      bits: 5,
      layout: 'F16 d and m, 32 × 5-bit q (nibbles + a 32-bit high-bit mask); w = d·q + m',
    },
  ],
  ['Q8_0', { decode: decodeQ8_0, bits: 8, layout: 'F16 d, 32 × int8 q; w = d·q' }],
  [
    'Q2_K',
    {
      decode: decodeQ2_K,
      bits: 2,
      layout:
        '16 sub-blocks of 16 with 4-bit scales and mins, F16 d and dmin, 2-bit q; w = d·sc·q − dmin·m',
    },
  ],
  [
    'Q3_K',
    {
      decode: decodeQ3_K,
      bits: 3,
      layout:
        '16 sub-blocks of 16 with 6-bit signed scales, F16 d, 3-bit q (2 low bits + a high-bit mask); w = d·sc·q',
    },
  ],
  [
    'Q4_K',
    {
      decode: decodeQ4_K,
      bits: 4,
      layout:
        '8 sub-blocks of 32 with 6-bit scales and mins, F16 d and dmin, 4-bit q; w = d·sc·q − dmin·m',
    },
  ],
  [
    'Q5_K',
    {
      decode: decodeQ5_K,
      bits: 5,
      layout:
        '8 sub-blocks of 32 with 6-bit scales and mins, F16 d and dmin, 5-bit q (nibbles + a high-bit mask); w = d·sc·q − dmin·m',
    },
  ],
  [
    'Q6_K',
    {
      decode: decodeQ6_K,
      bits: 6,
      layout:
        '16 sub-blocks of 16 with int8 scales, F16 d, 6-bit q (nibbles + 2-bit highs); w = d·sc·(q − 32)',
    },
  ],
]);

export const SUPPORTED_NAMES: readonly string[] = [...SUPPORTED_TYPES.keys()];

/** Bits of one stored value of the types not dequantized (TQ1_0 packs 5 ternary digits in a byte). */
const OTHER_BITS: Readonly<Record<string, number>> = {
  Q8_1: 8,
  Q8_K: 8,
  IQ1_S: 1,
  IQ1_M: 1,
  IQ2_XXS: 2,
  IQ2_XS: 2,
  IQ2_S: 2,
  IQ3_XXS: 3,
  IQ3_S: 3,
  IQ4_NL: 4,
  IQ4_XS: 4,
  TQ1_0: 1.6,
  TQ2_0: 2,
  MXFP4: 4,
  NVFP4: 4,
  Q1_0: 1,
  Q2_0: 2,
};

/** Bits of one stored value of a ggml block type; for a type this table does not know, its name's digit. */
export function valueBits(name: string, bitsPerWeight: number): number {
  const known = SUPPORTED_TYPES.get(name)?.bits ?? OTHER_BITS[name];
  if (known !== undefined) return known;
  const digit = /^[A-Z]*?(\d)/.exec(name)?.[1];
  return digit !== undefined ? Number(digit) : Math.round(bitsPerWeight);
}

/** The float dtype of the block scales, where it is one of the safetensors float dtypes. */
export function scaleDtypeOf(name: string): string | undefined {
  if (name === 'Q8_K') return 'F32';
  if (name === 'MXFP4') return 'F8_E8M0';
  if (name === 'NVFP4') return undefined;
  return 'F16';
}
