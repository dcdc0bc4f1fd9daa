/** LyCORIS norm diffs (`w_norm`, `b_norm`): deltas of a normalisation layer's weight and bias. */
import { at, facts, partOf } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const norm: AdapterMethod = {
  id: 'norm',
  label: 'norm diff',
  recognise: (m) => m.parts.has('w_norm') || m.parts.has('b_norm'),
  describe(m) {
    const part = partOf(m);
    const n = at((part('w_norm') ?? part('b_norm'))?.shape, 0);
    return facts('norm', 'norm diff', null, null, n, n);
  },
};
