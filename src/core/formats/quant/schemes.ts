/**
 * Every quantization scheme LoRA Lens dequantizes, tried in this order; a tensor claimed by one scheme is
 * not offered to the next. A new scheme is one file in this folder plus one line here.
 */
import type { QuantScheme } from './types.js';

export const QUANT_SCHEMES: readonly QuantScheme[] = [];
