/** LNTuning: not implemented yet (a stub the registry lists; it recognises nothing). */
import { facts } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const lntuning: AdapterMethod = {
  id: 'lntuning',
  label: 'LNTuning',
  peftType: 'LN_TUNING',
  recognise: () => false,
  describe: () => facts('lntuning', 'LNTuning', null, null, null, null),
};
