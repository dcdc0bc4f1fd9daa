import type { LoraAnalysis } from './types.js';

export { analyzeLora, analyzeLoraSync } from './analyze.js';
export { FAMILY_LABELS } from './familyDetection.js';
export { loraModuleOf, tensorPart, type PartStyle, type TensorPart } from './tensorParts.js';
export { matchPattern } from './peftConfig.js';
export * from './types.js';

/** Tensor name → module name for every module tensor of an analysis (the editor's module grouping). */
export function tensorModuleMap(analysis: LoraAnalysis): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of analysis.modules) for (const t of m.tensors) out.set(t, m.name);
  return out;
}
