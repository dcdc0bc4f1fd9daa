/** WaveFT: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const waveft: AdapterMethod = {
  id: 'waveft',
  label: 'WaveFT',
  peftType: 'WAVEFT',
  recognise: () => false,
  describe: () => facts('waveft', 'WaveFT', null, null, null, null),
};
