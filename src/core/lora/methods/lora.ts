/**
 * LoRA and its pair-shaped relatives: plain, rsLoRA (a scale rule), DoRA (a magnitude), conv (with a
 * Tucker `lora_mid`), embeddings, split pairs and AdaLoRA (`lora_E` between A and B, see adalora.ts for
 * its effect). The pair is `standard` (A [r, in(, k, k)], B [out, r(, 1, 1)]) in PEFT, kohya,
 * diffusers, BFL and GGUF, `transposed` (A [in, r], B [r, out]) in MLX and ONNX. Plain pairs merge and
 * smoke-test through the factor path (export/merge/deltas.ts), so there is no `effect` here.
 */
import type { RawModule } from '../moduleGrouping.js';
import type { ShapeFacts } from '../moduleShapes.js';
import type { LoraFamily, LoraOrientation } from '../types.js';
import { withDora } from './dora.js';
import { at, facts, fmt, kernelText } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

const TRANSPOSED_FAMILIES: ReadonlySet<LoraFamily> = new Set(['mlx', 'onnx']);

export function lowRankFacts(m: RawModule, family: LoraFamily): ShapeFacts {
  const down = (m.parts.get('down') ?? m.parts.get('down.0'))?.shape ?? [];
  const up = (m.parts.get('up') ?? m.parts.get('up.0'))?.shape ?? [];
  const mid = m.parts.get('mid')?.shape;
  const problems: string[] = [];
  const standard = down.length >= 2 && up.length >= 2 && down[0] === up[1];
  const transposed = down.length === 2 && up.length === 2 && down[1] === up[0];
  const expected: LoraOrientation = TRANSPOSED_FAMILIES.has(family) ? 'transposed' : 'standard';
  let orientation: LoraOrientation | null = null;
  if (expected === 'standard')
    orientation = standard ? 'standard' : transposed ? 'transposed' : null;
  else orientation = transposed ? 'transposed' : standard ? 'standard' : null;
  if (orientation === null) {
    problems.push(`down ${fmt(down)} and up ${fmt(up)} do not share a rank`);
  } else if (orientation !== expected && family !== 'gguf' && family !== 'onnx') {
    // llama.cpp flips token_embd on purpose, ONNX exporters differ; elsewhere a flipped pair is worth a look.
    problems.push(
      `down ${fmt(down)} / up ${fmt(up)} are ${orientation}, the family stores ${expected}`,
    );
  }
  const rank =
    orientation === 'standard' ? at(down, 0) : orientation === 'transposed' ? at(down, 1) : null;
  const useTransposed = (orientation ?? expected) === 'transposed';
  const inFeatures = useTransposed ? at(down, 0) : at(down, 1);
  const outFeatures = useTransposed ? at(up, 1) : at(up, 0);

  const bias = m.parts.get('up_bias');
  if (bias && outFeatures !== null && at(bias.shape, 0) !== outFeatures)
    problems.push(`up bias ${fmt(bias.shape)} does not match ${outFeatures} outputs`);
  if (mid && rank !== null && (mid[0] !== rank || mid[1] !== rank))
    problems.push(`lora_mid ${fmt(mid)} does not match rank ${rank}`);

  if (m.styles.has('peft-embedding'))
    return facts('embedding', 'embedding', rank, orientation, inFeatures, outFeatures, {
      problems,
    });
  if (m.parts.has('lora_E'))
    return facts('adalora', 'AdaLoRA linear', rank, orientation, inFeatures, outFeatures, {
      problems,
    });
  const kernelSource = mid ?? down;
  if (kernelSource.length >= 3) {
    const kernel = kernelSource.slice(2);
    const label = `conv ${kernelText(kernel)}${mid ? ' (Tucker)' : ''}`;
    return facts('conv', label, rank, orientation, inFeatures, outFeatures, { kernel, problems });
  }
  const split = [...m.parts.keys()].filter((p) => p.startsWith('down.')).length;
  const label = split > 1 ? `linear (split ×${split})` : 'linear';
  return facts('linear', label, rank, orientation, inFeatures, outFeatures, { problems });
}

export const lora: AdapterMethod = {
  id: 'lora',
  label: 'LoRA',
  peftType: 'LORA',
  recognise: (m) =>
    (m.parts.has('down') && m.parts.has('up')) || (m.parts.has('down.0') && m.parts.has('up.0')),
  describe: (m, ctx) => withDora(m, lowRankFacts(m, ctx.family)),
};
