/** AdaLoRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const adalora: AdapterMethod = {
  id: 'adalora',
  label: 'AdaLoRA',
  peftType: 'ADALORA',
  recognise: () => false,
  describe: () => facts('adalora', 'AdaLoRA linear', null, null, null, null),
};
