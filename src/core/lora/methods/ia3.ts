/**
 * (IA)³: a learned vector scales the outputs (PEFT `ia3_l` [out, 1]) or, for feed-forward modules,
 * the inputs (`ia3_l` [1, in]); PEFT merges W′ = W ⊙ ia3_l. LyCORIS keeps the vector as `x.weight` and
 * the side as a value in `x.on_input`, so its side is only known once that tensor is read.
 */
import { CheckpointError } from '../../formats/errors.js';
import { at, facts, partOf } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const ia3: AdapterMethod = {
  id: 'ia3',
  label: '(IA)³',
  peftType: 'IA3',
  recognise: (m) => m.parts.has('ia3_l') || (m.parts.has('weight') && m.parts.has('on_input')),
  describe(m) {
    const part = partOf(m);
    const peft = part('ia3_l')?.shape;
    if (peft) {
      const onInput = peft.length === 2 && peft[0] === 1;
      return onInput
        ? facts('ia3', '(IA)³ on input', null, null, at(peft, 1), null)
        : facts('ia3', '(IA)³', null, null, null, at(peft, 0));
    }
    const n = at(part('weight')?.shape, 0);
    return facts('ia3', `(IA)³ (${n ?? '?'} features)`, null, null, null, null);
  },
  async effect(m, io) {
    const peft = m.parts['ia3_l'];
    if (peft) {
      const shape = io.tensor(peft).shape;
      const axis = shape.length === 2 && shape[0] === 1 && shape[1] !== 1 ? 'in' : 'out';
      return { kind: 'scale', axis, vector: await io.read(peft) };
    }
    const w = m.parts['weight'];
    const flag = m.parts['on_input'];
    if (!w || !flag)
      throw new CheckpointError('InvalidExport', `${m.name}: (IA)³ without its vector`, m.name);
    const onInput = (await io.read(flag))[0] ?? 0;
    return { kind: 'scale', axis: onInput !== 0 ? 'in' : 'out', vector: await io.read(w) };
  },
};
