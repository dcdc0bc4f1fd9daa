/**
 * LN Tuning (PEFT `<module>.ln_tuning_layers.weight` / `.bias`): a trained copy of the whole target
 * module (usually a norm layer); PEFT's merge swaps the copy in, so the weight is replaced, not added
 * to. The module is the norm itself (`model.layers.0.input_layernorm`), its weight `<module>.weight`.
 */
import { CheckpointError } from '../../formats/errors.js';
import { ADAPTER_NAME, at, facts, fmt, partOf } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

const WEIGHT = 'ln_tuning_weight';
const BIAS = 'ln_tuning_bias';

export const lntuning: AdapterMethod = {
  id: 'lntuning',
  label: 'LNTuning',
  peftType: 'LN_TUNING',
  parts: [
    {
      re: new RegExp(String.raw`^(.*)\.ln_tuning_layers${ADAPTER_NAME}\.(weight|bias)$`),
      part: (m) => (m[m.length - 1] === 'bias' ? BIAS : WEIGHT),
    },
  ],
  hint: 'ln_tuning_layers',
  recognise: (m) => m.parts.has(WEIGHT) || m.parts.has(BIAS),
  describe(raw) {
    const part = partOf(raw);
    const w = part(WEIGHT)?.shape;
    const b = part(BIAS)?.shape;
    const problems: string[] = [];
    if (!w) problems.push('only a bias copy (ln_tuning_layers.bias): the weight is not replaced');
    if (w && b && at(b, 0) !== at(w, 0))
      problems.push(`ln_tuning_layers.weight ${fmt(w)} and .bias ${fmt(b)} differ in size`);
    const out = at(w ?? b, 0);
    const inF = w && w.length === 2 ? at(w, 1) : out;
    const what = !w || w.length === 1 ? 'norm' : 'layer';
    return {
      ...facts('lntuning', `LNTuning (${what} replaced)`, null, null, inF, out, { problems }),
      settings: { replaces_weight: Boolean(w), replaces_bias: Boolean(b) },
      scale: null,
    };
  },
  async effect(m, io) {
    const name = m.parts[WEIGHT];
    if (!name)
      throw new CheckpointError(
        'InvalidExport',
        `${m.name}: LNTuning has only a bias copy, which the merge does not replace`,
        m.name,
      );
    const shape = io.tensor(name).shape;
    if (fmt(shape) !== fmt(io.weightShape))
      throw new CheckpointError(
        'InvalidExport',
        `${m.name}: ln_tuning_layers.weight is ${fmt(shape)}, the base weight is ${fmt(io.weightShape)}`,
        m.name,
      );
    return { kind: 'replace', weight: await io.read(name) };
  },
};
