import type { Checkpoint } from '../../../../src/core/formats/index.js';
import type { LoraAnalysis } from '../../../../src/core/lora/types.js';
import type { MappingEntry, MappingResult } from '../../../../src/core/mapping/types.js';

export const ADAPTER = 'samples/tiny-llama-lora';
export const ADAPTER_FILE = 'samples/tiny-llama-lora/adapter_model.safetensors';
export const BASE = 'samples/tiny-llama/model.safetensors';

/** What the matcher would say for a PEFT adapter on its own base: every module onto `<target>.weight`. */
export function handMapping(
  analysis: LoraAnalysis,
  base: Checkpoint,
  tweak: (e: MappingEntry) => MappingEntry = (e) => e,
): MappingResult {
  const mappings = analysis.modules.map((m) =>
    tweak({
      module: m.name,
      target: `${m.target}.weight`,
      confidence: 1,
      level: 'high',
      reason: 'exact name after stripping base_model.model.',
      shapeCheck: 'exact',
      transposed: false,
      slice: null,
      source: 'matcher',
      alternatives: [],
    }),
  );
  const used = new Set(mappings.map((e) => e.target));
  return {
    mappings,
    unmatchedAdapter: [],
    unusedBase: base.tensors
      .map((t) => t.name)
      .filter((n) => /_proj\.weight$/.test(n) && !used.has(n)),
    conflicts: [],
  };
}

export function f32(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}
