/** C3A: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const c3a: AdapterMethod = {
  id: 'c3a',
  label: 'C3A',
  peftType: 'C3A',
  recognise: () => false,
  describe: () => facts('c3a', 'C3A', null, null, null, null),
};
