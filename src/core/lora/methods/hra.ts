/** HRA: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const hra: AdapterMethod = {
  id: 'hra',
  label: 'HRA',
  peftType: 'HRA',
  recognise: () => false,
  describe: () => facts('hra', 'HRA', null, null, null, null),
};
