/**
 * BOFT: a product of butterfly-permuted block-diagonal rotations of the input, with a per-output
 * scale (PEFT `boft_R` [m, n, b, b] + `boft_s` [out, 1]; LyCORIS `oft_blocks` [m, n, b, b]).
 */
import { lycorisBlocksFacts } from './oft.js';
import type { AdapterMethod } from './types.js';

export const boft: AdapterMethod = {
  id: 'boft',
  label: 'BOFT',
  peftType: 'BOFT',
  recognise: (m) => m.parts.has('boft_R') || m.parts.get('oft_blocks')?.shape.length === 4,
  describe: (m) => lycorisBlocksFacts(m, 'boft'),
};
