/**
 * Every quantization scheme LoRA Lens dequantizes, tried in this order; a tensor claimed by one scheme is
 * not offered to the next. A new scheme is one file in this folder plus one line here.
 */
import { awqScheme } from './awq.js';
import { bnb4bitScheme } from './bnb4bit.js';
import { bnbInt8Scheme } from './bnbInt8.js';
import { compressedTensorsScheme } from './compressedTensors.js';
import { fp8Scheme } from './fp8.js';
import { ggufScheme } from './gguf/scheme.js';
import { gptqScheme } from './gptq.js';
import type { QuantScheme } from './types.js';

export const QUANT_SCHEMES: readonly QuantScheme[] = [
  gptqScheme,
  awqScheme,
  compressedTensorsScheme,
  bnbInt8Scheme,
  bnb4bitScheme,
  fp8Scheme,
  ggufScheme,
];
