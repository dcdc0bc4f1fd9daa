/** TinyLoRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const tinylora: AdapterMethod = {
  id: 'tinylora',
  label: 'TinyLoRA',
  peftType: 'TINYLORA',
  recognise: () => false,
  describe: () => facts('tinylora', 'TinyLoRA', null, null, null, null),
};
