/** RandLoRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const randlora: AdapterMethod = {
  id: 'randlora',
  label: 'RandLoRA',
  peftType: 'RANDLORA',
  recognise: () => false,
  describe: () => facts('randlora', 'RandLoRA', null, null, null, null),
};
