/**
 * OFT: an orthogonal, block-diagonal rotation of the layer's input. PEFT keeps the skew-symmetric
 * generator (`oft_R`, older `oft_r`); LyCORIS keeps `oft_blocks` [n, b, b] (a 4-D one is BOFT).
 */
import { at, facts, partOf, product } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';
import type { RawModule } from '../moduleGrouping.js';
import type { MethodFacts } from './types.js';

/** LyCORIS `oft_blocks` [n, b, b] (OFT) or [m, n, b, b] (BOFT). */
export function lycorisBlocksFacts(m: RawModule, id: 'oft' | 'boft'): MethodFacts {
  const blocks = partOf(m)('oft_blocks')?.shape;
  const name = id === 'boft' ? 'BOFT' : 'OFT';
  if (blocks && blocks.length >= 3) {
    const n = blocks.length === 4 ? at(blocks, 1) : at(blocks, 0);
    const size = at(blocks, blocks.length - 1);
    const features = product([n, size]);
    return facts(
      id,
      `${name} (${n ?? '?'} blocks of ${size ?? '?'})`,
      null,
      null,
      features,
      features,
    );
  }
  return facts(id, name, null, null, null, null);
}

export const oft: AdapterMethod = {
  id: 'oft',
  label: 'OFT',
  peftType: 'OFT',
  recognise: (m) =>
    m.parts.has('oft_R') ||
    m.parts.has('oft_r') ||
    (m.parts.has('oft_blocks') && m.parts.get('oft_blocks')?.shape.length !== 4),
  describe: (m) => lycorisBlocksFacts(m, 'oft'),
};
