/** MiSS: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const miss: AdapterMethod = {
  id: 'miss',
  label: 'MiSS',
  peftType: 'MISS',
  recognise: () => false,
  describe: () => facts('miss', 'MiSS', null, null, null, null),
};
