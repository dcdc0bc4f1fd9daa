/**
 * LyCORIS full / diff: the delta itself, with the base weight's shape (`diff`, `diff_b` for the bias),
 * or a replacement (`set_weight`).
 */
import { at, facts, kernelText, partOf } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

export const full: AdapterMethod = {
  id: 'full',
  label: 'full diff',
  recognise: (m) => m.parts.has('diff') || m.parts.has('diff_b') || m.parts.has('set_weight'),
  describe(m) {
    const part = partOf(m);
    const diff = (part('diff') ?? part('set_weight'))?.shape;
    const bias = part('diff_b')?.shape;
    const kernel = diff && diff.length >= 3 ? diff.slice(2) : undefined;
    const label = part('set_weight')
      ? 'full (set weight)'
      : kernel
        ? `full diff conv ${kernelText(kernel)}`
        : 'full diff';
    return facts('full', label, null, null, at(diff, 1), at(diff, 0) ?? at(bias, 0), {
      ...(kernel ? { kernel } : {}),
    });
  },
  async effect(m, io) {
    const set = m.parts['set_weight'];
    if (set) return { kind: 'replace', weight: await io.read(set) };
    const diff = m.parts['diff'];
    if (!diff) throw new Error(`${m.name}: only a bias diff (diff_b), which is not merged`);
    return { kind: 'delta', delta: await io.read(diff) };
  },
};
