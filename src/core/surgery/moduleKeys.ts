/**
 * Which modules of different adapters are the same module. Within one naming convention the
 * analysis target is the key. Across conventions (a kohya adapter and a PEFT adapter of one model)
 * both sides are flattened the way kohya flattens names, with wrappers and kohya's group prefix
 * removed: `lora_unet_model_layers_0_self_attn_q_proj` and `model.layers.0.self_attn.q_proj` meet
 * at `layers_0_self_attn_q_proj`. Names that need the base model to un-flatten are out of reach
 * here (that is the mapping command's work).
 */
import { FLAT_WRAPPERS, KOHYA_PREFIX, WRAPPER_PREFIXES } from '../mapping/synonyms.js';
import { stripWrappers } from '../mapping/normalize.js';
import type { LoraFamily, LoraModule } from '../lora/types.js';

const KOHYA_NAMED: ReadonlySet<LoraFamily> = new Set(['kohya', 'lycoris']);
const FLAT = [
  ...new Set([...FLAT_WRAPPERS, ...WRAPPER_PREFIXES.map((w) => w.replace(/\./g, '_'))]),
];

function stripFlat(name: string): string {
  let p = name;
  for (let changed = true; changed;) {
    changed = false;
    for (const w of FLAT)
      if (p.startsWith(w) && p.length > w.length) {
        p = p.slice(w.length);
        changed = true;
      }
  }
  return p;
}

/** The key a module is matched by when the adapters' conventions differ. */
export function crossConventionKey(m: LoraModule, family: LoraFamily): string {
  if (KOHYA_NAMED.has(family)) return stripFlat(m.target.replace(KOHYA_PREFIX, ''));
  return stripFlat(stripWrappers(m.target).replace(/\./g, '_'));
}

/** Same convention: the analysis target (PEFT without base_model.model., kohya as is). */
export function sameConventionKey(m: LoraModule): string {
  return `${m.group ?? ''}:${m.target}`;
}

export function convention(family: LoraFamily): string {
  return KOHYA_NAMED.has(family) ? 'kohya' : family;
}
