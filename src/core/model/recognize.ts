import { DIFFUSION_RECOGNIZERS } from './diffusion/index.js';
import { LLM_RECOGNIZERS } from './llm/index.js';
import type { Recognizer } from './recognizer.js';
import type { ArchitectureComponent, ModelArchitecture, ModelFacts, ModelKind } from './types.js';
import { unknownComponent } from './unknown.js';

/**
 * Diffusion and text-encoder recognisers first: a CLIP text encoder has BERT-like names, and an
 * SDXL single file holds four parts, so the specific claims must win over the generic ones.
 */
export const RECOGNIZERS: readonly Recognizer[] = [...DIFFUSION_RECOGNIZERS, ...LLM_RECOGNIZERS];

/** Which part of a multi-part file is "the model": the denoiser, then a language model. */
const MAIN_ORDER: readonly ModelKind[] = [
  'diffusion-transformer',
  'diffusion-unet',
  'causal-lm',
  'encoder-decoder',
  'encoder',
  'text-encoder',
  'vae',
  'unknown',
];

/** Two parts overlap when one's tensor-name prefix contains the other's ('' contains every name). */
const overlaps = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

function chooseMain(parts: readonly ArchitectureComponent[]): ArchitectureComponent | undefined {
  let best: ArchitectureComponent | undefined;
  for (const p of parts) {
    if (!best) {
      best = p;
      continue;
    }
    const a = MAIN_ORDER.indexOf(p.kind);
    const b = MAIN_ORDER.indexOf(best.kind);
    if (a < b || (a === b && p.parameterCount > best.parameterCount)) best = p;
  }
  return best;
}

/**
 * Every recogniser looks at the whole file; a claim that overlaps an earlier one is dropped (the
 * earlier, more specific recogniser wins). A recogniser that throws is a bug of ours, not of the
 * file: its claim is dropped and the rest still answer. Nothing claimed: "unknown", with the
 * figures the names and shapes determine.
 */
export function recognizeModel(
  facts: ModelFacts,
  recognizers: readonly Recognizer[] = RECOGNIZERS,
): ModelArchitecture {
  const parts: ArchitectureComponent[] = [];
  for (const r of recognizers) {
    let claims: readonly ArchitectureComponent[];
    try {
      claims = r.recognize(facts);
    } catch {
      continue;
    }
    for (const c of claims) if (!parts.some((p) => overlaps(p.prefix, c.prefix))) parts.push(c);
  }
  if (parts.length === 0 && facts.tensors.length > 0)
    parts.push(unknownComponent(facts, facts.tensors));
  const main = chooseMain(parts);
  if (!main)
    return {
      family: 'unknown',
      variant: null,
      kind: 'unknown',
      evidence: [{ source: 'names', claim: 'the file holds no tensors' }],
      dims: unknownComponent(facts, []).dims,
      undetermined: unknownComponent(facts, []).undetermined,
      components: [],
    };
  return {
    family: main.family,
    variant: main.variant,
    kind: main.kind,
    evidence: main.evidence,
    dims: main.dims,
    undetermined: main.undetermined,
    components: [main, ...parts.filter((p) => p !== main)],
  };
}
