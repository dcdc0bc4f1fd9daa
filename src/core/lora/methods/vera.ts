/** VeRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const vera: AdapterMethod = {
  id: 'vera',
  label: 'VeRA',
  peftType: 'VERA',
  recognise: () => false,
  describe: () => facts('vera', 'VeRA', null, null, null, null),
};
