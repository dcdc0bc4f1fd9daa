/** FourierFT: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const fourierft: AdapterMethod = {
  id: 'fourierft',
  label: 'FourierFT',
  peftType: 'FOURIERFT',
  recognise: () => false,
  describe: () => facts('fourierft', 'FourierFT', null, null, null, null),
};
