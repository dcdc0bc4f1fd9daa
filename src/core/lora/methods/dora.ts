/**
 * DoRA is not a method of its own but a magnitude beside a LoRA/LoHa/LoKr module: PEFT's
 * `lora_magnitude_vector` per output row, kohya/LyCORIS `dora_scale` per input column ([1, in]) or
 * per output row ([out, 1], wd_on_out); a 1-D `dora_scale` cannot say which.
 */
import type { RawModule } from '../moduleGrouping.js';
import type { ShapeFacts } from '../moduleShapes.js';
import { fmt } from './shapeHelpers.js';

export function withDora<T extends ShapeFacts>(m: RawModule, facts: T): T {
  const magnitude = m.parts.get('magnitude');
  const doraScale = m.parts.get('dora_scale');
  const t = magnitude ?? doraScale;
  if (!t) return facts;
  const problems = [...facts.problems];
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let axis: 'out' | 'in' | 'unknown' = 'unknown';
  if (magnitude) {
    axis = 'out';
    if (facts.outFeatures !== null && numel !== facts.outFeatures)
      problems.push(`magnitude ${fmt(t.shape)} does not match ${facts.outFeatures} outputs`);
  } else if (t.shape.length >= 2 && t.shape[0] === 1) {
    axis = 'in';
  } else if (t.shape.length >= 2 && t.shape[1] === 1) {
    axis = 'out';
  }
  return { ...facts, label: `DoRA ${facts.label}`, dora: { tensor: t.name, axis }, problems };
}
