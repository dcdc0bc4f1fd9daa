/** VB-LoRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const vblora: AdapterMethod = {
  id: 'vblora',
  label: 'VB-LoRA',
  peftType: 'VBLORA',
  recognise: () => false,
  describe: () => facts('vblora', 'VB-LoRA', null, null, null, null),
};
